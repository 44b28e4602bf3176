//! The decky's SSH host keys (Ed25519, ECDSA P-256, RSA 2048), derived from its seed so
//! they survive restarts without being stored and differ between deckies.

use russh::keys::ssh_key::private::{EcdsaKeypair, Ed25519Keypair, KeypairData, RsaKeypair};
use russh::keys::{EcdsaCurve, PrivateKey};

use crate::persona::Persona;

/// Why the ssh host keys could not be made.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot make the ssh host keys: {0}")]
pub struct KeyError(String);

impl From<String> for KeyError {
    fn from(reason: String) -> Self {
        KeyError(reason)
    }
}

fn ed25519(persona: &Persona) -> Ed25519Keypair {
    Ed25519Keypair::from_seed(&persona.derive_key("ssh host key ed25519"))
}

/// The `known_hosts` line of decky `decky` of `topology` at `host`: its Ed25519 host key,
/// derived as its own ssh decoy derives it (from the persona seed, which depends on the
/// topology and the decky's name only). `None` if the key cannot be encoded.
pub fn known_host_line(topology: &str, decky: &str, host: &str) -> Option<String> {
    let key = ed25519(&Persona::new(topology, decky, None, None, None)).public;
    let public = russh::keys::PublicKey::new(key.into(), "");
    Some(format!("{host} {}", public.to_openssh().ok()?))
}

/// The decky's host keys, derived from its seed.
pub fn host_keys(persona: &Persona) -> Result<Vec<PrivateKey>, KeyError> {
    let err = |e: russh::keys::ssh_key::Error| KeyError(e.to_string());
    let ed25519 = ed25519(persona);
    let ecdsa =
        EcdsaKeypair::random(&mut persona.key_stream("ssh host key ecdsa"), EcdsaCurve::NistP256).map_err(err)?;
    let rsa = RsaKeypair::random(&mut persona.key_stream("ssh host key rsa"), 2048).map_err(err)?;
    let comment = format!("root@{}", persona.hostname);
    [KeypairData::from(ed25519), KeypairData::from(ecdsa), KeypairData::from(rsa)]
        .into_iter()
        .map(|data| PrivateKey::new(data, comment.as_str()).map_err(err))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use russh::keys::HashAlg;

    #[test]
    fn host_keys_are_stable_per_decky_and_differ_between_deckies() {
        let a = Persona::new("t", "decky-001", None, None, None);
        let b = Persona::new("t", "decky-002", None, None, None);
        let fingerprints = |p: &Persona| -> Vec<String> {
            host_keys(p).unwrap().iter().map(|k| k.public_key().fingerprint(HashAlg::Sha256).to_string()).collect()
        };
        let first = fingerprints(&a);
        assert_eq!(first.len(), 3);
        assert_eq!(first, fingerprints(&a), "restarts keep the keys");
        assert!(first.iter().zip(fingerprints(&b)).all(|(x, y)| *x != y), "no two deckies share a key");
    }

    #[test]
    fn a_known_host_line_holds_the_key_the_decky_presents() {
        let presented = host_keys(&Persona::new("t", "decky-002", Some("db01"), None, None)).unwrap();
        let line = known_host_line("t", "decky-002", "10.1.2.3").unwrap();
        let (host, key) = line.split_once(' ').unwrap();
        assert_eq!(host, "10.1.2.3");
        let parsed = russh::keys::PublicKey::from_openssh(key).unwrap();
        assert_eq!(parsed.key_data(), presented[0].public_key().key_data());
        assert_ne!(Some(line), known_host_line("t", "decky-003", "10.1.2.3"));
    }
}
