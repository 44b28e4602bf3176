//! The API's wire types: every body a handler answers with, and the bodies the CLI reads
//! back over `--server`. Each is `Serialize + Deserialize + ToSchema`, so the OpenAPI
//! document is generated from the very types the handlers return.
//!
//! Field names and shapes follow the original API (reference `mazenet.md` §1 and §9), so
//! its clients work unchanged; our own fields stand beside them (additive only).
//! `docs/api-compat.md` lists every deliberate difference.

use chrono::{DateTime, Utc};
use decnet_domain::catalogue::{self, ARCHETYPES, SERVICES};
use decnet_domain::model::TopologyHeader;
use decnet_domain::{Decky, DeckyStatus, Design, Issue, ItemId, Lan, Topology, TopologyId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

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

/// A topology's summary (`TopologySummary`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TopologySummary {
    /// Unique id.
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// `unihost` or `agent`.
    pub mode: String,
    /// The host an agent-mode topology is pinned to (the original's name).
    pub target_host_uuid: Option<String>,
    /// `pending`, `deploying`, `active`, `degraded`, `failed`, `tearing_down` or `torn_down`.
    pub status: String,
    /// When the status last changed.
    pub status_changed_at: DateTime<Utc>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Counts accepted intents (pending edits, enqueued mutations): the
    /// `expected_version` of the next one.
    pub version: i64,
    /// Always false: no agent push exists to fall out of sync (the original's field).
    pub needs_resync: bool,
    /// How it was made (generator parameters with the seed, or the import source).
    #[schema(value_type = Object)]
    pub config_snapshot: Value,
    /// Bumped by every design change (ours).
    pub generation: i64,
    /// Bumped by every recorded change of a decky's observed state (ours).
    pub observed: i64,
}

impl From<&TopologyHeader> for TopologySummary {
    fn from(h: &TopologyHeader) -> Self {
        Self {
            id: h.id.0,
            name: h.name.to_string(),
            mode: h.mode.as_str().to_owned(),
            target_host_uuid: h.target_host.clone(),
            status: h.status.as_str().to_owned(),
            status_changed_at: h.status_changed_at,
            created_at: h.created_at,
            version: h.version,
            needs_resync: false,
            config_snapshot: h.config_snapshot.clone(),
            generation: h.generation,
            observed: h.observed,
        }
    }
}

/// A page of topologies, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TopologyPage {
    /// Matching topologies in total.
    pub total: i64,
    /// Page size.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
    /// This page.
    pub data: Vec<TopologySummary>,
}

/// A LAN (`LANRow`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LanRow {
    /// Stable id (kept across renames).
    pub id: Uuid,
    /// Unique within the topology.
    pub name: String,
    /// IPv4 CIDR.
    pub subnet: String,
    /// Whether it is the DMZ.
    pub is_dmz: bool,
    /// Always null: networks are named from the topology id (the original's field).
    pub docker_network_id: Option<String>,
    /// Canvas position.
    pub x: Option<f64>,
    /// Canvas position.
    pub y: Option<f64>,
    /// In answers to pending edits: the topology's version after the edit (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_version: Option<i64>,
}

impl LanRow {
    /// The row of `lan` in `topology`.
    pub fn new(lan: &Lan) -> Self {
        Self {
            id: lan.id.0,
            name: lan.name.to_string(),
            subnet: lan.subnet.to_string(),
            is_dmz: lan.is_dmz,
            docker_network_id: None,
            x: lan.x,
            y: lan.y,
            topology_version: None,
        }
    }
}

/// A decky's configuration blob, as the original keeps it (`decky_config`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct DeckyConfig {
    /// The decky's name.
    #[serde(default)]
    pub name: Option<String>,
    /// LAN name → IPv4, the home LAN first.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub ips_by_lan: Map<String, Value>,
    /// Whether it routes between its LANs.
    #[serde(default)]
    pub forwards_l3: Option<bool>,
    /// Archetype slug.
    #[serde(default)]
    pub archetype: Option<String>,
    /// Service → key → value.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub service_config: Option<Map<String, Value>>,
    /// The decky's services (accepted in requests; rows carry them once, beside the blob).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
}

/// A decky (`DeckyRow`) with its observed state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeckyRow {
    /// Stable id.
    pub uuid: Uuid,
    /// Unique within the topology.
    pub name: String,
    /// Decoy services.
    pub services: Vec<String>,
    /// The original's configuration blob.
    pub decky_config: DeckyConfig,
    /// The IP on its home LAN.
    pub ip: Option<String>,
    /// Observed state: `pending`, `running`, `failed`, `degraded`, `torn_down`, ...
    pub state: String,
    /// The last runtime error, when the last attempt failed.
    pub last_error: Option<String>,
    /// Canvas position.
    pub x: Option<f64>,
    /// Canvas position.
    pub y: Option<f64>,
    /// The host name its persona answers with (ours; never the label).
    pub hostname: Option<String>,
    /// Its home LAN (ours; also the first key of `decky_config.ips_by_lan`).
    pub home_lan: String,
    /// Whether it is the DMZ gateway that publishes ports (ours).
    pub is_gateway: bool,
    /// In answers to pending edits: the topology's version after the edit (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_version: Option<i64>,
}

impl DeckyRow {
    /// The row of `decky` in `design` of `topology`.
    pub fn new(design: &Design, decky: &Decky, status: &DeckyStatus) -> Self {
        let mut ips_by_lan = Map::new();
        if let Some(ip) = decky.ips.get(&decky.home_lan) {
            ips_by_lan.insert(decky.home_lan.to_string(), Value::from(ip.to_string()));
        }
        for (lan, ip) in decky.ips.iter().filter(|(lan, _)| **lan != decky.home_lan) {
            ips_by_lan.insert(lan.to_string(), Value::from(ip.to_string()));
        }
        let service_config: Map<String, Value> =
            decky.service_config.iter().map(|(k, v)| (k.clone(), Value::Object(v.clone()))).collect();
        Self {
            uuid: decky.id.0,
            name: decky.name.to_string(),
            services: decky.services.clone(),
            decky_config: DeckyConfig {
                name: Some(decky.name.to_string()),
                ips_by_lan,
                forwards_l3: Some(decky.forwards_l3),
                archetype: decky.archetype.clone(),
                service_config: Some(service_config),
                services: None,
            },
            ip: decky.ips.get(&decky.home_lan).map(ToString::to_string),
            state: status.state.as_str().to_owned(),
            last_error: status.last_error.clone(),
            x: decky.x,
            y: decky.y,
            hostname: decky.hostname.as_ref().map(ToString::to_string),
            home_lan: decky.home_lan.to_string(),
            is_gateway: design.is_gateway(decky),
            topology_version: None,
        }
    }
}

/// A decky ↔ LAN membership (`EdgeRow`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EdgeRow {
    /// Stable while the membership exists (derived from both ends).
    pub id: Uuid,
    /// The decky's uuid.
    pub decky_uuid: Uuid,
    /// The LAN's id.
    pub lan_id: Uuid,
    /// Whether the decky is on two or more LANs.
    pub is_bridge: bool,
    /// Whether the decky routes.
    pub forwards_l3: bool,
    /// In answers to pending edits: the topology's version after the edit (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_version: Option<i64>,
}

/// Every edge of `design`, ordered by decky then LAN, with the decky's and LAN's names.
pub fn edges(design: &Design) -> Vec<(EdgeRow, &Decky, &Lan)> {
    design
        .deckies
        .values()
        .flat_map(|decky| {
            decky.ips.keys().filter_map(move |lan| design.lans.get(lan)).map(move |lan| {
                let row = EdgeRow {
                    id: ItemId::edge(decky.id, lan.id),
                    decky_uuid: decky.id.0,
                    lan_id: lan.id.0,
                    is_bridge: decky.is_bridge(),
                    forwards_l3: decky.forwards_l3,
                    topology_version: None,
                };
                (row, &**decky, lan)
            })
        })
        .collect()
}

/// A whole topology (`TopologyDetail`): LANs and deckies sorted by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TopologyDetail {
    /// The summary.
    pub topology: TopologySummary,
    /// LANs.
    pub lans: Vec<LanRow>,
    /// Deckies with their observed state.
    pub deckies: Vec<DeckyRow>,
    /// Decky ↔ LAN memberships.
    pub edges: Vec<EdgeRow>,
}

impl From<&Topology> for TopologyDetail {
    fn from(t: &Topology) -> Self {
        let design = &t.design;
        Self {
            topology: TopologySummary::from(&t.header),
            lans: design.lans.values().map(LanRow::new).collect(),
            deckies: design
                .deckies
                .values()
                .map(|d| DeckyRow::new(design, d, &t.decky_status.get(&d.name).cloned().unwrap_or_default()))
                .collect(),
            edges: edges(design).into_iter().map(|(row, _, _)| row).collect(),
        }
    }
}

/// A recorded status transition (`TopologyStatusEventRow`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatusEventRow {
    /// Sequence number.
    pub id: i64,
    /// Its topology.
    pub topology_id: Uuid,
    /// Status before.
    pub from_status: String,
    /// Status after.
    pub to_status: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why.
    pub reason: String,
}

impl StatusEventRow {
    /// The row of `event` of `topology`.
    pub fn new(topology: TopologyId, event: &decnet_store::StatusEvent) -> Self {
        Self {
            id: event.id,
            topology_id: topology.0,
            from_status: event.from.as_str().to_owned(),
            to_status: event.to.as_str().to_owned(),
            at: event.at,
            reason: event.reason.clone(),
        }
    }
}

/// A queued mutation (`MutationRow`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MutationRow {
    /// Queue id: FIFO order within the topology.
    pub id: i64,
    /// Its topology.
    pub topology_id: Uuid,
    /// One of the eight ops.
    pub op: String,
    /// The op's fields, as given.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// `pending`, `applying`, `applied` or `failed`.
    pub state: String,
    /// When it was queued.
    pub requested_at: DateTime<Utc>,
    /// When it was applied or failed (the original sets it on both).
    pub applied_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub reason: Option<String>,
    /// Refusal codes when it failed (ours).
    pub codes: Vec<String>,
    /// Claims so far; more than one means a lease expired (ours).
    pub attempts: i64,
    /// The engine holding the lease while applying (ours).
    pub lease_owner: Option<String>,
}

impl From<&decnet_store::Mutation> for MutationRow {
    fn from(m: &decnet_store::Mutation) -> Self {
        Self {
            id: m.id,
            topology_id: m.topology_id.0,
            op: m.op.clone(),
            payload: m.payload.clone(),
            state: m.state.as_str().to_owned(),
            requested_at: m.requested_at,
            applied_at: m.finished_at,
            reason: m.reason.clone(),
            codes: m.codes.clone(),
            attempts: m.attempts,
            lease_owner: m.lease_owner.clone(),
        }
    }
}

/// The answer to an enqueue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Enqueued {
    /// The queued mutation's id.
    pub mutation_id: i64,
    /// Always `pending`.
    pub state: String,
    /// The op (ours).
    pub op: String,
    /// The topology's version after the enqueue: the next edit's `expected_version` (ours).
    pub version: i64,
}

impl Enqueued {
    /// The answer for `mutation`, queued at topology `version`.
    pub fn new(mutation: &decnet_store::Mutation, version: i64) -> Self {
        Self { mutation_id: mutation.id, state: mutation.state.as_str().to_owned(), op: mutation.op.clone(), version }
    }
}

/// A dry run: what a mutation would do, or why it would be refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlanResult {
    /// Whether it would be applied.
    pub accepted: bool,
    /// The runtime actions it would take, in order (`{"action": ..., ...}`).
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<Value>,
    /// Refusal codes (empty when accepted).
    pub codes: Vec<String>,
    /// Every issue of the refusal.
    pub issues: Vec<IssueBody>,
}

impl PlanResult {
    /// The dry run's outcome: the plan's actions, or the refusal's codes and issues.
    pub fn new(outcome: Result<&decnet_domain::Plan, &decnet_domain::Refusal>) -> Self {
        match outcome {
            Ok(plan) => Self {
                accepted: true,
                actions: plan.actions.iter().filter_map(|a| serde_json::to_value(a).ok()).collect(),
                codes: Vec::new(),
                issues: Vec::new(),
            },
            Err(refusal) => Self {
                accepted: false,
                actions: Vec::new(),
                codes: refusal.codes().iter().map(|c| (*c).to_owned()).collect(),
                issues: issues(&refusal.issues),
            },
        }
    }
}

/// A validation report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValidationReport {
    /// No errors (warnings allowed).
    pub valid: bool,
    /// Every issue found.
    pub issues: Vec<IssueBody>,
}

impl ValidationReport {
    /// The report of `found`: valid when no issue is an error.
    pub fn new(found: &[Issue]) -> Self {
        Self { valid: !found.iter().any(Issue::is_error), issues: issues(found) }
    }
}

/// A topology document (the `export` format, which `import` takes back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct TopologyDocumentBody(pub decnet_domain::document::TopologyDocument);

/// One config field of a service's form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceField {
    /// Key in `service_config`.
    pub key: String,
    /// A label for forms.
    pub label: String,
    /// `str`, `int`, `bool`, `textarea`, `enum`, `multi_enum`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Default value (any JSON type).
    pub default: Value,
    /// Whether the value is a secret.
    pub secret: bool,
    /// One line of help.
    pub help: String,
    /// Allowed values of an `enum`.
    #[serde(rename = "enum")]
    pub choices: Option<Vec<String>>,
    /// A placeholder for forms (the default, as text).
    pub placeholder: Option<String>,
}

/// A service's ports and config schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceSchema {
    /// Slug.
    pub name: String,
    /// Every port it listens on (TCP then UDP, each once).
    pub ports: Vec<u16>,
    /// Runs once per host, never on a decky.
    pub fleet_singleton: bool,
    /// Config fields.
    pub fields: Vec<ServiceField>,
    /// TCP ports (ours).
    pub tcp_ports: Vec<u16>,
    /// UDP ports (ours).
    pub udp_ports: Vec<u16>,
    /// One line describing the decoy (ours).
    pub description: String,
}

/// `key_name` → `Key name`.
fn label(key: &str) -> String {
    let text = key.replace('_', " ");
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

impl From<&catalogue::Service> for ServiceSchema {
    fn from(s: &catalogue::Service) -> Self {
        Self {
            name: s.name.to_owned(),
            ports: {
                let mut ports: Vec<u16> = s.tcp_ports.iter().chain(s.udp_ports).copied().collect();
                let mut seen = std::collections::BTreeSet::new();
                ports.retain(|p| seen.insert(*p));
                ports
            },
            fleet_singleton: s.singleton,
            fields: s
                .keys
                .iter()
                .map(|k| {
                    let default = k.default.to_json();
                    let placeholder = match &default {
                        Value::Null => None,
                        Value::String(text) if text.is_empty() => None,
                        Value::String(text) => Some(text.clone()),
                        other => Some(other.to_string()),
                    };
                    ServiceField {
                        key: k.key.to_owned(),
                        label: label(k.key),
                        kind: k.ty.as_str().to_owned(),
                        default,
                        secret: k.secret,
                        help: k.help.to_owned(),
                        choices: Some(k.ty.choices())
                            .filter(|c| !c.is_empty())
                            .map(|c| c.iter().map(|s| (*s).to_owned()).collect()),
                        placeholder,
                    }
                })
                .collect(),
            tcp_ports: s.tcp_ports.to_vec(),
            udp_ports: s.udp_ports.to_vec(),
            description: s.description.to_owned(),
        }
    }
}

/// The catalogue of services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceList {
    /// Services a decky may run.
    pub services: Vec<String>,
    /// Services that run once per host.
    pub fleet_singletons: Vec<String>,
    /// Every service with its ports and fields (ours).
    pub details: Vec<ServiceSchema>,
}

impl ServiceList {
    /// The whole catalogue.
    pub fn catalogue() -> Self {
        let (singletons, per_decky): (Vec<&catalogue::Service>, Vec<_>) = SERVICES.iter().partition(|s| s.singleton);
        Self {
            services: per_decky.iter().map(|s| s.name.to_owned()).collect(),
            fleet_singletons: singletons.iter().map(|s| s.name.to_owned()).collect(),
            details: SERVICES.iter().map(ServiceSchema::from).collect(),
        }
    }
}

/// A decky archetype.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Archetype {
    /// Slug.
    pub slug: String,
    /// Display name.
    pub display_name: String,
    /// What it stands for.
    pub description: String,
    /// Its services.
    pub services: Vec<String>,
    /// Distributions its persona prefers.
    pub preferred_distros: Vec<String>,
    /// The OS family its fingerprint imitates.
    pub nmap_os: String,
}

/// Every archetype.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArchetypeList {
    /// The archetypes.
    pub archetypes: Vec<Archetype>,
}

impl ArchetypeList {
    /// The whole catalogue.
    pub fn catalogue() -> Self {
        Self {
            archetypes: ARCHETYPES
                .iter()
                .map(|a| Archetype {
                    slug: a.slug.to_owned(),
                    display_name: a.display_name.to_owned(),
                    description: a.description.to_owned(),
                    services: a.services.iter().map(|s| (*s).to_owned()).collect(),
                    preferred_distros: a.preferred_distros.iter().map(|s| (*s).to_owned()).collect(),
                    nmap_os: a.os.as_str().to_owned(),
                })
                .collect(),
        }
    }
}

/// A free subnet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NextSubnet {
    /// A /24 no topology holds.
    pub subnet: String,
}

/// A LAN's first free address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NextIp {
    /// The LAN's subnet.
    pub subnet: String,
    /// The address (a suggestion: nothing is reserved).
    pub ip: String,
}

/// What the orphan reaper found and removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReapReport {
    /// 8-character id prefixes of stored topologies that have resources.
    pub live_prefixes: Vec<String>,
    /// 8-character id prefixes of the topologies whose resources were removed.
    pub orphan_prefixes: Vec<String>,
    /// Names of the containers removed.
    pub containers_removed: Vec<String>,
    /// Names of the networks removed.
    pub networks_removed: Vec<String>,
    /// What could not be removed.
    pub errors: Vec<String>,
    /// Full ids of the topologies reaped (ours).
    pub reaped: Vec<Uuid>,
}

/// A decky's services after a change (`POST`/`DELETE .../services`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeckyServices {
    /// The decky.
    pub decky_name: String,
    /// Its topology.
    pub topology_id: Uuid,
    /// Its services after the change.
    pub services: Vec<String>,
    /// The queued mutation, when the topology is deployed (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutation_id: Option<i64>,
}

/// A service's config after a change (`PUT .../config`, `POST .../apply`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceConfigChange {
    /// The decky.
    pub decky_name: String,
    /// The service.
    pub service_name: String,
    /// Its topology.
    pub topology_id: Uuid,
    /// The config now designed.
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
    /// Whether the running service is recreated with it (deployed topologies).
    pub recreated: bool,
    /// The queued mutation, when the topology is deployed (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutation_id: Option<i64>,
}

/// A topology's mail personas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PersonaList {
    /// The topology.
    pub topology_id: Uuid,
    /// Its name.
    pub topology_name: String,
    /// ISO-639-1 fallback language.
    pub language_default: String,
    /// The personas, each an object with at least an `email`.
    #[schema(value_type = Vec<Object>)]
    pub personas: Vec<Value>,
}

/// A login's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Token {
    /// The bearer token.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// `admin` or `viewer`.
    pub role: String,
}

/// A single-use ticket for one event stream (`?ticket=`), for browsers' EventSource,
/// which cannot send an Authorization header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SseTicket {
    /// Pass as `?ticket=`; valid once.
    pub ticket: String,
    /// Seconds until it expires unused.
    pub expires_in: u64,
}

/// Who the token belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    /// Username.
    pub username: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// When the token expires.
    pub expires_at: DateTime<Utc>,
}

/// A user (never the password hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserRow {
    /// Username.
    pub username: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<&decnet_store::User> for UserRow {
    fn from(u: &decnet_store::User) -> Self {
        Self {
            username: u.username.clone(),
            role: u.role.as_str().to_owned(),
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// An event of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventRow {
    /// Position in the log; grows in commit order.
    pub id: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Its topology.
    pub topology_id: Option<Uuid>,
    /// What happened, e.g. `mutation.applied`, `decky.state`, `decoy.auth_attempt`.
    pub kind: String,
    /// The decky concerned.
    pub decky: Option<String>,
    /// The decoy service concerned.
    pub service: Option<String>,
    /// The remote address concerned.
    pub source_ip: Option<String>,
    /// The event's body.
    #[schema(value_type = Object)]
    pub payload: Value,
}

impl From<&decnet_store::StoredEvent> for EventRow {
    fn from(e: &decnet_store::StoredEvent) -> Self {
        Self {
            id: e.id,
            at: e.at,
            topology_id: e.topology_id.map(|t| t.0),
            kind: e.kind.clone(),
            decky: e.decky.clone(),
            service: e.service.clone(),
            source_ip: e.source_ip.clone(),
            payload: e.payload.clone(),
        }
    }
}

/// A page of events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    /// Oldest first.
    pub data: Vec<EventRow>,
    /// Pass as `cursor` for the next page; null when this was the last.
    pub next_cursor: Option<i64>,
}

/// The first frame of a topology's event stream (`event: snapshot`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StreamSnapshot {
    /// The topology.
    pub topology_id: Uuid,
    /// Its status.
    pub status: String,
    /// Mutations pending or applying, oldest first.
    pub in_flight: Vec<MutationRow>,
    /// The summary (ours).
    pub topology: TopologySummary,
    /// The log position the stream continues from (ours).
    pub last_event_id: i64,
}

/// One event of a topology's stream: the original's frame (`{topic, type, ts, payload}`,
/// the SSE event named by the topic's tail) and the log record's own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StreamEvent {
    /// The bus topic, e.g. `topology.<id>.mutation.applied`, `decky.<name>.state`.
    pub topic: String,
    /// The SSE event name: the topic's tail, e.g. `status`, `mutation.applied`.
    #[serde(rename = "type")]
    pub kind_tail: String,
    /// When it happened.
    pub ts: DateTime<Utc>,
    /// The event's body.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Position in the log, also the SSE id (ours).
    pub id: i64,
    /// The log's kind (ours).
    pub kind: String,
    /// The decky concerned (ours).
    pub decky: Option<String>,
    /// The decoy service concerned (ours).
    pub service: Option<String>,
    /// The remote address concerned (ours).
    pub source_ip: Option<String>,
}

impl StreamEvent {
    /// The frame of a logged event of `topology`.
    pub fn new(topology: TopologyId, event: &decnet_store::StoredEvent) -> Self {
        let (topic, tail) = topic_of(topology, event);
        let mut payload = event.payload.clone();
        // The original's status payload is `{state, reason}`; ours says `to` and `from`.
        if event.kind == decnet_store::events::kinds::STATUS
            && let Value::Object(map) = &mut payload
            && let Some(to) = map.get("to").cloned()
        {
            map.insert("state".into(), to);
        }
        Self {
            topic,
            kind_tail: tail,
            ts: event.at,
            payload,
            id: event.id,
            kind: event.kind.clone(),
            decky: event.decky.clone(),
            service: event.service.clone(),
            source_ip: event.source_ip.clone(),
        }
    }
}

/// The original's topic of a logged event and the SSE event name (the topic's tail).
fn topic_of(topology: TopologyId, event: &decnet_store::StoredEvent) -> (String, String) {
    let kind = event.kind.as_str();
    if let Some(rest) = kind.strip_prefix("decky.") {
        let decky = event.decky.as_deref().unwrap_or("_");
        return (format!("decky.{decky}.{rest}"), kind.to_owned());
    }
    let tail = kind.strip_prefix("topology.").unwrap_or(kind);
    (format!("topology.{topology}.{tail}"), tail.to_owned())
}
