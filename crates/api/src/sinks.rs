//! `GET /api/v1/sinks`: where events go besides the store (configured with `decnet serve
//! --config FILE`), each with its health and counters in the answering process.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::{AppState, wire};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/sinks", get(list))
}

/// The configured sinks and their health.
#[utoipa::path(get, path = "/api/v1/sinks", tag = "operations", responses((status = 200, body = wire::SinkList)))]
pub(crate) async fn list(State(state): State<AppState>) -> Json<wire::SinkList> {
    Json(wire::SinkList { sinks: state.sinks.statuses().into_iter().map(Into::into).collect() })
}
