//! `GET /api/v1/attackers` and `/api/v1/attackers/{id}`: each attacker's path through the
//! mazes, linked by the engine from the decoys' events (`decnet_engine::attackers`); and
//! `GET /api/v1/topologies/{id}/lures`, the breadcrumbs that lead them deeper.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use decnet_domain::TopologyId;
use decnet_engine::attackers::Attacker;
use serde::Deserialize;

use crate::{ApiError, ApiQuery, AppState, wire};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/attackers", get(list))
        .route("/api/v1/attackers/{id}", get(show))
        .route("/api/v1/topologies/{id}/lures", get(lures))
}

/// A topology's lures: the breadcrumbs on its deckies, where each leads and the login it
/// carries (which the target accepts).
#[utoipa::path(get, path = "/api/v1/topologies/{id}/lures", tag = "attackers",
    params(("id" = String, Path, description = "Topology id or name")),
    responses((status = 200, body = wire::LureList), (status = 404, body = wire::ErrorBody)))]
pub(crate) async fn lures(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<wire::LureList>, ApiError> {
    let id = state.engine.store().resolve(&key).await?;
    let topology = state.engine.store().topology(id).await?;
    let density = decnet_domain::lures::density_of(&topology.header.config_snapshot);
    Ok(Json(wire::LureList::new(id, &topology.design, density)))
}

/// Which topology's attackers.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct AttackerQuery {
    /// Topology id or name; every deployed topology when absent.
    topology: Option<String>,
}

/// The attackers of the topology asked for, or of every topology.
async fn attackers(state: &AppState, query: &AttackerQuery) -> Result<Vec<(TopologyId, Attacker)>, ApiError> {
    let topology = match &query.topology {
        Some(key) => Some(state.engine.store().resolve(key).await?),
        None => None,
    };
    state.engine.attackers_of(topology).await.map_err(|e| ApiError::from_engine(&e))
}

/// Attackers seen in the mazes, most recently seen first.
#[utoipa::path(get, path = "/api/v1/attackers", tag = "attackers", params(AttackerQuery),
    responses((status = 200, body = wire::AttackerList)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AttackerQuery>,
) -> Result<Json<wire::AttackerList>, ApiError> {
    let found = attackers(&state, &query).await?;
    Ok(Json(wire::AttackerList { attackers: found.iter().map(|(t, a)| wire::AttackerSummary::new(*t, a)).collect() }))
}

/// One attacker (by its source address) with its path, hop by hop; the most recently
/// seen when it walked several topologies.
#[utoipa::path(get, path = "/api/v1/attackers/{id}", tag = "attackers",
    params(("id" = String, Path, description = "The attacker's source address"), AttackerQuery),
    responses((status = 200, body = wire::AttackerDetail), (status = 404, body = wire::ErrorBody)))]
pub(crate) async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<AttackerQuery>,
) -> Result<Json<wire::AttackerDetail>, ApiError> {
    let topology = match &query.topology {
        Some(key) => Some(state.engine.store().resolve(key).await?),
        None => None,
    };
    let (topology, attacker) = state.engine.attacker(&id, topology).await.map_err(|e| ApiError::from_engine(&e))?;
    Ok(Json(wire::AttackerDetail::new(topology, &attacker)))
}
