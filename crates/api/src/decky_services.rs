//! The original's per-decky service routes under `/api/v1/topologies/{id}/deckies/{decky}/
//! services`: add a service, save or apply its config, remove it.
//!
//! Each is one `update_decky` of the mutation vocabulary: applied at once to a pending
//! topology, queued for the reconciler on an active or degraded one (which recreates only
//! that service's container), refused (409) in any other status — the original had no
//! status check and half-applied on failure.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::{Json, Router};
use decnet_domain::{Code, Decky, ErrorKind, Name, TopologyId, TopologyStatus, catalogue};
use decnet_engine::EngineError;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{ApiError, ApiJson, AppState, wire};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/{id}/deckies/{decky}/services", post(add_service))
        .route("/{id}/deckies/{decky}/services/{service}", axum::routing::delete(remove_service))
        .route("/{id}/deckies/{decky}/services/{service}/config", put(save_config))
        .route("/{id}/deckies/{decky}/services/{service}/apply", post(apply_config))
        .route("/{id}/deckies/{decky}/tarpit", post(tarpit).get(tarpit).delete(tarpit))
}

/// The original's tarpit (traffic shaping of a decky with `tc` on the host): not offered;
/// 501 says so instead of a bare 404.
#[utoipa::path(post, path = "/api/v1/topologies/{id}/deckies/{decky}/tarpit", tag = "design",
    params(("id" = String, Path, description = "Topology id or name"), ("decky" = String, Path)),
    responses((status = 501, description = "Not offered", body = wire::ErrorBody)))]
pub(crate) async fn tarpit() -> ApiError {
    ApiError::new(
        ErrorKind::NotImplemented,
        "not_implemented",
        "tarpits are not offered: the original shaped a decky's traffic with tc on the host (see docs/api-compat.md)",
    )
}

/// A service to add.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddService {
    /// The service's slug.
    name: String,
    /// Its config (the catalogue's keys).
    #[serde(default)]
    #[schema(value_type = Object)]
    config: Map<String, Value>,
}

/// A service's new config.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceConfigBody {
    /// The config (the catalogue's keys).
    #[serde(default)]
    #[schema(value_type = Object)]
    config: Map<String, Value>,
}

/// The decky and topology of a path, the topology's status and the decky as it is now.
async fn locate(state: &AppState, key: &str, decky: &str) -> Result<(TopologyId, TopologyStatus, Decky), ApiError> {
    let id = state.engine.store().resolve(key).await?;
    let topology = state.engine.store().topology(id).await?;
    let not_found = || ApiError::new(ErrorKind::NotFound, "not_found", format!("decky {decky} not found"));
    let name = Name::parse(decky).map_err(|_| not_found())?;
    let found = topology.design.deckies.get(&name).ok_or_else(not_found)?;
    Ok((id, topology.header.status, (**found).clone()))
}

/// A refused change as the original answers it: bad config 400, unknown service 422.
fn refused(err: EngineError) -> ApiError {
    let refusal = match err {
        EngineError::Refused(refusal) | EngineError::Store(decnet_store::StoreError::Refused(refusal)) => refusal,
        other => return other.into(),
    };
    let codes = refusal.codes();
    let kind =
        if codes.contains(&Code::UnknownService.as_str()) { ErrorKind::InvalidBody } else { ErrorKind::BadRequest };
    ApiError::new(kind, "refused", refusal.to_string()).with_issues(refusal.issues)
}

/// Refuses (400, with one issue per problem) a config the service does not take; the
/// original answers 400 here, where a pending design would otherwise take it as a draft.
fn check_config(decky: &Name, service: &str, config: &Map<String, Value>) -> Result<(), ApiError> {
    let Some(found) = catalogue::service(service) else { return Ok(()) };
    let issues: Vec<decnet_domain::Issue> = found
        .config_problems(config)
        .into_iter()
        .map(|(key, problem)| {
            decnet_domain::Issue::error(
                Code::ServiceCfgInvalid,
                decnet_domain::Target {
                    field: Some(format!("config.{key}")),
                    ..decnet_domain::Target::service(decky.as_str(), service)
                },
                format!("service {service}: {problem}"),
            )
        })
        .collect();
    if issues.is_empty() {
        return Ok(());
    }
    let detail = issues.iter().map(|i| i.message.clone()).collect::<Vec<_>>().join("; ");
    Err(ApiError::new(ErrorKind::BadRequest, "invalid_config", detail).with_issues(issues))
}

/// Applies `update_decky` with `payload`: at once while pending, through the queue while
/// deployed. The mutation id when it was queued.
async fn change(
    state: &AppState,
    id: TopologyId,
    status: TopologyStatus,
    payload: Value,
) -> Result<Option<i64>, ApiError> {
    match status {
        TopologyStatus::Pending => {
            state.engine.edit_pending(id, "update_decky", &payload, None).await.map_err(refused)?;
            Ok(None)
        }
        status if status.accepts_mutations() => {
            // Planned now, so a refusal answers here rather than failing in the queue.
            state.engine.plan_dry_run(id, "update_decky", &payload).await.map_err(refused)?;
            let (mutation, _) = state.engine.enqueue(id, "update_decky", &payload, None).await.map_err(refused)?;
            Ok(Some(mutation.id))
        }
        status => Err(ApiError::from(decnet_store::StoreError::WrongStatus {
            status,
            action: "changing a decky's services".into(),
            allowed: "pending, active or degraded".into(),
        })),
    }
}

/// Adds a service (with its config) to a decky.
#[utoipa::path(post, path = "/api/v1/topologies/{id}/deckies/{decky}/services", tag = "design",
    params(("id" = String, Path, description = "Topology id or name"), ("decky" = String, Path, description = "Decky name")),
    request_body = AddService, responses((status = 201, body = wire::DeckyServices)))]
pub(crate) async fn add_service(
    State(state): State<AppState>,
    Path((key, decky)): Path<(String, String)>,
    ApiJson(body): ApiJson<AddService>,
) -> Result<Response, ApiError> {
    let (id, status, found) = locate(&state, &key, &decky).await?;
    if catalogue::decky_service(&body.name).is_none() {
        let why =
            if catalogue::service(&body.name).is_some() { "runs once per host, not on a decky" } else { "is unknown" };
        return Err(ApiError::new(ErrorKind::InvalidBody, "unknown_service", format!("service {} {why}", body.name)));
    }
    if found.services.contains(&body.name) {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            "already_present",
            format!("decky {decky} already runs {}", body.name),
        ));
    }
    check_config(&found.name, &body.name, &body.config)?;
    let mut services = found.services.clone();
    services.push(body.name.clone());
    services.sort();
    let payload =
        json!({ "decky": found.name, "services": services, "patch": { "service_config": { body.name: body.config } } });
    let mutation_id = change(&state, id, status, payload).await?;
    let answer = wire::DeckyServices { decky_name: found.name.to_string(), topology_id: id.0, services, mutation_id };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// Removes a service from a decky.
#[utoipa::path(delete, path = "/api/v1/topologies/{id}/deckies/{decky}/services/{service}", tag = "design",
    params(("id" = String, Path, description = "Topology id or name"), ("decky" = String, Path), ("service" = String, Path)),
    responses((status = 200, body = wire::DeckyServices)))]
pub(crate) async fn remove_service(
    State(state): State<AppState>,
    Path((key, decky, service)): Path<(String, String, String)>,
) -> Result<Json<wire::DeckyServices>, ApiError> {
    let (id, status, found) = locate(&state, &key, &decky).await?;
    if !found.services.contains(&service) {
        return Err(ApiError::new(ErrorKind::Conflict, "not_present", format!("decky {decky} does not run {service}")));
    }
    let services: Vec<String> = found.services.iter().filter(|s| **s != service).cloned().collect();
    let payload = json!({ "decky": found.name, "services": services });
    let mutation_id = change(&state, id, status, payload).await?;
    Ok(Json(wire::DeckyServices { decky_name: found.name.to_string(), topology_id: id.0, services, mutation_id }))
}

/// Sets one service's config.
async fn set_config(
    state: &AppState,
    key: &str,
    decky: &str,
    service: &str,
    config: Map<String, Value>,
) -> Result<wire::ServiceConfigChange, ApiError> {
    let (id, status, found) = locate(state, key, decky).await?;
    if !found.services.iter().any(|s| s == service) {
        return Err(ApiError::new(ErrorKind::NotFound, "not_found", format!("decky {decky} does not run {service}")));
    }
    check_config(&found.name, service, &config)?;
    let payload = json!({ "decky": found.name, "patch": { "service_config": { service: config.clone() } } });
    let mutation_id = change(state, id, status, payload).await?;
    Ok(wire::ServiceConfigChange {
        decky_name: found.name.to_string(),
        service_name: service.to_owned(),
        topology_id: id.0,
        config,
        // A deployed decky's service is recreated with the new config (that is the queued
        // mutation's action); a pending one has nothing running yet.
        recreated: mutation_id.is_some(),
        mutation_id,
    })
}

/// Saves a service's config. On a deployed topology the service is recreated with it as
/// well (`recreated: true`): a decoy reads its config only at start, and a saved config
/// that is not applied would be a design that differs from what runs.
#[utoipa::path(put, path = "/api/v1/topologies/{id}/deckies/{decky}/services/{service}/config", tag = "design",
    params(("id" = String, Path, description = "Topology id or name"), ("decky" = String, Path), ("service" = String, Path)),
    request_body = ServiceConfigBody, responses((status = 200, body = wire::ServiceConfigChange)))]
pub(crate) async fn save_config(
    State(state): State<AppState>,
    Path((key, decky, service)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<ServiceConfigBody>,
) -> Result<Json<wire::ServiceConfigChange>, ApiError> {
    Ok(Json(set_config(&state, &key, &decky, &service, body.config).await?))
}

/// Saves a service's config and recreates the service with it.
#[utoipa::path(post, path = "/api/v1/topologies/{id}/deckies/{decky}/services/{service}/apply", tag = "design",
    params(("id" = String, Path, description = "Topology id or name"), ("decky" = String, Path), ("service" = String, Path)),
    request_body = ServiceConfigBody, responses((status = 201, body = wire::ServiceConfigChange)))]
pub(crate) async fn apply_config(
    State(state): State<AppState>,
    Path((key, decky, service)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<ServiceConfigBody>,
) -> Result<Response, ApiError> {
    let answer = set_config(&state, &key, &decky, &service, body.config).await?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}
