//! TLS for the decoys that speak it (https, the Kubernetes API, RDP, MSSQL): a server
//! configuration with the persona's own self-signed certificate, or an operator's PEM pair.
//!
//! The key is derived from the persona's seed, so a decky presents the same public key
//! after every restart, as a real host does (a key that changes on each restart is a
//! tell for anyone who scans twice). The validity starts some weeks before "now", as a
//! certificate made when the machine was installed would.
//!
//! The certificate is made at the first handshake, not at start: an idle decoy never
//! touches the key-generation and signing code (about 1 MiB of resident memory per
//! process). An operator's PEM pair is checked at start, so a bad one is an error then.

use std::sync::{Arc, OnceLock};

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SerialNumber};
use rsa::pkcs8::EncodePrivateKey;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use crate::persona::Persona;

/// Why a TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The operator's certificate or key is not PEM of the expected kind.
    #[error("{what}: {why}")]
    Pem {
        /// Which value (tls_cert, tls_key).
        what: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The certificate could not be generated.
    #[error("certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate and key.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// What the generated certificate names.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The subject's common name (a host name).
    pub common_name: String,
    /// DNS names in the subjectAltName extension (none, as Windows' own RDP certificate).
    pub alt_names: Vec<String>,
    /// How long the certificate is valid, in days.
    pub valid_days: i64,
}

/// A TLS server configuration, made at its first use ([`Acceptor::get`]).
pub struct Acceptor {
    persona: Persona,
    subject: Subject,
    pem: Option<(String, String)>,
    alpn: Vec<Vec<u8>>,
    versions: &'static [&'static rustls::SupportedProtocolVersion],
    made: OnceLock<Result<TlsAcceptor, String>>,
}

impl Acceptor {
    /// The acceptor, made on the first call (the same one, or the same error, after).
    pub fn get(&self) -> Result<&TlsAcceptor, &str> {
        self.made
            .get_or_init(|| {
                let pem = self.pem.as_ref().map(|(c, k)| (c.as_str(), k.as_str()));
                let alpn: Vec<&[u8]> = self.alpn.iter().map(Vec::as_slice).collect();
                make(&self.persona, &self.subject, pem, &alpn, self.versions).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

/// TLS presenting the persona's generated certificate for `subject` (or the operator's
/// `pem` pair: certificate chain, private key, checked now), offering `alpn`.
pub fn acceptor(
    persona: &Persona,
    subject: &Subject,
    pem: Option<(&str, &str)>,
    alpn: &[&[u8]],
) -> Result<Acceptor, TlsError> {
    acceptor_with(persona, subject, pem, alpn, rustls::DEFAULT_VERSIONS)
}

/// [`acceptor`] speaking only `versions` (a persona whose real server stops at TLS 1.2).
pub fn acceptor_with(
    persona: &Persona,
    subject: &Subject,
    pem: Option<(&str, &str)>,
    alpn: &[&[u8]],
    versions: &'static [&'static rustls::SupportedProtocolVersion],
) -> Result<Acceptor, TlsError> {
    if let Some((cert, key)) = pem {
        operator_pair(cert, key)?;
    }
    Ok(Acceptor {
        persona: persona.clone(),
        subject: subject.clone(),
        pem: pem.map(|(c, k)| (c.to_owned(), k.to_owned())),
        alpn: alpn.iter().map(|p| p.to_vec()).collect(),
        versions,
        made: OnceLock::new(),
    })
}

/// The rustls configuration.
fn make(
    persona: &Persona,
    subject: &Subject,
    pem: Option<(&str, &str)>,
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<TlsAcceptor, TlsError> {
    let (chain, key) = match pem {
        Some((cert, key)) => operator_pair(cert, key)?,
        None => generated(persona, subject)?,
    };
    // ring, not aws-lc: it builds into the static binary with no C toolchain. Its lack of
    // post-quantum key exchange is period-correct for the servers the personas imitate.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The certificate chain and key of an operator's PEM text.
fn operator_pair(cert: &str, key: &str) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem { what: "tls_cert", why: e.to_string() })?;
    if chain.is_empty() {
        return Err(TlsError::Pem { what: "tls_cert", why: "no CERTIFICATE block".into() });
    }
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
        .map_err(|e| TlsError::Pem { what: "tls_key", why: e.to_string() })?;
    Ok((chain, key))
}

/// A self-signed certificate for `subject` under the persona's own RSA key (RSA 2048 and
/// SHA-256, what Windows, IIS, kubeadm and a stock nginx make; an ECDSA key would stand out).
fn generated(
    persona: &Persona,
    subject: &Subject,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let key_der = persona_key(persona)?;
    let key_pair = KeyPair::try_from(key_der.secret_pkcs8_der())?;
    let mut params = CertificateParams::new(subject.alt_names.clone())?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, subject.common_name.as_str());
    params.distinguished_name = name;
    let serial = persona.derive("tls serial").to_be_bytes();
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    // Issued some weeks ago (at "install time"), at a whole second, as real certificates are.
    let age_days = 20 + (persona.derive("tls age") % 200) as i64;
    let issued = time_now() - age_days * 86_400;
    params.not_before = rcgen::date_time_ymd(1970, 1, 1) + std::time::Duration::from_secs(issued.max(0).unsigned_abs());
    params.not_after =
        params.not_before + std::time::Duration::from_secs(subject.valid_days.max(1).unsigned_abs() * 86_400);
    let cert = params.self_signed(&key_pair)?;
    Ok((vec![cert.der().clone()], PrivateKeyDer::Pkcs8(key_der)))
}

/// The persona's RSA 2048 private key, from its seed (so the same after every restart).
fn persona_key(persona: &Persona) -> Result<PrivatePkcs8KeyDer<'static>, TlsError> {
    let key = rsa::RsaPrivateKey::new(&mut persona.key_stream("tls key rsa"), 2048)
        .map_err(|e| TlsError::Pem { what: "generated key", why: e.to_string() })?;
    let der = key.to_pkcs8_der().map_err(|e| TlsError::Pem { what: "generated key", why: e.to_string() })?;
    Ok(PrivatePkcs8KeyDer::from(der.as_bytes().to_vec()))
}

/// Seconds since the Unix epoch.
fn time_now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn persona(seed: &str) -> Persona {
        Persona::new(seed, "win-srv-01", None, None, None)
    }

    #[test]
    fn the_same_persona_presents_the_same_key_and_others_do_not() {
        let a = persona_key(&persona("a")).unwrap();
        let again = persona_key(&persona("a")).unwrap();
        let b = persona_key(&persona("b")).unwrap();
        assert_eq!(a.secret_pkcs8_der(), again.secret_pkcs8_der());
        assert_ne!(a.secret_pkcs8_der(), b.secret_pkcs8_der());
    }

    #[test]
    fn the_generated_certificate_is_rsa_signed_with_sha256() {
        let subject = Subject { common_name: "win-srv-01".into(), alt_names: vec![], valid_days: 182 };
        let (chain, _) = generated(&persona("a"), &subject).unwrap();
        let der = chain[0].as_ref();
        let has = |oid: &[u8]| der.windows(oid.len()).any(|w| w == oid);
        // rsaEncryption and sha256WithRSAEncryption, DER-encoded.
        assert!(has(b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"), "the key is RSA");
        assert!(has(b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b"), "signed with SHA-256 and RSA");
        assert!(der.len() > 600, "a 2048-bit key and a 2048-bit signature (an ECDSA P-256 certificate is ~300 bytes)");
    }

    #[test]
    fn a_generated_certificate_is_accepted_by_rustls() {
        let subject = Subject { common_name: "win-srv-01".into(), alt_names: vec![], valid_days: 182 };
        acceptor(&persona("a"), &subject, None, &[b"http/1.1"]).unwrap().get().unwrap();
    }

    #[test]
    fn operator_pem_that_is_not_pem_is_refused_with_the_key_named() {
        let subject = Subject { common_name: "x".into(), alt_names: vec![], valid_days: 1 };
        let Err(err) = acceptor(&persona("a"), &subject, Some(("not pem", "not pem")), &[]) else {
            panic!("text that is not PEM was accepted")
        };
        assert!(err.to_string().starts_with("tls_cert"), "{err}");
    }
}
