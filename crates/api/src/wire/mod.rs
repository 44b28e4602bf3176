//! The API's wire types: every body a handler answers with, and the bodies the CLI reads
//! back over `--server`. Each is `Serialize + Deserialize + ToSchema`, so the OpenAPI
//! document is generated from the very types the handlers return.
//!
//! Field names and shapes follow the original API (reference `mazenet.md` §1 and §9), so
//! its clients work unchanged; our own fields stand beside them (additive only).
//! `docs/api-compat.md` lists every deliberate difference.

mod accounts;
mod attackers;
mod catalogue;
mod events;
mod operations;
mod queue;
mod topology;

pub use accounts::{Me, SseTicket, Token, UserRow};
pub use attackers::{AttackerDetail, AttackerList, AttackerSummary, CredentialRow, HopRow, LureList, LureRow};
pub use catalogue::{
    Archetype, ArchetypeList, DeckyServices, NextIp, NextSubnet, PersonaList, ReapReport, ServiceConfigChange,
    ServiceField, ServiceList, ServiceSchema,
};
pub use events::{EventPage, EventRow, StreamEvent, StreamSnapshot};
pub use operations::{DiskStatus, EventsUse, IncidentList, IncidentRow, SinkList, SinkRow, SinkUse};
pub use queue::{EditApplied, Enqueued, MutationRow, PlanResult, PlanResults, ValidationReport};
pub use topology::{
    DeckyConfig, DeckyRow, EdgeRow, LanAttachment, LanRow, LayoutRequest, LayoutSaved, PlacementPolicy,
    PlacementRequest, PlacementView, PointBody, StatusEventRow, TopologyDetail, TopologyDocumentBody, TopologyPage,
    TopologySummary, edges,
};

use decnet_domain::Issue;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The one error body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Human-readable message (the original API's field).
    pub detail: String,
    /// Machine code, e.g. `not_found`, `version_conflict`, `refused`.
    pub error: String,
    /// Validation issues, when there are any.
    pub issues: Vec<IssueBody>,
    /// The kind of failure (ours): `bad_request`, `invalid_body`, `not_found`,
    /// `conflict`, `refused`, `unauthenticated`, `forbidden`, `rate_limited`, ...
    pub kind: String,
}

/// A validation issue with its stable code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = Issue)]
pub struct IssueBody {
    /// `error` or `warning`.
    pub severity: String,
    /// Stable rule code, e.g. `SUBNET_OVERLAP`.
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// Where: `lan`, `lans`, `decky`, `deckies`, `service`, `field` (empty ones omitted).
    #[schema(value_type = Object)]
    pub target: Map<String, Value>,
}

impl From<&Issue> for IssueBody {
    fn from(issue: &Issue) -> Self {
        let target = match serde_json::to_value(&issue.target) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        Self {
            severity: if issue.is_error() { "error" } else { "warning" }.to_owned(),
            code: issue.code.as_str().to_owned(),
            message: issue.message.clone(),
            target,
        }
    }
}

/// Issues on the wire.
pub fn issues(list: &[Issue]) -> Vec<IssueBody> {
    list.iter().map(IssueBody::from).collect()
}
