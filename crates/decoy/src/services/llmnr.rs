//! `llmnr` (UDP 5355 and 5353): a passive detector for name-resolution leaks and poisoning
//! tools. Every LLMNR (5355) or mDNS (5353) message that reaches the decky is recorded,
//! one `command` event per question (name, type, class, protocol, the source in the
//! event's address fields) and, for a response (what a poisoner such as Responder sends),
//! the names it claims; nothing is ever answered. The sockets listen on the decky's
//! address and join no multicast group: the decky stays silent on the wire. Messages use
//! the DNS wire format, decoded with `hickory-proto`.

use hickory_proto::op::{Message, MessageType};
use tokio::net::UdpSocket;

use crate::event::{Fields, Kind, Recorder, SessionLog, printable};

/// Largest datagram read.
const MAX_DATAGRAM: usize = 4096;
/// Most questions (or answers) recorded from one message.
const MAX_RECORDED: usize = 8;

/// One question or claimed answer of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name, as sent.
    pub name: String,
    /// Its type (`A`, `AAAA`, `ANY`, `PTR`, ...).
    pub qtype: String,
    /// Its class (`IN`, or the raw value with mDNS's unicast-response bit).
    pub qclass: String,
}

/// What one datagram held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// A response (a claim to a name) rather than a query.
    pub response: bool,
    /// The questions, or for a response the answers.
    pub entries: Vec<Entry>,
}

/// Decodes one datagram (pure).
pub fn observe(datagram: &[u8]) -> Result<Observed, String> {
    let message = Message::from_vec(datagram).map_err(|e| format!("not an LLMNR/mDNS message: {e}"))?;
    let response = message.message_type() == MessageType::Response;
    let entries: Vec<Entry> = if response {
        message
            .answers()
            .iter()
            .take(MAX_RECORDED)
            .map(|r| Entry {
                name: printable(r.name().to_ascii().as_bytes()),
                qtype: r.record_type().to_string(),
                qclass: r.dns_class().to_string(),
            })
            .collect()
    } else {
        message
            .queries()
            .iter()
            .take(MAX_RECORDED)
            .map(|q| Entry {
                name: printable(q.name().to_ascii().as_bytes()),
                qtype: q.query_type().to_string(),
                qclass: q.query_class().to_string(),
            })
            .collect()
    };
    if entries.is_empty() {
        return Err(if response { "response without answers" } else { "query without a question" }.into());
    }
    Ok(Observed { response, entries })
}

/// Listens on `socket` until `shutdown` resolves, recording and never answering.
pub async fn run(socket: UdpSocket, recorder: Recorder, shutdown: impl std::future::Future<Output = ()>) {
    let port = socket.local_addr().map_or(5355, |a| a.port());
    let protocol = if port == 5353 { "mdns" } else { "llmnr" };
    let observe_only = |datagram: Vec<u8>, log: SessionLog| async move {
        match observe(&datagram) {
            Err(reason) => {
                let fields = Fields::default()
                    .detail("reason", reason)
                    .detail("protocol", protocol)
                    .detail("bytes", datagram.len())
                    .detail("input", printable(datagram.get(..64).unwrap_or(&datagram)));
                log.record(Kind::ProtocolError, fields).await;
            }
            Ok(observed) => {
                let kind = if observed.response { "response" } else { "query" };
                for entry in observed.entries {
                    let fields = Fields::default()
                        .command(format!("{} {} {}", entry.name, entry.qclass, entry.qtype))
                        .detail("protocol", protocol)
                        .detail("message", kind)
                        .detail("name", entry.name)
                        .detail("qtype", entry.qtype)
                        .detail("qclass", entry.qclass);
                    log.record(Kind::Command, fields).await;
                }
            }
        }
        // A listener only: nothing is ever sent back.
        None
    };
    crate::server::run_udp(&socket, &recorder, MAX_DATAGRAM, shutdown, observe_only).await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn queries_and_responses() {
        // LLMNR query for "wpad" A.
        let query = observe(b"\x8a\x1f\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04wpad\x00\x00\x01\x00\x01").unwrap();
        assert!(!query.response);
        assert_eq!(query.entries, vec![Entry { name: "wpad.".into(), qtype: "A".into(), qclass: "IN".into() }]);
        // A response claiming "fileserv" is at 10.0.0.66.
        let claim = observe(
            b"\x8a\x1f\x80\x00\x00\x00\x00\x01\x00\x00\x00\x00\x08fileserv\x00\x00\x01\x00\x01\x00\x00\x00\x1e\x00\x04\x0a\x00\x00\x42",
        )
        .unwrap();
        assert!(claim.response);
        assert_eq!(claim.entries[0].name, "fileserv.");
        assert!(observe(b"\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00").is_err());
        assert!(observe(b"junk").is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_observe_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = observe(&bytes);
        }
    }
}
