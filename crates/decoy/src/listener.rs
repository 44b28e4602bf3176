//! The placeholder decoy: accept, record, close.
//!
//! Binds every TCP and UDP port the catalogue lists for the service (or one TCP port given
//! on the command line), records one `connect` event per TCP connection and one
//! `datagram` event per UDP datagram, and never answers: the protocol decoys replace this.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use decnet_domain::catalogue::Service;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;

use crate::event::{Origin, emit};

/// Why a decoy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A port could not be bound.
    #[error("cannot bind {addr} ({proto}): {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// tcp or udp.
        proto: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The service has no port to listen on.
    #[error("service {0} has no ports to listen on")]
    NoPorts(&'static str),
}

/// Serves `service` on `listen` until `shutdown` resolves.
pub async fn serve(
    service: &'static Service,
    listen: IpAddr,
    port: Option<u16>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let origin = Arc::new(Origin::from_env());
    let sessions = Arc::new(AtomicU64::new(0));
    let tcp_ports: Vec<u16> = port.map_or_else(|| service.tcp_ports.to_vec(), |p| vec![p]);
    let udp_ports: Vec<u16> = if port.is_some() { Vec::new() } else { service.udp_ports.to_vec() };
    if tcp_ports.is_empty() && udp_ports.is_empty() {
        return Err(ServeError::NoPorts(service.name));
    }
    let mut tasks = JoinSet::new();
    for p in tcp_ports {
        let addr = SocketAddr::new(listen, p);
        let listener =
            TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, proto: "tcp", source })?;
        if let Ok(bound) = listener.local_addr() {
            // Tells a caller that asked for port 0 where to connect.
            eprintln!("decnet-decoy: {} listening on {bound}/tcp", service.name);
        }
        let (origin, sessions) = (origin.clone(), sessions.clone());
        tasks.spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else { continue };
                let local = stream.local_addr().unwrap_or(SocketAddr::new(listen, p));
                let session = sessions.fetch_add(1, Ordering::Relaxed) + 1;
                emit(&origin, service.name, "connect", session, peer, local);
                drop(stream);
            }
        });
    }
    for p in udp_ports {
        let addr = SocketAddr::new(listen, p);
        let socket = UdpSocket::bind(addr).await.map_err(|source| ServeError::Bind { addr, proto: "udp", source })?;
        let (origin, sessions) = (origin.clone(), sessions.clone());
        tasks.spawn(async move {
            let mut buf = [0u8; 2048];
            loop {
                let Ok((_, peer)) = socket.recv_from(&mut buf).await else { continue };
                let session = sessions.fetch_add(1, Ordering::Relaxed) + 1;
                emit(&origin, service.name, "datagram", session, peer, addr);
            }
        });
    }
    shutdown.await;
    tasks.abort_all();
    Ok(())
}
