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
use crate::{ApiError, ApiJson, ApiQuery, AppState, wire};
use decnet_domain::ErrorKind;

pub(crate) fn routes() -> Router<AppState> {
    // Literal routes first, so they are never taken for an id.
    Router::new()
        .route("/", get(list).post(generate))
        .route("/services", get(services))
        .route("/services/{service}/schema", get(service_schema))
        .route("/archetypes", get(archetypes))
        .merge(crate::design::routes())
        .merge(crate::design_tools::routes())
        .merge(crate::decky_services::routes())
        .merge(crate::personas::routes())
        .merge(crate::placement::routes())
        .merge(crate::layout::routes())
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
        .route("/{id}/mutations:plan-all", post(plan_all))
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
    responses((status = 200, body = wire::TopologyPage)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<wire::TopologyPage>, ApiError> {
    let status = q
        .status
        .map(|s| s.parse::<TopologyStatus>())
        .transpose()
        .map_err(|e| ApiError::new(ErrorKind::BadRequest, "invalid_parameter", format!("status: {e}")))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(ErrorKind::BadRequest, "invalid_parameter", "limit: must be between 1 and 500"));
    }
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::new(ErrorKind::BadRequest, "invalid_parameter", "offset: must not be negative"));
    }
    let page = state.engine.store().list_topologies(&ListFilter { status, limit: Some(limit), offset }).await?;
    Ok(Json(wire::TopologyPage {
        total: page.total,
        limit,
        offset,
        data: page.items.iter().map(wire::TopologySummary::from).collect(),
    }))
}

/// A topology with its LANs, deckies (and their observed state) and edges. The ETag is
/// the version; `If-None-Match` with it answers 304.
#[utoipa::path(get, path = "/api/v1/topologies/{id}", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")),
    responses((status = 200, body = wire::TopologyDetail), (status = 304, description = "Not modified")))]
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
        serde_json::to_vec(&wire::TopologyDetail::from(&*topology))
            .map_err(|e| ApiError::internal(format!("body: {e}")))?,
    );
    state.bodies.put(id, stamp, body.clone());
    Ok(([(header::ETAG, etag(stamp)?), (header::CONTENT_TYPE, json)], body).into_response())
}

/// The decoy services and the host-wide singletons.
#[utoipa::path(get, path = "/api/v1/topologies/services", tag = "topologies", responses((status = 200, body = wire::ServiceList)))]
pub(crate) async fn services() -> Json<wire::ServiceList> {
    Json(wire::ServiceList::catalogue())
}

/// The decky archetypes.
#[utoipa::path(get, path = "/api/v1/topologies/archetypes", tag = "topologies", responses((status = 200, body = wire::ArchetypeList)))]
pub(crate) async fn archetypes() -> Json<wire::ArchetypeList> {
    Json(wire::ArchetypeList::catalogue())
}

/// One service's ports and config fields.
#[utoipa::path(get, path = "/api/v1/topologies/services/{service}/schema", tag = "topologies",
    params(("service" = String, Path)), responses((status = 200, body = wire::ServiceSchema)))]
pub(crate) async fn service_schema(Path(service): Path<String>) -> Result<Json<wire::ServiceSchema>, ApiError> {
    decnet_domain::catalogue::service(&service)
        .map(|s| Json(wire::ServiceSchema::from(s)))
        .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "not_found", format!("Unknown service: {service}")))
}

/// A mutation request, as the original's API takes it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MutationRequest {
    /// add_lan, remove_lan, add_decky, attach_decky, detach_decky, remove_decky,
    /// update_decky or update_lan.
    pub(crate) op: String,
    /// The op's fields.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub(crate) payload: serde_json::Value,
    /// Refuse (409) unless the topology is at this version.
    #[serde(default)]
    pub(crate) expected_version: Option<i64>,
}

fn empty_object() -> serde_json::Value {
    json!({})
}

/// Queues a mutation of an active or degraded topology.
#[utoipa::path(post, path = "/api/v1/topologies/{id}/mutations", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")), request_body = MutationRequest,
    responses((status = 202, body = wire::Enqueued)))]
pub(crate) async fn enqueue(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(request): ApiJson<MutationRequest>,
) -> Result<Response, ApiError> {
    let id = state.engine.store().resolve(&key).await?;
    // An unknown op or a payload that does not parse is refused as 422, before queueing.
    let (mutation, version) = state.engine.enqueue(id, &request.op, &request.payload, request.expected_version).await?;
    Ok((StatusCode::ACCEPTED, Json(wire::Enqueued::new(&mutation, version))).into_response())
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
    responses((status = 200, body = Vec<wire::MutationRow>)))]
pub(crate) async fn mutations(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiQuery(q): ApiQuery<MutationsQuery>,
) -> Result<Json<Vec<wire::MutationRow>>, ApiError> {
    let store = state.engine.store();
    let id = store.resolve(&key).await?;
    let wanted = q
        .state
        .map(|s| s.parse::<decnet_domain::MutationState>())
        .transpose()
        .map_err(|e| ApiError::new(ErrorKind::BadRequest, "invalid_parameter", format!("state: {e}")))?;
    let list = store.mutations(id, wanted).await?;
    Ok(Json(list.iter().map(wire::MutationRow::from).collect()))
}

/// What a mutation would do, or why it would be refused, without queueing it.
#[utoipa::path(post, path = "/api/v1/topologies/{id}/mutations:plan", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")), request_body = MutationRequest,
    responses((status = 200, body = wire::PlanResult)))]
pub(crate) async fn plan(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(request): ApiJson<MutationRequest>,
) -> Result<Json<wire::PlanResult>, ApiError> {
    let id = state.engine.store().resolve(&key).await?;
    match state.engine.plan_dry_run(id, &request.op, &request.payload).await {
        Ok(plan) => Ok(Json(wire::PlanResult::new(Ok(&plan)))),
        Err(decnet_engine::EngineError::Refused(refusal)) => Ok(Json(wire::PlanResult::new(Err(&refusal)))),
        Err(other) => Err(other.into()),
    }
}

/// Several mutations to dry-run in order.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlanAllRequest {
    /// The mutations, in the order they would be queued (1 to 1,000).
    ops: Vec<OpBody>,
}

/// One mutation of a [`PlanAllRequest`].
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OpBody {
    /// add_lan, remove_lan, add_decky, attach_decky, detach_decky, remove_decky,
    /// update_decky or update_lan.
    op: String,
    /// The op's fields.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    payload: serde_json::Value,
}

/// Most mutations one `mutations:plan-all` dry-runs.
const MAX_PLANNED: usize = 1_000;

/// What each of several mutations would do if queued in this order, or why it would be
/// refused; each is planned against the design the accepted ones before it leave (ours:
/// how the console previews staged edits that build on each other).
#[utoipa::path(post, path = "/api/v1/topologies/{id}/mutations:plan-all", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")), request_body = PlanAllRequest,
    responses((status = 200, body = wire::PlanResults)))]
pub(crate) async fn plan_all(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(request): ApiJson<PlanAllRequest>,
) -> Result<Json<wire::PlanResults>, ApiError> {
    if request.ops.is_empty() || request.ops.len() > MAX_PLANNED {
        return Err(invalid(format!("ops: between 1 and {MAX_PLANNED} mutations")));
    }
    let id = state.engine.store().resolve(&key).await?;
    let ops: Vec<(String, serde_json::Value)> = request.ops.into_iter().map(|o| (o.op, o.payload)).collect();
    let outcomes = state.engine.plan_sequence(id, &ops).await?;
    let results = outcomes.iter().map(|o| wire::PlanResult::new(o.as_ref())).collect();
    Ok(Json(wire::PlanResults { results }))
}

/// Generation parameters: the original API's `TopologyGenerateRequest`. Every field is
/// optional here so that a missing or out-of-range one answers 400 naming it, as the
/// original does; a field of the wrong JSON type is 422.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GenerateRequest {
    /// Unique name (required; 1 to 63 of a-z, 0-9 and '-', starting with a letter).
    name: Option<String>,
    /// `unihost` (default) or `agent`.
    mode: Option<String>,
    /// The host an agent-mode topology is pinned to (required in agent mode only).
    target_host_uuid: Option<String>,
    /// Levels of LANs below the DMZ, 1 to 16 (3).
    depth: Option<u32>,
    /// Most child LANs per LAN, 1 to 8 (2).
    branching_factor: Option<u32>,
    /// Fewest deckies per internal LAN, 0 to 32 (1).
    deckies_per_lan_min: Option<u32>,
    /// Most deckies per internal LAN, 1 to 32 (3).
    deckies_per_lan_max: Option<u32>,
    /// Probability that a bridge routes, 0 to 1 (1.0).
    bridge_forward_probability: Option<f64>,
    /// Probability of an extra cross edge per LAN, 0 to 1 (0.0).
    cross_edge_probability: Option<f64>,
    /// Draw 1 to 3 random services per decky (true); false needs `services_explicit`.
    randomize_services: Option<bool>,
    /// Services for every decky (turns randomisation off).
    services_explicit: Option<Vec<String>>,
    /// RNG seed, 0 or more (random and recorded when absent).
    seed: Option<u64>,
    /// The range LAN subnets are allocated from (ours; 172.16.0.0/12).
    subnet_base: Option<String>,
    /// Whether the DMZ decky is the gateway that publishes its ports (ours; true).
    gateway: Option<bool>,
    /// How many lures the deckies get: `none`, `sparse` (default) or `rich` (ours).
    #[schema(value_type = Option<String>)]
    lures: Option<decnet_domain::lures::Density>,
    /// How the DMZ meets the host's network (ours; a bridge when absent).
    dmz_attachment: Option<wire::LanAttachment>,
    /// The DMZ's subnet: the host network's, required with a macvlan or ipvlan DMZ (ours).
    dmz_subnet: Option<String>,
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::BadRequest, "invalid_parameter", detail)
}

/// Checks the placement fields the original checks: an agent-mode topology names its host,
/// a unihost one does not.
pub(crate) fn placement(
    mode: Option<&str>,
    target_host_uuid: Option<String>,
) -> Result<(decnet_domain::Mode, Option<String>), ApiError> {
    let mode = match mode {
        None => decnet_domain::Mode::Unihost,
        Some(text) => text.parse::<decnet_domain::Mode>().map_err(|e| invalid(format!("mode: {e}")))?,
    };
    let target = target_host_uuid.filter(|t| !t.is_empty());
    match (mode, &target) {
        (decnet_domain::Mode::Agent, None) => Err(invalid("target_host_uuid is required when mode is agent")),
        (decnet_domain::Mode::Unihost, Some(_)) => {
            Err(invalid("target_host_uuid must not be set when mode is unihost"))
        }
        _ => Ok((mode, target)),
    }
}

impl GenerateRequest {
    /// The name, placement and generator configuration, or the first field that is wrong.
    fn check(
        self,
    ) -> Result<
        (decnet_domain::Name, decnet_domain::Mode, Option<String>, decnet_domain::generator::GeneratorConfig),
        ApiError,
    > {
        let name = self.name.ok_or_else(|| invalid("name: field required"))?;
        let name = decnet_domain::Name::parse(&name).map_err(|e| invalid(format!("name: {e}")))?;
        let (mode, target) = placement(self.mode.as_deref(), self.target_host_uuid)?;
        let range = |field: &str, value: u32, low: u32, high: u32| {
            if (low..=high).contains(&value) {
                Ok(value)
            } else {
                Err(invalid(format!("{field}: must be between {low} and {high}")))
            }
        };
        let probability = |field: &str, value: f64| {
            if (0.0..=1.0).contains(&value) {
                Ok(value)
            } else {
                Err(invalid(format!("{field}: must be between 0 and 1")))
            }
        };
        let depth = range("depth", self.depth.unwrap_or(3), 1, 16)?;
        let branching = range("branching_factor", self.branching_factor.unwrap_or(2), 1, 8)?;
        let min = range("deckies_per_lan_min", self.deckies_per_lan_min.unwrap_or(1), 0, 32)?;
        let max = range("deckies_per_lan_max", self.deckies_per_lan_max.unwrap_or(3), 1, 32)?;
        if min > max {
            return Err(invalid("deckies_per_lan_min must not exceed deckies_per_lan_max"));
        }
        let services = self.services_explicit.filter(|s| !s.is_empty());
        if !self.randomize_services.unwrap_or(true) && services.is_none() {
            return Err(invalid("either randomize_services or a non-empty services_explicit is required"));
        }
        let subnet_base = match self.subnet_base {
            Some(text) => text.parse().map_err(|_| invalid("subnet_base: not an IPv4 CIDR"))?,
            None => decnet_domain::alloc::default_subnet_base(),
        };
        let dmz_attachment = match self.dmz_attachment {
            Some(view) => serde_json::to_value(view)
                .and_then(serde_json::from_value)
                .map_err(|e| invalid(format!("dmz_attachment: {e}")))?,
            None => decnet_domain::attachment::Attachment::Bridge,
        };
        let dmz_subnet = match self.dmz_subnet {
            Some(text) => Some(text.parse().map_err(|_| invalid("dmz_subnet: not an IPv4 CIDR"))?),
            None => None,
        };
        let config = decnet_domain::generator::GeneratorConfig {
            dmz_attachment,
            dmz_subnet,
            subnet_base,
            gateway: self.gateway.unwrap_or(true),
            lures: self.lures.unwrap_or_default(),
            depth,
            branching,
            deckies_per_lan_min: min,
            deckies_per_lan_max: max,
            bridge_forward_p: probability(
                "bridge_forward_probability",
                self.bridge_forward_probability.unwrap_or(1.0),
            )?,
            cross_edge_p: probability("cross_edge_probability", self.cross_edge_probability.unwrap_or(0.0))?,
            services,
            // A random seed is still recorded, so the design can be generated again.
            seed: self.seed.unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0),
        };
        Ok((name, mode, target, config))
    }
}

/// Generates a random topology and stores it as pending.
#[utoipa::path(post, path = "/api/v1/topologies", tag = "topologies", request_body = GenerateRequest,
    responses((status = 201, body = wire::TopologySummary)))]
pub(crate) async fn generate(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<GenerateRequest>,
) -> Result<Response, ApiError> {
    let (name, mode, target, config) = request.check()?;
    let topology = state.engine.generate_placed(name, config, mode, target).await?;
    Ok((StatusCode::CREATED, Json(wire::TopologySummary::from(&topology.header))).into_response())
}

/// Creates a pending topology from a document (the format of `export`); missing subnets
/// and IPs are allocated once, here.
#[utoipa::path(post, path = "/api/v1/topologies/import", tag = "topologies", request_body = wire::TopologyDocumentBody,
    responses((status = 201, body = wire::TopologySummary)))]
pub(crate) async fn import(
    State(state): State<AppState>,
    ApiJson(document): ApiJson<wire::TopologyDocumentBody>,
) -> Result<Response, ApiError> {
    let topology = state.engine.create(document.0, "api import").await?;
    Ok((StatusCode::CREATED, Json(wire::TopologySummary::from(&topology.header))).into_response())
}

/// Every validation issue of a topology (with other topologies' claims and host ports).
#[utoipa::path(get, path = "/api/v1/topologies/{id}/validate", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")),
    responses((status = 200, body = wire::ValidationReport)))]
pub(crate) async fn validate(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<wire::ValidationReport>, ApiError> {
    let id = state.engine.store().resolve(&key).await?;
    Ok(Json(wire::ValidationReport::new(&state.engine.validate(id).await?)))
}

/// The topology as a document (names, subnets, IPs, memberships, services), which
/// `import` takes back.
#[utoipa::path(get, path = "/api/v1/topologies/{id}/export", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")),
    responses((status = 200, body = wire::TopologyDocumentBody)))]
pub(crate) async fn export(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<wire::TopologyDocumentBody>, ApiError> {
    let id = state.engine.store().resolve(&key).await?;
    let topology = state.engine.store().topology(id).await?;
    let header = &topology.header;
    let document = decnet_domain::document::from_design(
        &header.name,
        header.mode,
        header.target_host.as_deref(),
        decnet_domain::lures::density_of(&header.config_snapshot),
        &topology.design,
    );
    Ok(Json(wire::TopologyDocumentBody(document)))
}

/// Validates at once (422 with every issue), then deploys in the background: 202.
#[utoipa::path(post, path = "/api/v1/topologies/{id}/deploy", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")),
    responses((status = 202, body = wire::TopologySummary)))]
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
    Ok((StatusCode::ACCEPTED, Json(wire::TopologySummary::from(&header))).into_response())
}

/// Checks that a teardown may start, then tears down in the background: 202.
#[utoipa::path(post, path = "/api/v1/topologies/{id}/teardown", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")),
    responses((status = 202, body = wire::TopologySummary)))]
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
    Ok((StatusCode::ACCEPTED, Json(wire::TopologySummary::from(&header))).into_response())
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
    responses((status = 200, body = Vec<wire::StatusEventRow>)))]
pub(crate) async fn status_events(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<Vec<wire::StatusEventRow>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(ErrorKind::BadRequest, "invalid_parameter", "limit: must be between 1 and 1000"));
    }
    let id = state.engine.store().resolve(&key).await?;
    let events = state.engine.store().status_events(id, limit).await?;
    Ok(Json(events.iter().map(|e| wire::StatusEventRow::new(id, e)).collect()))
}

/// The same 409 the store gives when a status forbids an action.
fn wrong_status(status: TopologyStatus, action: &str, allowed: &str) -> ApiError {
    decnet_store::StoreError::WrongStatus { status, action: action.into(), allowed: allowed.into() }.into()
}
