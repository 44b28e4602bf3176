//! `PUT /api/v1/topologies/{id}/layout`: saves where the console draws LANs and deckies,
//! many at once, in any status. Positions are no design intent: the write touches neither
//! the runtime nor the topology's `version` (staged `expected_version`s stay valid), only
//! its `generation`, which the body cache keys on.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::routing::put;
use axum::{Json, Router};
use decnet_domain::{Code, ErrorKind, Issue, Layout, Name, Point, Target};

use crate::{ApiError, ApiJson, AppState, wire};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/{id}/layout", put(save))
}

/// The positions of `given` by parsed name; a name that breaks the naming rule is an
/// issue on the field `{group}.{name}`.
fn points(group: &str, given: BTreeMap<String, wire::PointBody>, issues: &mut Vec<Issue>) -> BTreeMap<Name, Point> {
    let mut parsed = BTreeMap::new();
    for (key, point) in given {
        match Name::parse(&key) {
            Ok(name) => {
                parsed.insert(name, Point { x: point.x, y: point.y });
            }
            Err(reason) => {
                let field = format!("{group}.{key}");
                let message = format!("{field}: invalid name {key:?}: {reason}");
                issues.push(Issue::error(Code::NameInvalid, Target::field(field), message));
            }
        }
    }
    parsed
}

/// Saves canvas positions of LANs and deckies by name: all of them or none (422 with every
/// issue for an unknown name or a position that is not finite or beyond ±1e7).
#[utoipa::path(put, path = "/api/v1/topologies/{id}/layout", tag = "design",
    params(("id" = String, Path, description = "Topology id or name")), request_body = wire::LayoutRequest,
    responses((status = 200, body = wire::LayoutSaved)))]
pub(crate) async fn save(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiJson(request): ApiJson<wire::LayoutRequest>,
) -> Result<Json<wire::LayoutSaved>, ApiError> {
    let id = state.engine.store().resolve(&key).await?;
    let mut issues = Vec::new();
    let layout = Layout {
        lans: points("lans", request.lans, &mut issues),
        deckies: points("deckies", request.deckies, &mut issues),
    };
    if !issues.is_empty() {
        let detail = issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        return Err(ApiError::new(ErrorKind::InvalidBody, "invalid_body", detail).with_issues(issues));
    }
    let header = state.engine.set_layout(id, &layout).await?;
    Ok(Json(wire::LayoutSaved {
        generation: header.generation,
        lans: layout.lans.len(),
        deckies: layout.deckies.len(),
    }))
}
