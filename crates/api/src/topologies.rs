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

use crate::cache::Stamp;
use crate::{ApiError, ApiJson, ApiQuery, AppState, dto};

pub(crate) fn routes() -> Router<AppState> {
    // Literal routes first, so they are never taken for an id.
    Router::new()
        .route("/", get(list).post(generate))
        .route("/services", get(services))
        .route("/services/{service}/schema", get(service_schema))
        .route("/archetypes", get(archetypes))
        .merge(crate::design::routes())
        .route("/import", post(import))
        .route("/{id}", get(show).delete(delete))
        .route("/{id}/validate", get(validate))
        .route("/{id}/export", get(export))
        .route("/{id}/deploy", post(deploy))
        .route("/{id}/teardown", post(teardown))
        .route("/{id}/status-events", get(status_events))
        .route("/{id}/events", get(crate::events::stream))
        .route("/{id}/mutations", get(mutations).post(enqueue))
        .route("/{id}/mutations:plan", post(plan))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "alive", body = String, content_type = "text/plain")))]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the store answers.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, description = "ready", body = String, content_type = "text/plain")))]
pub(crate) async fn ready(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.engine.store().list_topologies(&ListFilter { limit: Some(1), ..ListFilter::default() }).await?;
    Ok("ready")
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only topologies in this status.
    status: Option<String>,
    /// Page size, 1 to 500 (50).
    limit: Option<i64>,
    /// Rows to skip (0).
    offset: Option<i64>,
}

/// Topologies, newest first.
#[utoipa::path(get, path = "/api/v1/topologies", tag = "topologies", params(ListQuery),
    responses((status = 200, body = crate::openapi::TopologyPageDoc)))]
pub(crate) async fn list(
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

/// A topology with its LANs, deckies (and their observed state) and edges. The ETag is
/// the version; `If-None-Match` with it answers 304.
#[utoipa::path(get, path = "/api/v1/topologies/{id}", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")),
    responses((status = 200, body = crate::openapi::TopologyDetailDoc), (status = 304, description = "Not modified")))]
pub(crate) async fn show(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let store = state.engine.store();
    // The stamp names everything a reader sees: intents, design, decky states, status.
    let found = store.header_by_key(&key).await?;
    let id = found.id;
    let etag =
        |stamp: Stamp| HeaderValue::from_str(&stamp.etag(id)).map_err(|e| ApiError::internal(format!("etag: {e}")));
    let stamp = Stamp::of(&found);
    let current = etag(stamp)?;
    if headers.get_all(header::IF_NONE_MATCH).iter().any(|v| v.as_bytes() == current.as_bytes()) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, current)]).into_response());
    }
    let json = HeaderValue::from_static("application/json");
    if let Some(body) = state.bodies.get(id, stamp) {
        return Ok(([(header::ETAG, current), (header::CONTENT_TYPE, json)], body).into_response());
    }
    let topology = store.topology(id).await?;
    let stamp = Stamp::of(&topology.header);
    let body = axum::body::Bytes::from(
        serde_json::to_vec(&dto::topology(&topology)).map_err(|e| ApiError::internal(format!("body: {e}")))?,
    );
    state.bodies.put(id, stamp, body.clone());
    Ok(([(header::ETAG, etag(stamp)?), (header::CONTENT_TYPE, json)], body).into_response())
}

/// The decoy services and the host-wide singletons.
#[utoipa::path(get, path = "/api/v1/topologies/services", tag = "topologies", responses((status = 200, body = Object)))]
pub(crate) async fn services() -> Json<serde_json::Value> {
    Json(dto::services())
}

/// The decky archetypes.
#[utoipa::path(get, path = "/api/v1/topologies/archetypes", tag = "topologies", responses((status = 200, body = Object)))]
pub(crate) async fn archetypes() -> Json<serde_json::Value> {
    Json(dto::archetypes())
}

/// One service's ports and config keys.
#[utoipa::path(get, path = "/api/v1/topologies/services/{service}/schema", tag = "topologies",
    params(("service" = String, Path)), responses((status = 200, body = Object)))]
pub(crate) async fn service_schema(Path(service): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    decnet_domain::catalogue::decky_service(&service)
        .map(|s| Json(dto::service(s)))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("service {service} not found")))
}

/// A mutation request, as the original's API takes it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MutationRequest {
    /// add_lan, remove_lan, add_decky, attach_decky, detach_decky, remove_decky,
    /// update_decky or update_lan.
    op: String,
    /// The op's fields.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    payload: serde_json::Value,
    /// Refuse (409) unless the topology is at this version.
    #[serde(default)]
    expected_version: Option<i64>,
}

fn empty_object() -> serde_json::Value {
    json!({})
}

/// Queues a mutation of an active or degraded topology.
#[utoipa::path(post, path = "/api/v1/topologies/{id}/mutations", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")), request_body = MutationRequest,
    responses((status = 202, body = crate::openapi::EnqueuedDoc)))]
pub(crate) async fn enqueue(
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct MutationsQuery {
    /// Only mutations in this state.
    state: Option<String>,
}

/// A topology's mutations, newest first.
#[utoipa::path(get, path = "/api/v1/topologies/{id}/mutations", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name"), MutationsQuery),
    responses((status = 200, body = Vec<crate::openapi::MutationDoc>)))]
pub(crate) async fn mutations(
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
#[utoipa::path(post, path = "/api/v1/topologies/{id}/mutations:plan", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")), request_body = MutationRequest,
    responses((status = 200, body = crate::openapi::PlanDoc)))]
pub(crate) async fn plan(
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

/// Generation parameters, with the original API's field names.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GenerateRequest {
    name: String,
    #[serde(default = "default_depth")]
    depth: u32,
    #[serde(default = "default_branching")]
    branching_factor: u32,
    #[serde(default = "default_min")]
    deckies_per_lan_min: u32,
    #[serde(default = "default_max")]
    deckies_per_lan_max: u32,
    #[serde(default = "default_forward")]
    bridge_forward_probability: f64,
    #[serde(default)]
    cross_edge_probability: f64,
    #[serde(default)]
    services_explicit: Option<Vec<String>>,
    #[serde(default)]
    seed: Option<u64>,
}

fn default_depth() -> u32 {
    3
}
fn default_branching() -> u32 {
    2
}
fn default_min() -> u32 {
    1
}
fn default_max() -> u32 {
    3
}
fn default_forward() -> f64 {
    1.0
}

/// Generates a random topology and stores it as pending.
#[utoipa::path(post, path = "/api/v1/topologies", tag = "topologies", request_body = GenerateRequest,
    responses((status = 201, body = crate::openapi::TopologySummaryDoc)))]
pub(crate) async fn generate(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<GenerateRequest>,
) -> Result<Response, ApiError> {
    let name = decnet_domain::Name::parse(&request.name)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", format!("name: {e}")))?;
    let config = decnet_domain::generator::GeneratorConfig {
        depth: request.depth,
        branching: request.branching_factor,
        deckies_per_lan_min: request.deckies_per_lan_min,
        deckies_per_lan_max: request.deckies_per_lan_max,
        bridge_forward_p: request.bridge_forward_probability,
        cross_edge_p: request.cross_edge_probability,
        services: request.services_explicit.filter(|s| !s.is_empty()),
        // A random seed is still recorded, so the design can be generated again.
        seed: request.seed.unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0),
        ..decnet_domain::generator::GeneratorConfig::default()
    };
    let topology = state.engine.generate(name, config).await?;
    Ok((StatusCode::CREATED, Json(dto::header(&topology.header))).into_response())
}

/// Creates a pending topology from a document (the format of `export`); missing subnets
/// and IPs are allocated once, here.
#[utoipa::path(post, path = "/api/v1/topologies/import", tag = "topologies", request_body = Object,
    responses((status = 201, body = crate::openapi::TopologySummaryDoc)))]
pub(crate) async fn import(
    State(state): State<AppState>,
    ApiJson(document): ApiJson<decnet_domain::document::TopologyDocument>,
) -> Result<Response, ApiError> {
    let topology = state.engine.create(document, "api import").await?;
    Ok((StatusCode::CREATED, Json(dto::header(&topology.header))).into_response())
}

/// Every validation issue of a topology (with other topologies' claims and host ports).
#[utoipa::path(get, path = "/api/v1/topologies/{id}/validate", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")),
    responses((status = 200, body = Object, description = "`{valid, issues}`")))]
pub(crate) async fn validate(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = state.engine.store().resolve(&key).await?;
    let issues = state.engine.validate(id).await?;
    let valid = !issues.iter().any(decnet_domain::Issue::is_error);
    Ok(Json(json!({ "valid": valid, "issues": issues })))
}

/// The topology as a document (names, subnets, IPs, memberships, services), which
/// `import` takes back.
#[utoipa::path(get, path = "/api/v1/topologies/{id}/export", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")),
    responses((status = 200, body = Object)))]
pub(crate) async fn export(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = state.engine.store().resolve(&key).await?;
    let topology = state.engine.store().topology(id).await?;
    let header = &topology.header;
    let document = decnet_domain::document::from_design(
        &header.name,
        header.mode,
        header.target_host.as_deref(),
        &topology.design,
    );
    Ok(Json(serde_json::to_value(document).map_err(|e| ApiError::internal(format!("export: {e}")))?))
}

/// Validates at once (422 with every issue), then deploys in the background: 202.
#[utoipa::path(post, path = "/api/v1/topologies/{id}/deploy", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")),
    responses((status = 202, body = crate::openapi::TopologySummaryDoc)))]
pub(crate) async fn deploy(State(state): State<AppState>, Path(key): Path<String>) -> Result<Response, ApiError> {
    let id = state.engine.store().resolve(&key).await?;
    let header = state.engine.store().header(id).await?;
    if header.status != TopologyStatus::Pending {
        return Err(wrong_status(header.status, "deploy", "pending"));
    }
    let issues = state.engine.validate(id).await?;
    if issues.iter().any(decnet_domain::Issue::is_error) {
        return Err(ApiError::from(decnet_engine::EngineError::Refused(decnet_domain::Refusal {
            issues: issues.into_iter().filter(decnet_domain::Issue::is_error).collect(),
        })));
    }
    let engine = state.engine.clone();
    tokio::spawn(async move {
        if let Err(err) = engine.deploy(id).await {
            tracing::warn!(topology = %id, error = %err, "deploy failed");
        }
    });
    Ok((StatusCode::ACCEPTED, Json(dto::header(&header))).into_response())
}

/// Checks that a teardown may start, then tears down in the background: 202.
#[utoipa::path(post, path = "/api/v1/topologies/{id}/teardown", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")),
    responses((status = 202, body = crate::openapi::TopologySummaryDoc)))]
pub(crate) async fn teardown(State(state): State<AppState>, Path(key): Path<String>) -> Result<Response, ApiError> {
    let id = state.engine.store().resolve(&key).await?;
    let header = state.engine.store().header(id).await?;
    if !header.status.can_tear_down() {
        return Err(wrong_status(header.status, "teardown", "deploying, active, degraded, failed or tearing_down"));
    }
    let engine = state.engine.clone();
    tokio::spawn(async move {
        if let Err(err) = engine.teardown(id).await {
            tracing::warn!(topology = %id, error = %err, "teardown failed");
        }
    });
    Ok((StatusCode::ACCEPTED, Json(dto::header(&header))).into_response())
}

/// Deletes a pending, failed or torn-down topology.
#[utoipa::path(delete, path = "/api/v1/topologies/{id}", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")),
    responses((status = 204, description = "Deleted")))]
pub(crate) async fn delete(State(state): State<AppState>, Path(key): Path<String>) -> Result<StatusCode, ApiError> {
    let id = state.engine.store().resolve(&key).await?;
    state.engine.delete(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// How many, 1 to 1000 (100).
    limit: Option<i64>,
}

/// Audited status transitions, newest first.
#[utoipa::path(get, path = "/api/v1/topologies/{id}/status-events", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name"), EventsQuery),
    responses((status = 200, body = Vec<crate::openapi::StatusEventDoc>)))]
pub(crate) async fn status_events(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", "limit: must be between 1 and 1000"));
    }
    let id = state.engine.store().resolve(&key).await?;
    let events = state.engine.store().status_events(id, limit).await?;
    Ok(Json(serde_json::to_value(events).unwrap_or_default()))
}

/// The same 409 the store gives when a status forbids an action.
fn wrong_status(status: TopologyStatus, action: &str, allowed: &str) -> ApiError {
    decnet_store::StoreError::WrongStatus { status, action: action.into(), allowed: allowed.into() }.into()
}
