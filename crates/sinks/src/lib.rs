//! Sinks: where DECNET's events go besides its own store.
//!
//! The store's event log is the durable queue. Each sink keeps its own cursor in it and a
//! task that reads a batch after the cursor, delivers it, and only then moves the cursor
//! ([`runner`]): a slow or dead sink never slows the decoys, the engine or the other sinks
//! (they never wait for it), and never grows memory (one batch at a time). What a sink has
//! not delivered yet is its spool, on disk in the log, bounded by `spool_max_events`: when
//! the backlog passes the bound the cursor skips the oldest and counts them as dropped, so
//! nothing is lost silently. Delivery is at least once (a crash between delivering and
//! moving the cursor repeats that batch); every event carries its log id for de-duplication,
//! and the bulk sink uses it as the document id, so a repeat is not a second document.
//!
//! This crate knows the wire formats and transports; the engine provides the log
//! ([`runner::Spool`]) from the store.

pub mod config;
pub mod format;
pub mod runner;
pub mod stats;
mod transport;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

pub use config::{Config, ConfigError, SinkConfig, SinkKind};
pub use runner::{Backlog, Spool, run};
pub use stats::{SinkStats, SinkStatus};
pub use transport::{DiskUse, SIGNATURE_HEADER, TIMESTAMP_HEADER, disk_use, signature};

/// One event of the log, as sinks see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SinkEvent {
    /// Its id in the log: grows in commit order; the same event always has the same id.
    pub id: i64,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// What happened (`ssh.login`, `topology.status`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its topology.
    pub topology_id: Option<String>,
    /// The decky concerned.
    pub decky: Option<String>,
    /// The decoy service concerned.
    pub service: Option<String>,
    /// The remote address concerned.
    pub source_ip: Option<String>,
    /// The event's body (attacker-written strings included: encoded, never interpreted).
    pub payload: Value,
}

/// Why a sink could not deliver (the batch is retried) or could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Reading or writing a file, or a socket, failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The receiver answered with a failure.
    #[error("{0}")]
    Refused(String),
    /// TLS could not be set up.
    #[error("TLS: {0}")]
    Tls(String),
    /// The event log could not be read or the cursor moved.
    #[error("event log: {0}")]
    Log(String),
}

impl SinkError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        SinkError::Io { what: what.into(), source }
    }
}

/// A transport that delivers a batch whole or fails (then the batch is tried again).
#[async_trait]
pub trait Deliver: Send {
    /// Delivers `batch` (oldest first, never empty).
    async fn deliver(&mut self, batch: &[SinkEvent]) -> Result<(), SinkError>;
}

/// Makes ring the process's TLS provider. The workspace's reqwest is built without one of
/// its own (aws-lc needs a C toolchain the static decoy avoids), so every process that
/// builds an HTTP client calls this first; calling it again does nothing.
pub fn use_ring_for_tls() {
    // Deprecated only for lacking post-quantum key exchange; see `transport::tls_config`.
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Opens the transport `config` describes.
pub fn open(config: &SinkConfig) -> Result<Box<dyn Deliver>, SinkError> {
    transport::open(config)
}
