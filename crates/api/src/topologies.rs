//! `/api/v1/topologies`: list, get (with an ETag from the version), the catalogue.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use decnet_domain::TopologyStatus;
use decnet_store::ListFilter;
use serde::Deserialize;
use serde_json::json;

use crate::{ApiError, ApiQuery, AppState, dto};

pub(crate) fn routes() -> Router<AppState> {
    // Literal routes first, so they are never taken for an id.
    Router::new()
        .route("/", get(list))
        .route("/services", get(|| async { Json(dto::services()) }))
        .route("/services/{service}/schema", get(service_schema))
        .route("/archetypes", get(|| async { Json(dto::archetypes()) }))
        .route("/{id}", get(show))
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
