//! Services without a protocol decoy yet: record the connection (or datagram), answer
//! nothing, close.

use std::future::Future;

use tokio::net::UdpSocket;

use crate::event::{Fields, Kind, Recorder};
use crate::server::{Conn, Decoy, End};

/// A decoy that accepts and closes.
#[derive(Debug)]
pub struct Placeholder {
    /// The service slug.
    pub name: &'static str,
}

impl Decoy for Placeholder {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn serve(&self, _conn: &mut Conn) -> End {
        End::Done
    }
}

/// Records one `connect` event per datagram on `socket` until `shutdown` resolves.
pub async fn run_udp(socket: UdpSocket, recorder: Recorder, shutdown: impl Future<Output = ()>) {
    let local = socket.local_addr().ok();
    let mut buf = [0u8; 2048];
    tokio::pin!(shutdown);
    let mut count: u64 = 0;
    loop {
        let received = tokio::select! {
            () = &mut shutdown => return,
            received = socket.recv_from(&mut buf) => received,
        };
        let Ok((len, peer)) = received else { continue };
        count += 1;
        let log = recorder.session(format!("udp{count:012x}"), peer, local.unwrap_or(peer));
        log.record(Kind::Connect, Fields::default().detail("transport", "udp").detail("bytes", len)).await;
    }
}
