//! `/api/v1/topologies`: list, get (with an ETag from the version), the catalogue.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use decnet_domain::TopologyStatus;
use decnet_store::ListFilter;
use serde::Deserialize;
use serde_json::json;

use crate::{ApiError, ApiJson, ApiQuery, AppState, dto};

pub(crate) fn routes() -> Router<AppState> {
    // Literal routes first, so they are never taken for an id.
    Router::new()
        .route("/", get(list))
        .route("/services", get(|| async { Json(dto::services()) }))
        .route("/services/{service}/schema", get(service_schema))
        .route("/archetypes", get(|| async { Json(dto::archetypes()) }))
        .route("/{id}", get(show))
        .route("/{id}/mutations", get(mutations).post(enqueue))
        .route("/{id}/mutations:plan", post(plan))
}

pub(crate) async fn ready(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.engine.store().list_topologies(&ListFilter { limit: Some(1), ..ListFilter::default() }).await?;
    Ok("ready")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let status = q
        .status
        .map(|s| s.parse::<TopologyStatus>())
        .transpose()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", format!("status: {e}")))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", "limit: must be between 1 and 500"));
    }
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", "offset: must not be negative"));
    }
    let page = state.engine.store().list_topologies(&ListFilter { status, limit: Some(limit), offset }).await?;
    Ok(Json(json!({
        "total": page.total,
        "limit": limit,
        "offset": offset,
        "data": page.items.iter().map(dto::header).collect::<Vec<_>>(),
    })))
}

async fn show(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let store = state.engine.store();
    let id = store.resolve(&key).await?;
    // The version changes with every write to the topology, its design or its status.
    let header_only = store.header(id).await?;
    let etag = format!("W/\"{}-{}\"", id.simple(), header_only.version);
    let matches = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v == etag);
    let etag_value = HeaderValue::from_str(&etag)
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error"))?;
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response());
    }
    let topology = store.topology(id).await?;
    Ok(([(header::ETAG, etag_value)], Json(dto::topology(&topology))).into_response())
}

async fn service_schema(Path(service): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    decnet_domain::catalogue::decky_service(&service)
        .map(|s| Json(dto::service(s)))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("service {service} not found")))
}

/// A mutation request, as the original's API takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MutationRequest {
    op: String,
    #[serde(default = "empty_object")]
    payload: serde_json::Value,
    #[serde(default)]
    expected_version: Option<i64>,
}

fn empty_object() -> serde_json::Value {
    json!({})
}

async fn enqueue(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(request): ApiJson<MutationRequest>,
) -> Result<Response, ApiError> {
    let id = state.engine.store().resolve(&key).await?;
    // An unknown op or a payload that does not parse is refused as 422, before queueing.
    let (mutation, version) = state.engine.enqueue(id, &request.op, &request.payload, request.expected_version).await?;
    let body = json!({ "mutation_id": mutation.id, "state": mutation.state, "op": mutation.op, "version": version });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MutationsQuery {
    state: Option<String>,
}

async fn mutations(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiQuery(q): ApiQuery<MutationsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let store = state.engine.store();
    let id = store.resolve(&key).await?;
    let wanted = q
        .state
        .map(|s| s.parse::<decnet_domain::MutationState>())
        .transpose()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", format!("state: {e}")))?;
    let list = store.mutations(id, wanted).await?;
    Ok(Json(serde_json::to_value(list).unwrap_or_default()))
}

/// What a mutation would do, or why it would be refused, without queueing it.
async fn plan(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(request): ApiJson<MutationRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = state.engine.store().resolve(&key).await?;
    match state.engine.plan_dry_run(id, &request.op, &request.payload).await {
        Ok(plan) => Ok(Json(json!({ "accepted": true, "actions": plan.actions, "issues": [] }))),
        Err(decnet_engine::EngineError::Refused(refusal)) => {
            Ok(Json(json!({ "accepted": false, "actions": [], "codes": refusal.codes(), "issues": refusal.issues })))
        }
        Err(other) => Err(other.into()),
    }
}
