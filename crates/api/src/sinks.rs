//! `GET /api/v1/sinks`: where events go besides the store (configured with `decnet serve
//! --config FILE`), each with its health and counters in the answering process; and
//! `GET /api/v1/status`: what the event log and the sinks keep on disk, against their
//! limits.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::{ApiError, AppState, wire};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/sinks", get(list)).route("/api/v1/status", get(status))
}

/// The configured sinks and their health.
#[utoipa::path(get, path = "/api/v1/sinks", tag = "operations", responses((status = 200, body = wire::SinkList)))]
pub(crate) async fn list(State(state): State<AppState>) -> Json<wire::SinkList> {
    Json(wire::SinkList { sinks: state.sinks.statuses().into_iter().map(Into::into).collect() })
}

/// What the event log and the sinks use on disk, and their limits.
#[utoipa::path(get, path = "/api/v1/status", tag = "operations", responses((status = 200, body = wire::DiskStatus)))]
pub(crate) async fn status(State(state): State<AppState>) -> Result<Json<wire::DiskStatus>, ApiError> {
    let status = state.engine.disk_status(&state.sinks.configs()).await.map_err(|e| ApiError::from_engine(&e))?;
    Ok(Json(status.into()))
}
