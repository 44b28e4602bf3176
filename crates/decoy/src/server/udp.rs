//! The datagram loop the UDP decoys share (dns, sip, llmnr, snmp): a session per datagram,
//! with ids as connections have them.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::UdpSocket;

use super::session_ids;
use crate::event::{Recorder, SessionLog};

/// Serves datagrams on `socket` until `shutdown` resolves. Each datagram (at most
/// `max_datagram` bytes read) is a session of its own, with ids as connections have them;
/// `handle` gets it with its log, and what it returns is sent back to the sender. Receive
/// errors (the ICMP "unreachable" an earlier answer drew, say) are skipped. (The handler
/// takes the datagram and log by value: a future borrowing them could not be proven `Send`.)
pub async fn run_udp<F, Answer>(
    socket: &UdpSocket,
    recorder: &Recorder,
    max_datagram: usize,
    shutdown: impl Future<Output = ()>,
    mut handle: F,
) where
    F: FnMut(Vec<u8>, SessionLog) -> Answer,
    Answer: Future<Output = Option<Vec<u8>>>,
{
    let local = socket.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let next_id = session_ids();
    let mut buf = vec![0u8; max_datagram];
    tokio::pin!(shutdown);
    loop {
        let received = tokio::select! {
            () = &mut shutdown => return,
            received = socket.recv_from(&mut buf) => received,
        };
        let Ok((len, peer)) = received else { continue };
        let log = recorder.session(next_id(), peer, local);
        if let Some(reply) = handle(buf.get(..len).unwrap_or_default().to_vec(), log).await {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}
