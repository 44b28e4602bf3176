//! `GET /api/v1/incidents`: the open incidents the alert rules made of what attackers did,
//! latest activity first. They are also announced in the event log (`incident.opened`,
//! `incident.updated`), so a topology's event stream carries them live.

use std::str::FromStr;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use decnet_domain::ErrorKind;
use decnet_domain::alerts::Severity;
use decnet_store::IncidentFilter;
use serde::Deserialize;

use crate::{ApiError, ApiQuery, AppState, wire};

/// Most incidents one answer lists.
const MAX_LIMIT: i64 = 1000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/incidents", get(list))
}

/// Which incidents.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct IncidentQuery {
    /// Topology id or name; every topology's when absent.
    topology: Option<String>,
    /// Only at least this severe: `low`, `medium`, `high` or `critical`.
    severity: Option<String>,
    /// Only from this address.
    source_ip: Option<String>,
    /// At most this many (1 to 1000, default 100).
    limit: Option<i64>,
}

/// Open incidents, latest activity first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "operations", params(IncidentQuery),
    responses((status = 200, body = wire::IncidentList)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<IncidentQuery>,
) -> Result<Json<wire::IncidentList>, ApiError> {
    let bad = |detail: String| ApiError::new(ErrorKind::BadRequest, "invalid_parameter", detail);
    let topology_id = match &query.topology {
        Some(key) => Some(state.engine.store().resolve(key).await?),
        None => None,
    };
    let min_severity = query.severity.as_deref().map(Severity::from_str).transpose().map_err(bad)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    let filter = IncidentFilter { topology_id, min_severity, source_ip: query.source_ip, limit };
    let incidents = state.engine.store().incidents(&filter).await?;
    Ok(Json(wire::IncidentList { incidents: incidents.into_iter().map(Into::into).collect() }))
}
