//! `GET`/`PUT /api/v1/topologies/{id}/placement`: where a topology's deckies run on a
//! swarm (its policy, deckies and LANs pinned to nodes), kept in the store so that every
//! engine replica places them alike. A runtime of one host ignores it.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};

use crate::{ApiError, ApiJson, AppState, wire};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/{id}/placement", get(show).put(replace))
}

/// A topology's placement.
#[utoipa::path(get, path = "/api/v1/topologies/{id}/placement", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")), responses((status = 200, body = wire::PlacementView)))]
pub(crate) async fn show(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<wire::PlacementView>, ApiError> {
    let header = state.engine.store().header_by_key(&key).await?;
    let placement = state.engine.placement(header.id).await?;
    Ok(Json(wire::PlacementView::new(&header, placement)))
}

/// Replaces a topology's placement whole. It applies to deckies placed from then on (new
/// ones, and those re-created after their node is lost); running deckies stay. Refused
/// when it names a LAN or decky the topology lacks, a malformed node, or pins an
/// agent-mode topology (which runs whole on its target host).
#[utoipa::path(put, path = "/api/v1/topologies/{id}/placement", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")), request_body = wire::PlacementRequest,
    responses((status = 200, body = wire::PlacementView)))]
pub(crate) async fn replace(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(request): ApiJson<wire::PlacementRequest>,
) -> Result<Json<wire::PlacementView>, ApiError> {
    let header = state.engine.store().header_by_key(&key).await?;
    let placement = state.engine.set_placement(header.id, &request.into()).await?;
    Ok(Json(wire::PlacementView::new(&header, placement)))
}
