//! DECNET's HTTP API: the only crate that knows HTTP.
//!
//! Handlers read through the store and write through the engine (desired state and queue
//! entries); none touches the runtime. Every error has one body shape,
//! `{"detail", "error", "issues"}`, where `detail` keeps clients of the original working.
//! This is the read side so far; authentication and the write routes come next, and
//! `decnet serve` will mount this router only with them.

pub mod dto;
mod error;
mod topologies;

use axum::Router;
use axum::routing::get;
use decnet_engine::Engine;

pub use error::{ApiError, ApiJson, ApiQuery};

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The engine (and through it, the store).
    pub engine: Engine,
}

/// The API router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(topologies::ready))
        .nest("/api/v1/topologies", topologies::routes())
        .fallback(error::not_found)
        .with_state(state)
}
