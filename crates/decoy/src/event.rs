//! Interaction events: one JSON object per line on stdout.
//!
//! The versioned schema of the decoys issue will grow from this; for now every service
//! reports connections (and UDP datagrams) with where they came from and where they went.

use std::io::Write;
use std::net::SocketAddr;

use serde_json::json;

/// The event schema version.
pub const SCHEMA_VERSION: u32 = 1;

/// The context every event carries, from the container's environment.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// `DECNET_TOPOLOGY`.
    pub topology: Option<String>,
    /// `DECNET_DECKY`.
    pub decky: Option<String>,
}

impl Origin {
    /// Reads the origin from the environment.
    pub fn from_env() -> Self {
        Self { topology: std::env::var("DECNET_TOPOLOGY").ok(), decky: std::env::var("DECNET_DECKY").ok() }
    }
}

/// Writes one event line; a closed stdout is not worth crashing a decoy over.
pub fn emit(origin: &Origin, service: &str, kind: &str, session: u64, peer: SocketAddr, local: SocketAddr) {
    let line = json!({
        "v": SCHEMA_VERSION,
        "ts": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "topology": origin.topology,
        "decky": origin.decky,
        "service": service,
        "event": kind,
        "session": session,
        "src_ip": peer.ip().to_string(),
        "src_port": peer.port(),
        "dst_ip": local.ip().to_string(),
        "dst_port": local.port(),
    });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
