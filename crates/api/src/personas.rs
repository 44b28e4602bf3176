//! `GET`/`PUT /api/v1/topologies/{id}/personas`: a topology's mail personas (who its
//! mailboxes belong to), kept as the original keeps them: a list replaced whole, last
//! write wins, invalid entries dropped.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use decnet_domain::ErrorKind;
use decnet_store::Personas;
use serde::Deserialize;
use serde_json::Value;

use crate::{ApiError, ApiJson, AppState, wire};

/// Most personas a topology keeps.
pub const MAX_PERSONAS: usize = 1000;

/// Largest persona, as JSON.
const MAX_PERSONA_BYTES: usize = 8 << 10;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/{id}/personas", get(show).put(replace))
}

/// New personas.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PersonasRequest {
    /// The personas: objects with at least an `email` (`local@domain`); others are dropped.
    #[schema(value_type = Vec<Object>)]
    personas: Value,
    /// ISO-639-1 fallback language (kept when absent).
    #[serde(default)]
    language_default: Option<String>,
}

/// Whether `persona` is one a mailbox can belong to: an object with an address, bounded.
fn valid(persona: &Value) -> bool {
    let Some(fields) = persona.as_object() else { return false };
    let address = fields.get("email").and_then(Value::as_str).and_then(|e| e.split_once('@'));
    let addressed = address.is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@') && local.len() + domain.len() < 254
    });
    addressed && fields.len() <= 32 && serde_json::to_vec(persona).is_ok_and(|bytes| bytes.len() <= MAX_PERSONA_BYTES)
}

async fn body(state: &AppState, key: &str) -> Result<wire::PersonaList, ApiError> {
    let header = state.engine.store().header_by_key(key).await?;
    let personas = state.engine.store().personas(header.id).await?;
    Ok(wire::PersonaList {
        topology_id: header.id.0,
        topology_name: header.name.to_string(),
        language_default: personas.language_default,
        personas: personas.personas,
    })
}

/// A topology's mail personas.
#[utoipa::path(get, path = "/api/v1/topologies/{id}/personas", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")), responses((status = 200, body = wire::PersonaList)))]
pub(crate) async fn show(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<wire::PersonaList>, ApiError> {
    Ok(Json(body(&state, &key).await?))
}

/// Replaces a topology's mail personas; invalid entries are dropped, and a list with
/// entries but none valid is refused (400).
#[utoipa::path(put, path = "/api/v1/topologies/{id}/personas", tag = "topologies",
    params(("id" = String, Path, description = "Topology id or name")), request_body = PersonasRequest,
    responses((status = 200, body = wire::PersonaList)))]
pub(crate) async fn replace(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(request): ApiJson<PersonasRequest>,
) -> Result<Json<wire::PersonaList>, ApiError> {
    let bad = |detail: &str| ApiError::new(ErrorKind::BadRequest, "invalid_personas", detail);
    let id = state.engine.store().resolve(&key).await?;
    let Value::Array(given) = request.personas else { return Err(bad("personas must be a list")) };
    if given.len() > MAX_PERSONAS {
        return Err(bad(&format!("at most {MAX_PERSONAS} personas")));
    }
    let kept: Vec<Value> = given.iter().filter(|p| valid(p)).cloned().collect();
    if kept.is_empty() && !given.is_empty() {
        return Err(bad("no persona is valid: each needs an \"email\" of the form local@domain"));
    }
    let language = match request.language_default {
        Some(code) if (2..=8).contains(&code.len()) && code.chars().all(|c| c.is_ascii_alphabetic() || c == '-') => {
            code
        }
        Some(_) => return Err(bad("language_default must be a language code such as en or pt-BR")),
        None => state.engine.store().personas(id).await?.language_default,
    };
    state.engine.store().set_personas(id, &Personas { language_default: language, personas: kept }).await?;
    Ok(Json(body(&state, &key).await?))
}
