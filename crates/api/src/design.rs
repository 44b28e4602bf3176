//! Design-time routes under `/api/v1/topologies`: pending-only CRUD of LANs, deckies and
//! edges (each edit atomic and guarded by `expected_version`) and a LAN's next free
//! address. Blank topologies, subnet suggestions and the reaper are in `design_tools`.
//!
//! Items are addressed as the original API addresses them (`lans/{lan_id}`,
//! `deckies/{uuid}`, `edges/{edge_id}`) or by name, and take the original's bodies as
//! well as ours. Every edit is translated into ops of the mutation vocabulary (`add_lan`,
//! `attach_decky`, ...) applied together in one transaction, so a pending edit and a live
//! mutation of the same change obey the same guards.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use decnet_domain::{Code, Decky, Design, ItemId, Lan, Name, TopologyId};
use decnet_engine::EngineError;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::topologies::MutationRequest;
use crate::{ApiError, ApiJson, ApiQuery, AppState, wire};
use decnet_domain::ErrorKind;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/{id}/edits", post(apply_edit))
        .route("/{id}/lans", post(add_lan))
        .route("/{id}/lans/{lan}", patch(update_lan).delete(remove_lan))
        .route("/{id}/lans/{lan}/next-ip", get(next_ip))
        .route("/{id}/deckies", post(add_decky))
        .route("/{id}/deckies/{decky}", patch(update_decky).delete(remove_decky))
        .route("/{id}/edges", post(add_edge))
        .route("/{id}/edges/{edge}", delete(remove_edge))
        .route("/{id}/edges/{decky}/{lan}", delete(remove_edge_by_names))
}

/// An edit's failure: unknown LAN or decky 404, a name already used 409, a malformed
/// body 422, any other broken guard 400 (with its issues), as the original maps them.
pub(crate) fn edit_error(err: EngineError) -> ApiError {
    let refusal = match err {
        EngineError::Refused(refusal) | EngineError::Store(decnet_store::StoreError::Refused(refusal)) => refusal,
        other => return other.into(),
    };
    let codes = refusal.codes();
    let has = |code: Code| codes.contains(&code.as_str());
    let (kind, error) = if has(Code::LanNotFound) || has(Code::DeckyNotFound) || has(Code::NotAttached) {
        (ErrorKind::NotFound, "not_found")
    } else if has(Code::LanExists) || has(Code::DeckyExists) || has(Code::AlreadyAttached) {
        (ErrorKind::Conflict, "name_taken")
    } else if has(Code::PayloadInvalid) {
        (ErrorKind::InvalidBody, "invalid_body")
    } else if has(Code::SubnetExhausted) || has(Code::IpExhausted) {
        (ErrorKind::Conflict, "exhausted")
    } else {
        (ErrorKind::BadRequest, "refused")
    };
    ApiError::new(kind, error, refusal.to_string()).with_issues(refusal.issues)
}

pub(crate) fn bad_request(detail: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::BadRequest, "invalid_parameter", detail)
}

fn not_found(what: &str, key: &str) -> ApiError {
    ApiError::new(ErrorKind::NotFound, "not_found", format!("{what} {key} not found"))
}

/// The LAN a path segment or body field names: its id, or its name.
fn find_lan<'a>(design: &'a Design, key: &str) -> Option<&'a Lan> {
    match key.parse::<uuid::Uuid>() {
        Ok(id) => design.lan_by_id(ItemId(id)),
        Err(_) => Name::parse(key).ok().and_then(|name| design.lans.get(&name)),
    }
}

/// The decky a path segment or body field names: its uuid, or its name.
fn find_decky<'a>(design: &'a Design, key: &str) -> Option<&'a Decky> {
    match key.parse::<uuid::Uuid>() {
        Ok(id) => design.decky_by_id(ItemId(id)),
        Err(_) => Name::parse(key).ok().and_then(|name| design.deckies.get(&name).map(|d| &**d)),
    }
}

/// The topology's id and current design.
async fn current(state: &AppState, key: &str) -> Result<(TopologyId, std::sync::Arc<Design>), ApiError> {
    let id = state.engine.store().resolve(key).await?;
    let topology = state.engine.store().topology(id).await?;
    Ok((id, topology.design.clone()))
}

/// Applies `ops` to the pending topology as one edit; the new version and design.
async fn edit(
    state: &AppState,
    id: TopologyId,
    ops: Vec<(&str, Value)>,
    expected_version: Option<i64>,
) -> Result<(i64, std::sync::Arc<Design>), ApiError> {
    let ops: Vec<(String, Value)> = ops.into_iter().map(|(op, payload)| (op.to_owned(), payload)).collect();
    let (header, design) = state.engine.edit_pending_all(id, &ops, expected_version).await.map_err(edit_error)?;
    Ok((header.version, design))
}

/// The answer to an edit that made or changed a LAN.
fn lan_answer(design: &Design, lan: &Name, version: i64, status: StatusCode) -> Response {
    match design.lans.get(lan) {
        Some(found) => {
            let row = wire::LanRow { topology_version: Some(version), ..wire::LanRow::new(found) };
            (status, Json(row)).into_response()
        }
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// The answer to an edit that made or changed a decky.
fn decky_answer(design: &Design, decky: &Name, version: i64, status: StatusCode) -> Response {
    match design.deckies.get(decky) {
        Some(found) => {
            let row = wire::DeckyRow {
                topology_version: Some(version),
                ..wire::DeckyRow::new(design, found, &Default::default())
            };
            (status, Json(row)).into_response()
        }
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// Puts `value` under `key` when there is one.
fn put(map: &mut Map<String, Value>, key: &str, value: Option<impl Into<Value>>) {
    if let Some(value) = value {
        map.insert(key.to_owned(), value.into());
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct VersionQuery {
    /// Refuse (409) unless the topology is at this version.
    expected_version: Option<i64>,
}

/// A LAN's fields: the original's `POST lans` body (`name` required) and `PATCH
/// lans/{lan_id}` body (each field optional; a new `name` renames).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LanBody {
    /// The name (unique within the topology).
    #[serde(default)]
    name: Option<String>,
    /// IPv4 CIDR: the next free /24 when a new LAN has none; a new subnet gives every
    /// member a fresh address in it.
    #[serde(default)]
    subnet: Option<String>,
    /// Whether it is the DMZ (false for a new LAN).
    #[serde(default)]
    is_dmz: Option<bool>,
    /// How the DMZ meets the host's network (a bridge for a new LAN); a new attachment
    /// gives every member a fresh address in its range.
    #[serde(default)]
    attachment: Option<wire::LanAttachment>,
    /// Canvas position.
    #[serde(default)]
    x: Option<f64>,
    /// Canvas position.
    #[serde(default)]
    y: Option<f64>,
    /// Refuse (409) unless the topology is at this version.
    #[serde(default)]
    expected_version: Option<i64>,
}

impl LanBody {
    /// The LAN fields given, as an op payload or patch.
    fn fields(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        put(&mut fields, "name", self.name.clone());
        put(&mut fields, "subnet", self.subnet.clone());
        put(&mut fields, "is_dmz", self.is_dmz);
        put(&mut fields, "attachment", self.attachment.as_ref().and_then(|a| serde_json::to_value(a).ok()));
        put(&mut fields, "x", self.x);
        put(&mut fields, "y", self.y);
        fields
    }
}

/// Applies one op of the mutation vocabulary to a pending topology at once (a deployed
/// one changes through `mutations`), with the same planning and guards as the queue.
/// Refusals answer as the other design routes do: 404 for a missing LAN or decky, 409 for
/// a name taken or a stale `expected_version`, 400 otherwise, each with its issues.
#[utoipa::path(post, path = "/api/v1/topologies/{id}/edits", tag = "design", params(("id" = String, Path, description = "Topology id or name")),
    request_body = MutationRequest, responses((status = 200, body = wire::EditApplied)))]
pub(crate) async fn apply_edit(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(request): ApiJson<MutationRequest>,
) -> Result<Json<wire::EditApplied>, ApiError> {
    let id = state.engine.store().resolve(&key).await?;
    let (version, _) = edit(&state, id, vec![(request.op.as_str(), request.payload)], request.expected_version).await?;
    Ok(Json(wire::EditApplied { op: request.op, version }))
}

/// Adds a LAN to a pending topology.
#[utoipa::path(post, path = "/api/v1/topologies/{id}/lans", tag = "design", params(("id" = String, Path, description = "Topology id or name")),
    request_body = LanBody, responses((status = 201, body = wire::LanRow)))]
pub(crate) async fn add_lan(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<LanBody>,
) -> Result<Response, ApiError> {
    let given = body
        .name
        .as_deref()
        .ok_or_else(|| ApiError::new(ErrorKind::InvalidBody, "invalid_body", "name: field required"))?;
    let name = Name::parse(given).map_err(|e| bad_request(format!("name: {e}")))?;
    let id = state.engine.store().resolve(&key).await?;
    let (version, design) =
        edit(&state, id, vec![("add_lan", Value::Object(body.fields()))], body.expected_version).await?;
    Ok(lan_answer(&design, &name, version, StatusCode::CREATED))
}

/// Renames, re-addresses, moves or flips the DMZ flag of a LAN of a pending topology.
#[utoipa::path(patch, path = "/api/v1/topologies/{id}/lans/{lan}", tag = "design",
    params(("id" = String, Path, description = "Topology id or name"), ("lan" = String, Path, description = "LAN id or name")),
    request_body = LanBody, responses((status = 200, body = wire::LanRow)))]
pub(crate) async fn update_lan(
    State(state): State<AppState>,
    Path((key, lan)): Path<(String, String)>,
    ApiJson(body): ApiJson<LanBody>,
) -> Result<Response, ApiError> {
    let (id, design) = current(&state, &key).await?;
    let found = find_lan(&design, &lan).ok_or_else(|| not_found("LAN", &lan))?;
    let lan_id = found.id;
    let payload = json!({ "name": found.name, "patch": body.fields() });
    let (version, design) = edit(&state, id, vec![("update_lan", payload)], body.expected_version).await?;
    // The id survives a rename: answer with the LAN it names now.
    let name = design.lan_by_id(lan_id).map(|l| l.name.clone()).ok_or_else(|| not_found("LAN", &lan))?;
    Ok(lan_answer(&design, &name, version, StatusCode::OK))
}

/// Removes a LAN of a pending topology.
#[utoipa::path(delete, path = "/api/v1/topologies/{id}/lans/{lan}", tag = "design",
    params(("id" = String, Path, description = "Topology id or name"), ("lan" = String, Path, description = "LAN id or name"), VersionQuery),
    responses((status = 204, description = "Removed")))]
pub(crate) async fn remove_lan(
    State(state): State<AppState>,
    Path((key, lan)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<StatusCode, ApiError> {
    let (id, design) = current(&state, &key).await?;
    let found = find_lan(&design, &lan).ok_or_else(|| not_found("LAN", &lan))?;
    edit(&state, id, vec![("remove_lan", json!({ "name": found.name }))], q.expected_version).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new decky: the original's body (`name`, `services`, `decky_config` with its
/// `ips_by_lan`, home LAN first) or ours (`lan`, `ip`, `archetype`, `forwards_l3`,
/// `service_config`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeckyCreate {
    /// Unique within the topology.
    name: String,
    /// Decoy services.
    #[serde(default)]
    services: Option<Vec<String>>,
    /// The original's configuration blob; `ips_by_lan` puts the decky on its LANs (the
    /// first is its home; a null or empty IP takes the next free one).
    #[serde(default)]
    decky_config: Option<wire::DeckyConfig>,
    /// Home LAN (ours; instead of `decky_config.ips_by_lan`).
    #[serde(default)]
    lan: Option<String>,
    /// IP on the home LAN (ours).
    #[serde(default)]
    ip: Option<String>,
    /// Archetype slug.
    #[serde(default)]
    archetype: Option<String>,
    /// Whether it routes between its LANs.
    #[serde(default)]
    forwards_l3: Option<bool>,
    /// Service → key → value.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    service_config: Option<Map<String, Value>>,
    /// Canvas position.
    #[serde(default)]
    x: Option<f64>,
    /// Canvas position.
    #[serde(default)]
    y: Option<f64>,
    /// Refuse (409) unless the topology is at this version.
    #[serde(default)]
    expected_version: Option<i64>,
}

/// An IP of `ips_by_lan`: a non-empty string, or none (the next free one).
fn ip_of(value: &Value) -> Result<Option<String>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) if text.is_empty() => Ok(None),
        Value::String(text) => Ok(Some(text.clone())),
        other => Err(bad_request(format!("decky_config.ips_by_lan: {other} is not an IP address"))),
    }
}

/// Adds a decky to a pending topology.
#[utoipa::path(post, path = "/api/v1/topologies/{id}/deckies", tag = "design", params(("id" = String, Path, description = "Topology id or name")),
    request_body = DeckyCreate, responses((status = 201, body = wire::DeckyRow)))]
pub(crate) async fn add_decky(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<DeckyCreate>,
) -> Result<Response, ApiError> {
    let id = state.engine.store().resolve(&key).await?;
    let config = body.decky_config.unwrap_or_default();
    if config.name.as_ref().is_some_and(|n| *n != body.name) {
        return Err(bad_request("decky_config.name must be the decky's name"));
    }
    let mut lans = config.ips_by_lan.iter();
    let (home, home_ip) = match (body.lan, lans.next()) {
        (Some(lan), _) => (lan, body.ip),
        (None, Some((lan, ip))) => (lan.clone(), body.ip.or(ip_of(ip)?)),
        (None, None) => {
            return Err(bad_request("a decky needs a LAN: give `lan` or `decky_config.ips_by_lan` (home LAN first)"));
        }
    };
    let mut payload = Map::new();
    payload.insert("name".into(), Value::from(body.name.clone()));
    payload.insert("lan".into(), Value::from(home.clone()));
    put(&mut payload, "ip", home_ip);
    put(&mut payload, "services", body.services.or(config.services));
    put(&mut payload, "archetype", body.archetype.or(config.archetype));
    put(&mut payload, "forwards_l3", body.forwards_l3.or(config.forwards_l3));
    put(&mut payload, "service_config", body.service_config.or(config.service_config));
    put(&mut payload, "x", body.x);
    put(&mut payload, "y", body.y);
    let mut ops = vec![("add_decky", Value::Object(payload))];
    for (lan, ip) in config.ips_by_lan.iter().filter(|(lan, _)| **lan != home) {
        let mut attach = Map::new();
        attach.insert("decky".into(), Value::from(body.name.clone()));
        attach.insert("lan".into(), Value::from(lan.clone()));
        put(&mut attach, "ip", ip_of(ip)?);
        ops.push(("attach_decky", Value::Object(attach)));
    }
    let (version, design) = edit(&state, id, ops, body.expected_version).await?;
    let name = Name::parse(&body.name).map_err(|e| bad_request(format!("name: {e}")))?;
    Ok(decky_answer(&design, &name, version, StatusCode::CREATED))
}

/// Changes to a decky: the original's body (`services`, `decky_config`, `x`, `y`) or ours
/// (`forwards_l3`, `archetype`, `service_config` at the top level).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeckyPatch {
    /// The decky's name: names do not change (remove and add instead); the current name
    /// is accepted.
    #[serde(default)]
    name: Option<String>,
    /// The new service list.
    #[serde(default)]
    services: Option<Vec<String>>,
    /// The original's blob: its `forwards_l3`, `archetype` and `service_config` are set;
    /// LANs added to or removed from `ips_by_lan` attach or detach the decky.
    #[serde(default)]
    decky_config: Option<wire::DeckyConfig>,
    /// Whether it routes between its LANs.
    #[serde(default)]
    forwards_l3: Option<bool>,
    /// Archetype slug.
    #[serde(default)]
    archetype: Option<String>,
    /// Service → key → value.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    service_config: Option<Map<String, Value>>,
    /// Canvas position.
    #[serde(default)]
    x: Option<f64>,
    /// Canvas position.
    #[serde(default)]
    y: Option<f64>,
    /// Refuse (409) unless the topology is at this version.
    #[serde(default)]
    expected_version: Option<i64>,
}

/// Changes services, configuration, memberships or position of a decky of a pending
/// topology.
#[utoipa::path(patch, path = "/api/v1/topologies/{id}/deckies/{decky}", tag = "design",
    params(("id" = String, Path, description = "Topology id or name"), ("decky" = String, Path, description = "Decky uuid or name")),
    request_body = DeckyPatch, responses((status = 200, body = wire::DeckyRow)))]
pub(crate) async fn update_decky(
    State(state): State<AppState>,
    Path((key, decky)): Path<(String, String)>,
    ApiJson(body): ApiJson<DeckyPatch>,
) -> Result<Response, ApiError> {
    let (id, design) = current(&state, &key).await?;
    let found = find_decky(&design, &decky).ok_or_else(|| not_found("decky", &decky))?;
    let name = found.name.clone();
    if body.name.as_ref().is_some_and(|n| n != name.as_str()) {
        return Err(bad_request("a decky's name cannot change: remove it and add it under the new name"));
    }
    let config = body.decky_config.unwrap_or_default();
    let mut ops = Vec::new();
    let mut detach = Vec::new();
    if !config.ips_by_lan.is_empty() {
        for (lan, ip) in &config.ips_by_lan {
            let wanted = ip_of(ip)?;
            match Name::parse(lan).ok().and_then(|l| found.ips.get(&l).copied()) {
                None => {
                    let mut attach = Map::new();
                    attach.insert("decky".into(), Value::from(name.to_string()));
                    attach.insert("lan".into(), Value::from(lan.clone()));
                    put(&mut attach, "ip", wanted);
                    ops.push(("attach_decky", Value::Object(attach)));
                }
                Some(have) if wanted.as_ref().is_some_and(|w| *w != have.to_string()) => {
                    return Err(bad_request(format!(
                        "decky_config.ips_by_lan: {name} has {have} on {lan}; to change it, detach and attach"
                    )));
                }
                Some(_) => {}
            }
        }
        for lan in found.ips.keys().filter(|l| !config.ips_by_lan.contains_key(l.as_str())) {
            detach.push(("detach_decky", json!({ "decky": name, "lan": lan })));
        }
    }
    let mut patch = Map::new();
    put(&mut patch, "forwards_l3", body.forwards_l3.or(config.forwards_l3));
    put(&mut patch, "archetype", body.archetype.or(config.archetype));
    put(&mut patch, "service_config", body.service_config.or(config.service_config));
    let mut update = Map::new();
    update.insert("decky".into(), Value::from(name.to_string()));
    put(&mut update, "services", body.services);
    put(&mut update, "x", body.x);
    put(&mut update, "y", body.y);
    update.insert("patch".into(), Value::Object(patch));
    ops.push(("update_decky", Value::Object(update)));
    ops.extend(detach);
    let (version, design) = edit(&state, id, ops, body.expected_version).await?;
    Ok(decky_answer(&design, &name, version, StatusCode::OK))
}

/// Removes a decky of a pending topology.
#[utoipa::path(delete, path = "/api/v1/topologies/{id}/deckies/{decky}", tag = "design",
    params(("id" = String, Path, description = "Topology id or name"), ("decky" = String, Path, description = "Decky uuid or name"), VersionQuery),
    responses((status = 204, description = "Removed")))]
pub(crate) async fn remove_decky(
    State(state): State<AppState>,
    Path((key, decky)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<StatusCode, ApiError> {
    let (id, design) = current(&state, &key).await?;
    let found = find_decky(&design, &decky).ok_or_else(|| not_found("decky", &decky))?;
    edit(&state, id, vec![("remove_decky", json!({ "decky": found.name }))], q.expected_version).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new membership: the original's body (`decky_uuid`, `lan_id`, `is_bridge`,
/// `forwards_l3`) or ours (`decky`, `lan`, `ip`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EdgeCreate {
    /// The decky's uuid (or name).
    #[serde(default)]
    decky_uuid: Option<String>,
    /// The LAN's id (or name).
    #[serde(default)]
    lan_id: Option<String>,
    /// The decky's name (ours).
    #[serde(default)]
    decky: Option<String>,
    /// The LAN's name (ours).
    #[serde(default)]
    lan: Option<String>,
    /// Derived from the memberships; accepted and ignored.
    #[serde(default)]
    is_bridge: Option<bool>,
    /// True makes the decky route between its LANs.
    #[serde(default)]
    forwards_l3: Option<bool>,
    /// The decky's IP on the LAN; the next free one when absent.
    #[serde(default)]
    ip: Option<String>,
    /// Refuse (409) unless the topology is at this version.
    #[serde(default)]
    expected_version: Option<i64>,
}

/// Puts a decky on another LAN of a pending topology.
#[utoipa::path(post, path = "/api/v1/topologies/{id}/edges", tag = "design", params(("id" = String, Path, description = "Topology id or name")),
    request_body = EdgeCreate, responses((status = 201, body = wire::EdgeRow)))]
pub(crate) async fn add_edge(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<EdgeCreate>,
) -> Result<Response, ApiError> {
    let (id, design) = current(&state, &key).await?;
    let decky_key = body.decky_uuid.or(body.decky).ok_or_else(|| bad_request("decky_uuid: field required"))?;
    let lan_key = body.lan_id.or(body.lan).ok_or_else(|| bad_request("lan_id: field required"))?;
    // As the original: an edge to a decky or LAN of another topology is a bad request.
    let decky = find_decky(&design, &decky_key)
        .ok_or_else(|| bad_request(format!("decky {decky_key} is not in this topology")))?;
    let lan =
        find_lan(&design, &lan_key).ok_or_else(|| bad_request(format!("LAN {lan_key} is not in this topology")))?;
    let _ = body.is_bridge;
    let mut attach = Map::new();
    attach.insert("decky".into(), Value::from(decky.name.to_string()));
    attach.insert("lan".into(), Value::from(lan.name.to_string()));
    put(&mut attach, "ip", body.ip);
    // Only turning routing on is an edge's business; a false leaves the decky as it is.
    put(&mut attach, "forwards_l3", body.forwards_l3.filter(|f| *f));
    let (decky_id, lan_id) = (decky.id, lan.id);
    let (version, design) =
        edit(&state, id, vec![("attach_decky", Value::Object(attach))], body.expected_version).await?;
    let edge_id = ItemId::edge(decky_id, lan_id);
    let (row, _, _) = wire::edges(&design)
        .into_iter()
        .find(|(e, _, _)| e.id == edge_id)
        .ok_or_else(|| ApiError::internal("the attached edge is missing"))?;
    Ok((StatusCode::CREATED, Json(wire::EdgeRow { topology_version: Some(version), ..row })).into_response())
}

/// Takes a decky off a LAN (not its home) of a pending topology.
#[utoipa::path(delete, path = "/api/v1/topologies/{id}/edges/{edge}", tag = "design",
    params(("id" = String, Path, description = "Topology id or name"), ("edge" = String, Path, description = "Edge id"), VersionQuery),
    responses((status = 204, description = "Removed")))]
pub(crate) async fn remove_edge(
    State(state): State<AppState>,
    Path((key, edge)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<StatusCode, ApiError> {
    let (id, design) = current(&state, &key).await?;
    let wanted = edge.parse::<uuid::Uuid>().map_err(|_| not_found("edge", &edge))?;
    let (_, decky, lan) =
        wire::edges(&design).into_iter().find(|(e, _, _)| e.id == wanted).ok_or_else(|| not_found("edge", &edge))?;
    let payload = json!({ "decky": decky.name, "lan": lan.name });
    edit(&state, id, vec![("detach_decky", payload)], q.expected_version).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes a decky off a LAN, both named.
#[utoipa::path(delete, path = "/api/v1/topologies/{id}/edges/{decky}/{lan}", tag = "design",
    params(("id" = String, Path, description = "Topology id or name"), ("decky" = String, Path), ("lan" = String, Path), VersionQuery),
    responses((status = 204, description = "Removed")))]
pub(crate) async fn remove_edge_by_names(
    State(state): State<AppState>,
    Path((key, decky, lan)): Path<(String, String, String)>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<StatusCode, ApiError> {
    let id = state.engine.store().resolve(&key).await?;
    edit(&state, id, vec![("detach_decky", json!({ "decky": decky, "lan": lan }))], q.expected_version).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A LAN's subnet and its first free address (nothing is reserved).
#[utoipa::path(get, path = "/api/v1/topologies/{id}/lans/{lan}/next-ip", tag = "design",
    params(("id" = String, Path, description = "Topology id or name"), ("lan" = String, Path, description = "LAN id or name")),
    responses((status = 200, body = wire::NextIp)))]
pub(crate) async fn next_ip(
    State(state): State<AppState>,
    Path((key, lan)): Path<(String, String)>,
) -> Result<Json<wire::NextIp>, ApiError> {
    let (id, design) = current(&state, &key).await?;
    let found = find_lan(&design, &lan).ok_or_else(|| not_found("LAN", &lan))?;
    let (subnet, ip) = state.engine.next_ip(id, &found.name).await.map_err(edit_error)?;
    Ok(Json(wire::NextIp { subnet: subnet.to_string(), ip: ip.to_string() }))
}
