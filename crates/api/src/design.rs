//! Design-time routes under `/api/v1/topologies`: blank topologies, pending-only CRUD of
//! LANs, deckies and edges (each edit atomic and guarded by `expected_version`), address
//! suggestions, and the orphan reaper.
//!
//! Edits speak the mutation vocabulary (`add_lan`, `update_decky`, ...), so a pending edit
//! and a live mutation of the same change take the same body and obey the same guards.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use decnet_domain::{Code, Design, Name, TopologyId};
use decnet_engine::EngineError;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{ApiError, ApiJson, ApiQuery, AppState, dto};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/blank", post(blank))
        .route("/next-subnet", get(next_subnet))
        .route("/reap-orphans", post(reap_orphans))
        .route("/{id}/lans", post(add_lan))
        .route("/{id}/lans/{lan}", patch(update_lan).delete(remove_lan))
        .route("/{id}/lans/{lan}/next-ip", get(next_ip))
        .route("/{id}/deckies", post(add_decky))
        .route("/{id}/deckies/{decky}", patch(update_decky).delete(remove_decky))
        .route("/{id}/edges", post(add_edge))
        .route("/{id}/edges/{decky}/{lan}", delete(remove_edge))
}

/// An edit's failure: unknown LAN or decky 404, a name already used 409, a malformed
/// body 422, any other broken guard 400 (with its issues), as the original maps them.
fn edit_error(err: EngineError) -> ApiError {
    let refusal = match err {
        EngineError::Refused(refusal) | EngineError::Store(decnet_store::StoreError::Refused(refusal)) => refusal,
        other => return other.into(),
    };
    let codes = refusal.codes();
    let has = |code: Code| codes.contains(&code.as_str());
    let (status, error) = if has(Code::LanNotFound) || has(Code::DeckyNotFound) || has(Code::NotAttached) {
        (StatusCode::NOT_FOUND, "not_found")
    } else if has(Code::LanExists) || has(Code::DeckyExists) || has(Code::AlreadyAttached) {
        (StatusCode::CONFLICT, "name_taken")
    } else if has(Code::PayloadInvalid) {
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
    } else if has(Code::SubnetExhausted) || has(Code::IpExhausted) {
        (StatusCode::CONFLICT, "exhausted")
    } else {
        (StatusCode::BAD_REQUEST, "refused")
    };
    ApiError::new(status, error, refusal.to_string()).with_issues(refusal.issues)
}

/// Splits `expected_version` off an edit body.
fn take_version(body: &mut Map<String, Value>) -> Result<Option<i64>, ApiError> {
    match body.remove("expected_version") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
        Some(_) => {
            Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", "expected_version: must be an integer"))
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct VersionQuery {
    /// Refuse (409) unless the topology is at this version.
    expected_version: Option<i64>,
}

/// Runs one edit and answers with the edited item (or 204 for removals).
async fn edit(
    state: &AppState,
    key: &str,
    op: &str,
    payload: Value,
    expected_version: Option<i64>,
    created: bool,
    show: impl FnOnce(&Design) -> Option<Value>,
) -> Result<Response, ApiError> {
    let id = state.engine.store().resolve(key).await?;
    let (header, design) = state.engine.edit_pending(id, op, &payload, expected_version).await.map_err(edit_error)?;
    let Some(item) = show(&design) else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({ "version": header.version, "item": item }))).into_response())
}

fn lan_of(name: Option<&str>) -> impl FnOnce(&Design) -> Option<Value> + '_ {
    move |design| name.and_then(|n| Name::parse(n).ok()).and_then(|n| design.lans.get(&n)).map(dto::lan)
}

fn decky_of(name: Option<&str>) -> impl FnOnce(&Design) -> Option<Value> + '_ {
    move |design| {
        let name = Name::parse(name?).ok()?;
        let decky = design.deckies.get(&name)?;
        Some(dto::decky(design, decky, &Default::default()))
    }
}

/// Adds a LAN to a pending topology (`add_lan` fields; a subnet is allocated when none is given).
#[utoipa::path(post, path = "/api/v1/topologies/{id}/lans", tag = "design", params(("id" = String, Path, description = "Topology id or name")), request_body = Object,
    responses((status = 201, body = crate::openapi::EditResultDoc)))]
pub(crate) async fn add_lan(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(mut body): ApiJson<Map<String, Value>>,
) -> Result<Response, ApiError> {
    let version = take_version(&mut body)?;
    let name = body.get("name").and_then(Value::as_str).map(str::to_owned);
    edit(&state, &key, "add_lan", Value::Object(body), version, true, lan_of(name.as_deref())).await
}

/// Renames, re-addresses, moves or flips the DMZ flag of a LAN of a pending topology.
#[utoipa::path(patch, path = "/api/v1/topologies/{id}/lans/{lan}", tag = "design", params(("id" = String, Path, description = "Topology id or name"), ("lan" = String, Path)),
    request_body = Object, responses((status = 200, body = crate::openapi::EditResultDoc)))]
pub(crate) async fn update_lan(
    State(state): State<AppState>,
    Path((key, lan)): Path<(String, String)>,
    ApiJson(mut body): ApiJson<Map<String, Value>>,
) -> Result<Response, ApiError> {
    let version = take_version(&mut body)?;
    let renamed = body.get("name").and_then(Value::as_str).map_or_else(|| lan.clone(), str::to_owned);
    let payload = json!({ "name": lan, "patch": body });
    edit(&state, &key, "update_lan", payload, version, false, lan_of(Some(&renamed))).await
}

/// Removes a LAN of a pending topology.
#[utoipa::path(delete, path = "/api/v1/topologies/{id}/lans/{lan}", tag = "design", params(("id" = String, Path, description = "Topology id or name"), ("lan" = String, Path), VersionQuery),
    responses((status = 204, description = "Removed")))]
pub(crate) async fn remove_lan(
    State(state): State<AppState>,
    Path((key, lan)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<Response, ApiError> {
    edit(&state, &key, "remove_lan", json!({ "name": lan }), q.expected_version, false, |_| None).await
}

/// Adds a decky to a pending topology (`add_decky` fields).
#[utoipa::path(post, path = "/api/v1/topologies/{id}/deckies", tag = "design", params(("id" = String, Path, description = "Topology id or name")), request_body = Object,
    responses((status = 201, body = crate::openapi::EditResultDoc)))]
pub(crate) async fn add_decky(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(mut body): ApiJson<Map<String, Value>>,
) -> Result<Response, ApiError> {
    let version = take_version(&mut body)?;
    let name = body.get("name").and_then(Value::as_str).map(str::to_owned);
    edit(&state, &key, "add_decky", Value::Object(body), version, true, decky_of(name.as_deref())).await
}

/// `services`, `x` and `y` are the update's own fields; everything else is the patch
/// (`forwards_l3`, `archetype`, `service_config`; anything unknown is refused there).
#[utoipa::path(patch, path = "/api/v1/topologies/{id}/deckies/{decky}", tag = "design", params(("id" = String, Path, description = "Topology id or name"), ("decky" = String, Path)),
    request_body = Object, responses((status = 200, body = crate::openapi::EditResultDoc)))]
pub(crate) async fn update_decky(
    State(state): State<AppState>,
    Path((key, decky)): Path<(String, String)>,
    ApiJson(mut body): ApiJson<Map<String, Value>>,
) -> Result<Response, ApiError> {
    let version = take_version(&mut body)?;
    let mut payload = Map::new();
    payload.insert("decky".into(), Value::from(decky.as_str()));
    for field in ["services", "x", "y"] {
        if let Some(value) = body.remove(field) {
            payload.insert(field.into(), value);
        }
    }
    payload.insert("patch".into(), Value::Object(body));
    edit(&state, &key, "update_decky", Value::Object(payload), version, false, decky_of(Some(&decky))).await
}

/// Removes a decky of a pending topology.
#[utoipa::path(delete, path = "/api/v1/topologies/{id}/deckies/{decky}", tag = "design", params(("id" = String, Path, description = "Topology id or name"), ("decky" = String, Path), VersionQuery),
    responses((status = 204, description = "Removed")))]
pub(crate) async fn remove_decky(
    State(state): State<AppState>,
    Path((key, decky)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<Response, ApiError> {
    edit(&state, &key, "remove_decky", json!({ "decky": decky }), q.expected_version, false, |_| None).await
}

/// Puts a decky on another LAN of a pending topology (`attach_decky` fields).
#[utoipa::path(post, path = "/api/v1/topologies/{id}/edges", tag = "design", params(("id" = String, Path, description = "Topology id or name")), request_body = Object,
    responses((status = 201, body = crate::openapi::EditResultDoc)))]
pub(crate) async fn add_edge(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(mut body): ApiJson<Map<String, Value>>,
) -> Result<Response, ApiError> {
    let version = take_version(&mut body)?;
    let decky = body.get("decky").and_then(Value::as_str).map(str::to_owned);
    let lan = body.get("lan").and_then(Value::as_str).map(str::to_owned);
    let show = move |design: &Design| {
        let (decky, lan) = (Name::parse(decky.as_deref()?).ok()?, Name::parse(lan.as_deref()?).ok()?);
        design.edges().find(|e| e.decky == decky && e.lan == lan).and_then(|e| serde_json::to_value(e).ok())
    };
    edit(&state, &key, "attach_decky", Value::Object(body), version, true, show).await
}

/// Takes a decky off a LAN (not its home) of a pending topology.
#[utoipa::path(delete, path = "/api/v1/topologies/{id}/edges/{decky}/{lan}", tag = "design",
    params(("id" = String, Path, description = "Topology id or name"), ("decky" = String, Path), ("lan" = String, Path), VersionQuery),
    responses((status = 204, description = "Removed")))]
pub(crate) async fn remove_edge(
    State(state): State<AppState>,
    Path((key, decky, lan)): Path<(String, String, String)>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<Response, ApiError> {
    edit(&state, &key, "detach_decky", json!({ "decky": decky, "lan": lan }), q.expected_version, false, |_| None).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BlankRequest {
    name: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    mode: decnet_domain::Mode,
    #[serde(default)]
    target_host: Option<String>,
}

/// `POST /blank`: a pending topology with a DMZ (`dmz`, the next free /24) and its
/// gateway (`dmz-gateway`, ssh, routing on) to start drawing from.
#[utoipa::path(post, path = "/api/v1/topologies/blank", tag = "design", request_body = BlankRequest,
    responses((status = 201, body = crate::openapi::TopologySummaryDoc)))]
pub(crate) async fn blank(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<BlankRequest>,
) -> Result<Response, ApiError> {
    let document = json!({
        "name": request.name,
        "mode": request.mode,
        "target_host": request.target_host,
        "lans": [{ "name": "dmz", "is_dmz": true, "x": 40.0, "y": 40.0 }],
        "deckies": [{
            "name": "dmz-gateway", "home_lan": "dmz", "networks": [{ "lan": "dmz" }], "services": ["ssh"],
            "archetype": "deaddeck", "forwards_l3": true, "x": 20.0, "y": 60.0,
        }],
    });
    let document = serde_json::from_value(document)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", e.to_string()))?;
    let topology = state.engine.create(document, "blank").await.map_err(|err| match err {
        EngineError::Refused(refusal) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", refusal.to_string()).with_issues(refusal.issues)
        }
        other => other.into(),
    })?;
    Ok((StatusCode::CREATED, Json(dto::header(&topology.header))).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct NextSubnetQuery {
    /// A CIDR of /24 or wider.
    base: Option<String>,
}

/// The first /24 under `base` (default 172.16.0.0/12) that no topology holds.
#[utoipa::path(get, path = "/api/v1/topologies/next-subnet", tag = "design", params(NextSubnetQuery),
    responses((status = 200, body = Object)))]
pub(crate) async fn next_subnet(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<NextSubnetQuery>,
) -> Result<Json<Value>, ApiError> {
    let base = match q.base {
        Some(text) => text
            .parse()
            .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", "base: not an IPv4 CIDR"))?,
        None => decnet_domain::alloc::default_subnet_base(),
    };
    let subnet = state.engine.next_subnet(base).await.map_err(edit_error)?;
    Ok(Json(json!({ "subnet": subnet.to_string() })))
}

/// A LAN's subnet and its first free address (nothing is reserved).
#[utoipa::path(get, path = "/api/v1/topologies/{id}/lans/{lan}/next-ip", tag = "design", params(("id" = String, Path, description = "Topology id or name"), ("lan" = String, Path)),
    responses((status = 200, body = Object)))]
pub(crate) async fn next_ip(
    State(state): State<AppState>,
    Path((key, lan)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let id: TopologyId = state.engine.store().resolve(&key).await?;
    let lan =
        Name::parse(&lan).map_err(|e| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("LAN {lan}: {e}")))?;
    let (subnet, ip) = state.engine.next_ip(id, &lan).await.map_err(edit_error)?;
    Ok(Json(json!({ "subnet": subnet.to_string(), "ip": ip.to_string() })))
}

/// Removes labelled containers and networks of topologies the store does not know.
#[utoipa::path(post, path = "/api/v1/topologies/reap-orphans", tag = "design", responses((status = 200, body = Object)))]
pub(crate) async fn reap_orphans(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let reaped = state.engine.reap_orphans(None).await?;
    Ok(Json(json!({ "reaped": reaped })))
}
