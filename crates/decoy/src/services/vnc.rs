//! `vnc` (5900): an RFB server with a password, as TigerVNC's or x11vnc's looks. It offers
//! RFB 3.8 and answers 3.3 and 3.7 clients in their own dialect, offers only VNC
//! Authentication, sends a fresh 16-byte challenge and records the client's 16-byte DES
//! response together with that challenge (so the password can be recovered offline from a
//! list), then fails the security handshake as a server whose password was not guessed.
//! The client's version string is recorded as a `command`.

use rand::{RngCore, SeedableRng};

use crate::config::Config;
use crate::event::{Fields, Kind, Secret, SecretKind, hex, printable};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End, Parse};

/// The server's ProtocolVersion message.
const SERVER_VERSION: &[u8; 12] = b"RFB 003.008\n";
/// Security type 2: VNC Authentication (DES challenge-response).
const VNC_AUTH: u8 = 2;
/// The length of the challenge and of the response.
const CHALLENGE: usize = 16;

/// The RFB dialect a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// 3.3: the server picks the security type; a failure carries no reason.
    V3_3,
    /// 3.7: the client picks from a list; a failure carries no reason.
    V3_7,
    /// 3.8 (and later minors): as 3.7, and a failure carries a reason string.
    V3_8,
}

/// A client's ProtocolVersion message: the text and the dialect it selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The 12 bytes as sent, without the newline.
    pub text: String,
    /// The dialect answered.
    pub dialect: Dialect,
}

/// Reads a ProtocolVersion message (`RFB xxx.yyy\n`). As the RFB spec says, an unknown
/// minor below 7 is served as 3.3 and one above 8 (Apple's 3.889) as 3.8.
pub fn parse_version(buf: &[u8]) -> Parse<Version> {
    let Some(message) = buf.get(..12) else {
        // Anything that already differs from the shape is a violation now, not later.
        if !b"RFB ".starts_with(buf.get(..buf.len().min(4)).unwrap_or_default()) {
            return Parse::Invalid("not an RFB protocol version".into());
        }
        return Parse::Incomplete;
    };
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let field = message.get(range)?;
        if !field.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(field).ok()?.parse().ok()
    };
    let shaped = message.starts_with(b"RFB ") && message.get(7) == Some(&b'.') && message.get(11) == Some(&b'\n');
    let (Some(major), Some(minor)) = (digits(4..7), digits(8..11)) else {
        return Parse::Invalid("not an RFB protocol version".into());
    };
    if !shaped {
        return Parse::Invalid("not an RFB protocol version".into());
    }
    let dialect = match (major, minor) {
        (3, 0..=6) => Dialect::V3_3,
        (3, 7) => Dialect::V3_7,
        (3, _) => Dialect::V3_8,
        _ => return Parse::Invalid(format!("RFB major version {major} is not served")),
    };
    Parse::Done(Version { text: printable(message.get(..11).unwrap_or_default()), dialect }, 12)
}

/// Exactly `n` bytes.
pub fn exact(n: usize) -> impl FnMut(&[u8]) -> Parse<Vec<u8>> {
    move |buf| match buf.get(..n) {
        Some(bytes) => Parse::Done(bytes.to_vec(), n),
        None => Parse::Incomplete,
    }
}

/// The vnc decoy.
#[derive(Debug)]
pub struct Vnc {
    /// The reason a 3.8 client reads after a wrong password (the product's own words).
    failure: &'static str,
}

impl Vnc {
    /// The decoy of `persona`: TigerVNC or x11vnc (libvncserver), picked per decky, which
    /// differ only in the words of their failure.
    pub fn new(persona: &Persona, _config: &Config) -> Self {
        let failure = if persona.derive("vnc product").is_multiple_of(2) {
            "Authentication failure"
        } else {
            "password check failed!"
        };
        Self { failure }
    }

    /// The SecurityResult "failed" message of `dialect`.
    fn failed(&self, dialect: Dialect) -> Vec<u8> {
        let mut out = 1u32.to_be_bytes().to_vec();
        if dialect == Dialect::V3_8 {
            out.extend_from_slice(&(self.failure.len() as u32).to_be_bytes());
            out.extend_from_slice(self.failure.as_bytes());
        }
        out
    }
}

impl Decoy for Vnc {
    fn name(&self) -> &'static str {
        "vnc"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        if let Err(end) = conn.write(SERVER_VERSION).await {
            return end;
        }
        let version = match conn.frame(parse_version).await {
            Ok(version) => version,
            Err(end) => return end,
        };
        let fields = Fields::default().command(&version.text).detail("verb", "ProtocolVersion");
        conn.log.record(Kind::Command, fields).await;
        let chosen = if version.dialect == Dialect::V3_3 {
            // 3.3: the server decides, as a 4-byte security type.
            if let Err(end) = conn.write(&u32::from(VNC_AUTH).to_be_bytes()).await {
                return end;
            }
            VNC_AUTH
        } else {
            if let Err(end) = conn.write(&[1, VNC_AUTH]).await {
                return end;
            }
            match conn.frame(exact(1)).await {
                Ok(choice) => choice.first().copied().unwrap_or_default(),
                Err(end) => return end,
            }
        };
        if chosen != VNC_AUTH {
            conn.log
                .record(
                    Kind::ProtocolError,
                    Fields::default().detail("reason", "security type not offered").detail("security_type", chosen),
                )
                .await;
            let mut out = self.failed(Dialect::V3_8);
            if version.dialect != Dialect::V3_8 {
                out.truncate(4);
            }
            let _ = conn.write(&out).await;
            return End::Violation;
        }
        let mut challenge = [0u8; CHALLENGE];
        rand::rngs::StdRng::from_os_rng().fill_bytes(&mut challenge);
        if let Err(end) = conn.write(&challenge).await {
            return end;
        }
        let response = match conn.frame(exact(CHALLENGE)).await {
            Ok(response) => response,
            Err(end) => return end,
        };
        let secret = Secret { kind: SecretKind::VncDes, value: hex(&response), salt: Some(hex(&challenge)) };
        let fields = Fields::default()
            .secret(secret)
            .detail("method", "vnc_auth")
            .detail("challenge", hex(&challenge))
            .detail("response", hex(&response))
            .detail("client_version", version.text.as_str())
            .detail("outcome", "failure");
        conn.log.record(Kind::AuthAttempt, fields).await;
        let _ = conn.write(&self.failed(version.dialect)).await;
        End::Done
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn versions_select_their_dialect() {
        let dialect = |text: &[u8]| match parse_version(text) {
            Parse::Done(v, 12) => v.dialect,
            other => panic!("{other:?}"),
        };
        assert_eq!(dialect(b"RFB 003.003\n"), Dialect::V3_3);
        assert_eq!(dialect(b"RFB 003.005\n"), Dialect::V3_3);
        assert_eq!(dialect(b"RFB 003.007\n"), Dialect::V3_7);
        assert_eq!(dialect(b"RFB 003.008\nrest"), Dialect::V3_8);
        assert_eq!(dialect(b"RFB 003.889\n"), Dialect::V3_8);
        match parse_version(b"RFB 003.008\n") {
            Parse::Done(v, _) => assert_eq!(v.text, "RFB 003.008"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn short_and_broken_versions() {
        assert_eq!(parse_version(b""), Parse::Incomplete);
        assert_eq!(parse_version(b"RFB 003"), Parse::Incomplete);
        assert!(matches!(parse_version(b"GET"), Parse::Invalid(_)));
        assert!(matches!(parse_version(b"RFB 003.008\r"), Parse::Invalid(_)));
        assert!(matches!(parse_version(b"RFB 00a.008\n"), Parse::Invalid(_)));
        assert!(matches!(parse_version(b"RFB 004.000\n"), Parse::Invalid(_)));
        assert!(matches!(parse_version(b"RFB 003-008\n"), Parse::Invalid(_)));
    }

    #[test]
    fn exact_takes_exactly_n() {
        assert_eq!(exact(2)(b"a"), Parse::Incomplete);
        assert_eq!(exact(2)(b"abc"), Parse::Done(b"ab".to_vec(), 2));
    }

    #[test]
    fn failures_carry_a_reason_in_3_8_only() {
        let vnc = Vnc { failure: "Authentication failure" };
        assert_eq!(vnc.failed(Dialect::V3_3), vec![0, 0, 0, 1]);
        assert_eq!(vnc.failed(Dialect::V3_7), vec![0, 0, 0, 1]);
        let full = vnc.failed(Dialect::V3_8);
        assert_eq!(&full[..8], &[0, 0, 0, 1, 0, 0, 0, 22]);
        assert_eq!(&full[8..], b"Authentication failure");
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_without_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..32)) {
            if let Parse::Done(_, used) = parse_version(&bytes) {
                proptest::prop_assert_eq!(used, 12);
            }
        }
    }
}
