//! The OpenAPI document, generated from the handlers' annotations, served at
//! `/api/v1/openapi.json` with an offline Swagger UI at `/api/docs`.
//!
//! The schemas below describe the wire shapes for the document only; the handlers build
//! the same shapes (the API's tests and schemathesis check that they agree). Every
//! operation also answers the one error body for any 4xx, and every operation but login
//! and the probes needs a bearer token: both are added here rather than repeated on each
//! handler.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

/// The one error body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorBody {
    /// Human-readable message (the original API's field).
    detail: String,
    /// Machine code, e.g. `not_found`, `version_conflict`, `refused`.
    error: String,
    /// Validation issues, when there are any.
    issues: Vec<IssueDoc>,
}

/// A validation issue with its stable code.
#[derive(ToSchema)]
#[schema(as = Issue)]
#[allow(dead_code)]
pub(crate) struct IssueDoc {
    /// `error` or `warning`.
    severity: String,
    /// Stable rule code, e.g. `SUBNET_OVERLAP`.
    code: String,
    /// What is wrong.
    message: String,
    /// Where (LAN, decky, service, field).
    target: BTreeMap<String, Value>,
}

/// A topology's summary.
#[derive(ToSchema)]
#[schema(as = TopologySummary)]
#[allow(dead_code)]
pub(crate) struct TopologySummaryDoc {
    id: uuid::Uuid,
    name: String,
    /// `unihost` or `agent`.
    mode: String,
    target_host: Option<String>,
    /// `pending`, `deploying`, `active`, `degraded`, `failed`, `tearing_down` or `torn_down`.
    status: String,
    /// Bumped by every write; the ETag and `expected_version` use it.
    version: i64,
    generation: i64,
    /// Bumped by every change of a decky's observed state.
    observed: i64,
    created_at: DateTime<Utc>,
    status_changed_at: DateTime<Utc>,
    /// How it was made (generator parameters or import source).
    config_snapshot: Value,
}

/// A page of topologies.
#[derive(ToSchema)]
#[schema(as = TopologyPage)]
#[allow(dead_code)]
pub(crate) struct TopologyPageDoc {
    total: i64,
    limit: i64,
    offset: i64,
    data: Vec<TopologySummaryDoc>,
}

/// A whole topology.
#[derive(ToSchema)]
#[schema(as = TopologyDetail)]
#[allow(dead_code)]
pub(crate) struct TopologyDetailDoc {
    topology: TopologySummaryDoc,
    lans: Vec<LanDoc>,
    deckies: Vec<BTreeMap<String, Value>>,
    edges: Vec<BTreeMap<String, Value>>,
}

/// A LAN.
#[derive(ToSchema)]
#[schema(as = Lan)]
#[allow(dead_code)]
pub(crate) struct LanDoc {
    name: String,
    subnet: String,
    is_dmz: bool,
    x: Option<f64>,
    y: Option<f64>,
}

/// The result of a pending edit: the new version and the edited item.
#[derive(ToSchema)]
#[schema(as = EditResult)]
#[allow(dead_code)]
pub(crate) struct EditResultDoc {
    version: i64,
    item: BTreeMap<String, Value>,
}

/// A queued mutation.
#[derive(ToSchema)]
#[schema(as = Mutation)]
#[allow(dead_code)]
pub(crate) struct MutationDoc {
    id: i64,
    topology_id: uuid::Uuid,
    op: String,
    payload: Value,
    /// `pending`, `applying`, `applied` or `failed`.
    state: String,
    reason: Option<String>,
    codes: Vec<String>,
    lease_owner: Option<String>,
    lease_deadline: Option<DateTime<Utc>>,
    attempts: i64,
    requested_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

/// The answer to an enqueue.
#[derive(ToSchema)]
#[schema(as = Enqueued)]
#[allow(dead_code)]
pub(crate) struct EnqueuedDoc {
    mutation_id: i64,
    state: String,
    op: String,
    /// The topology's version after the enqueue.
    version: i64,
}

/// A dry-run plan.
#[derive(ToSchema)]
#[schema(as = PlanResult)]
#[allow(dead_code)]
pub(crate) struct PlanDoc {
    accepted: bool,
    /// The runtime actions the mutation would take.
    actions: Vec<Value>,
    /// Refusal codes (when refused).
    #[schema(required = false)]
    codes: Vec<String>,
    issues: Vec<IssueDoc>,
}

/// A recorded status transition.
#[derive(ToSchema)]
#[schema(as = StatusEvent)]
#[allow(dead_code)]
pub(crate) struct StatusEventDoc {
    id: i64,
    from: String,
    to: String,
    at: DateTime<Utc>,
    reason: String,
}

/// An event of the log.
#[derive(ToSchema)]
#[schema(as = Event)]
#[allow(dead_code)]
pub(crate) struct EventDoc {
    id: i64,
    at: DateTime<Utc>,
    topology_id: Option<uuid::Uuid>,
    kind: String,
    decky: Option<String>,
    service: Option<String>,
    source_ip: Option<String>,
    payload: Value,
}

/// A page of events.
#[derive(ToSchema)]
#[schema(as = EventPage)]
#[allow(dead_code)]
pub(crate) struct EventPageDoc {
    data: Vec<EventDoc>,
    /// Pass as `cursor` for the next page; null when this was the last.
    next_cursor: Option<i64>,
}

/// A user (never the password hash).
#[derive(ToSchema)]
#[schema(as = User)]
#[allow(dead_code)]
pub(crate) struct UserDoc {
    username: String,
    /// `admin` or `viewer`.
    role: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A login's answer.
#[derive(ToSchema)]
#[schema(as = Token)]
#[allow(dead_code)]
pub(crate) struct TokenDoc {
    access_token: String,
    /// Always `bearer`.
    token_type: String,
    /// Seconds until the token expires.
    expires_in: u64,
    role: String,
}

/// Adds the bearer scheme, the global security requirement and the 4XX error body.
struct Conventions;

/// Operations anyone may call.
const OPEN: &[&str] = &["/healthz", "/readyz", "/api/v1/auth/login"];

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        let error = ResponseBuilder::new()
            .description(
                "The one error body: a client error (bad input, no or bad token, role, missing, conflict, limits)",
            )
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("ErrorBody"))))
                    .build(),
            )
            .build();
        for (path, item) in openapi.paths.paths.iter_mut() {
            let open = OPEN.contains(&path.as_str());
            for operation in
                [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
            {
                operation.responses.responses.entry("4XX".into()).or_insert_with(|| RefOr::T(error.clone()));
                operation.security = Some(if open {
                    vec![SecurityRequirement::default()]
                } else {
                    vec![SecurityRequirement::new("bearer", Vec::<String>::new())]
                });
            }
        }
    }
}

/// The API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "DECNET API", description = "Design, deploy and live-edit deception networks."),
    paths(
        crate::topologies::healthz,
        crate::topologies::ready,
        crate::users::login,
        crate::users::logout,
        crate::users::me,
        crate::users::list,
        crate::users::create,
        crate::users::show,
        crate::users::update,
        crate::users::delete,
        crate::events::list,
        crate::events::stream,
        crate::topologies::list,
        crate::topologies::generate,
        crate::topologies::services,
        crate::topologies::service_schema,
        crate::topologies::archetypes,
        crate::design::blank,
        crate::design::next_subnet,
        crate::design::reap_orphans,
        crate::topologies::import,
        crate::topologies::validate,
        crate::topologies::export,
        crate::topologies::show,
        crate::topologies::delete,
        crate::topologies::deploy,
        crate::topologies::teardown,
        crate::topologies::status_events,
        crate::topologies::mutations,
        crate::topologies::enqueue,
        crate::topologies::plan,
        crate::design::add_lan,
        crate::design::update_lan,
        crate::design::remove_lan,
        crate::design::next_ip,
        crate::design::add_decky,
        crate::design::update_decky,
        crate::design::remove_decky,
        crate::design::add_edge,
        crate::design::remove_edge,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Conventions),
    tags(
        (name = "auth", description = "Login, logout, users"),
        (name = "topologies", description = "Topologies, their lifecycle and the mutation queue"),
        (name = "design", description = "Editing pending topologies"),
        (name = "events", description = "The event log and live stream"),
        (name = "health", description = "Probes"),
    )
)]
pub struct ApiDoc;
