//! Design helpers under `/api/v1/topologies`: a blank topology to start drawing from, the
//! next free subnet, and the reaper of resources whose topology is gone.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use decnet_domain::{ErrorKind, TopologyId};
use decnet_engine::EngineError;
use serde::Deserialize;
use serde_json::json;

use crate::design::{bad_request, edit_error};
use crate::{ApiError, ApiJson, ApiQuery, AppState, wire};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/blank", post(blank))
        .route("/next-subnet", get(next_subnet))
        .route("/reap-orphans", post(reap_orphans))
}

/// A blank topology (the original's body; `target_host` is our older name).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BlankRequest {
    /// Unique name.
    name: String,
    /// `unihost` (default) or `agent`.
    #[serde(default)]
    mode: Option<String>,
    /// The host an agent-mode topology is pinned to.
    #[serde(default, alias = "target_host")]
    target_host_uuid: Option<String>,
}

/// `POST /blank`: a pending topology with a DMZ (`dmz`, the next free /24) and its
/// gateway (`dmz-gateway`, ssh, routing on) to start drawing from.
#[utoipa::path(post, path = "/api/v1/topologies/blank", tag = "design", request_body = BlankRequest,
    responses((status = 201, body = wire::TopologySummary)))]
pub(crate) async fn blank(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<BlankRequest>,
) -> Result<Response, ApiError> {
    let (mode, target) = crate::topologies::placement(request.mode.as_deref(), request.target_host_uuid)?;
    let document = json!({
        "name": request.name,
        "mode": mode,
        "target_host": target,
        "lans": [{ "name": "dmz", "is_dmz": true, "x": 40.0, "y": 40.0 }],
        "deckies": [{
            "name": "dmz-gateway", "home_lan": "dmz", "networks": [{ "lan": "dmz" }], "services": ["ssh"],
            "archetype": "deaddeck", "forwards_l3": true, "x": 20.0, "y": 60.0,
        }],
    });
    let document = serde_json::from_value(document)
        .map_err(|e| ApiError::new(ErrorKind::InvalidBody, "invalid_body", e.to_string()))?;
    let topology = state.engine.create(document, "blank").await.map_err(|err| match err {
        EngineError::Refused(refusal) => {
            ApiError::new(ErrorKind::BadRequest, "invalid_parameter", refusal.to_string()).with_issues(refusal.issues)
        }
        other => other.into(),
    })?;
    Ok((StatusCode::CREATED, Json(wire::TopologySummary::from(&topology.header))).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct NextSubnetQuery {
    /// A CIDR of /24 or wider (172.16.0.0/12).
    base: Option<String>,
}

/// The first /24 under `base` that no topology holds.
#[utoipa::path(get, path = "/api/v1/topologies/next-subnet", tag = "design", params(NextSubnetQuery),
    responses((status = 200, body = wire::NextSubnet)))]
pub(crate) async fn next_subnet(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<NextSubnetQuery>,
) -> Result<Json<wire::NextSubnet>, ApiError> {
    let base = match q.base {
        Some(text) => text.parse().map_err(|_| bad_request("base: not an IPv4 CIDR"))?,
        None => decnet_domain::alloc::default_subnet_base(),
    };
    let subnet = state.engine.next_subnet(base).await.map_err(edit_error)?;
    Ok(Json(wire::NextSubnet { subnet: subnet.to_string() }))
}

/// Removes labelled containers and networks of topologies the store does not know.
#[utoipa::path(post, path = "/api/v1/topologies/reap-orphans", tag = "design", responses((status = 200, body = wire::ReapReport)))]
pub(crate) async fn reap_orphans(State(state): State<AppState>) -> Result<Json<wire::ReapReport>, ApiError> {
    Ok(Json(reap_report(&state.engine.reap_orphans(None).await?)))
}

/// The original's report of a reap.
pub fn reap_report(reaped: &decnet_engine::Reaped) -> wire::ReapReport {
    let prefix = |id: &TopologyId| id.simple().chars().take(8).collect::<String>();
    wire::ReapReport {
        live_prefixes: reaped.live.iter().map(prefix).collect(),
        orphan_prefixes: reaped.reaped.iter().map(prefix).collect(),
        containers_removed: reaped.containers.clone(),
        networks_removed: reaped.networks.clone(),
        errors: reaped.errors.clone(),
        reaped: reaped.reaped.iter().map(|id| id.0).collect(),
    }
}
