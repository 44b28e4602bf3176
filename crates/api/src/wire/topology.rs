//! Topologies as the original API shows them: summaries, pages, LAN, decky and edge rows,
//! the hydrated detail, status transitions and the document body.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use decnet_domain::model::TopologyHeader;
use decnet_domain::{Decky, DeckyStatus, Design, ItemId, Lan, Topology, TopologyId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

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

/// How a LAN's network meets the host's (ours): `bridge` (behind the host, the gateway's
/// ports published on it), or `macvlan` / `ipvlan` on a host interface, where every DMZ
/// decky has its own address from `ip_range` (and with macvlan its own MAC) and the
/// range's last usable address is the host's shim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LanAttachment {
    /// `bridge`, `macvlan` or `ipvlan`.
    #[schema(pattern = "^(bridge|macvlan|ipvlan)$")]
    pub mode: String,
    /// The host interface (macvlan, ipvlan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// The network's router (macvlan, ipvlan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// The addresses the maze may take, an IPv4 CIDR inside the LAN's subnet (macvlan,
    /// ipvlan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<String>,
}

impl LanAttachment {
    /// The view of `attachment`.
    pub fn new(attachment: &decnet_domain::attachment::Attachment) -> Self {
        let link = attachment.link();
        Self {
            mode: attachment.mode().to_owned(),
            interface: link.map(|l| l.interface.clone()),
            gateway: link.map(|l| l.gateway.to_string()),
            ip_range: link.map(|l| l.ip_range.to_string()),
        }
    }
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
    /// How its network meets the host's (ours).
    pub attachment: LanAttachment,
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
            attachment: LanAttachment::new(&lan.attachment),
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

/// A topology document (the `export` format, which `import` takes back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct TopologyDocumentBody(pub decnet_domain::document::TopologyDocument);

/// A canvas position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointBody {
    /// Horizontal position (finite, at most 1e7 either way).
    pub x: f64,
    /// Vertical position (finite, at most 1e7 either way).
    pub y: f64,
}

/// New canvas positions of LANs and deckies, by name (ours): saved together in any status,
/// without touching the runtime or the version.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayoutRequest {
    /// LAN positions by LAN name.
    #[serde(default)]
    pub lans: BTreeMap<String, PointBody>,
    /// Decky positions by decky name.
    #[serde(default)]
    pub deckies: BTreeMap<String, PointBody>,
}

/// The answer to a saved layout (ours).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LayoutSaved {
    /// The topology's generation after the save (unchanged when nothing moved).
    pub generation: i64,
    /// LAN positions given.
    pub lans: usize,
    /// Decky positions given.
    pub deckies: usize,
}

/// Where deckies nobody pinned go (`spread` or `pack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlacementPolicy {
    /// On the ready node with the fewest deckies; a lost node's deckies move.
    Spread,
    /// On the first ready node; a lost node's deckies wait for it.
    Pack,
}

impl From<PlacementPolicy> for decnet_domain::placement::Policy {
    fn from(policy: PlacementPolicy) -> Self {
        match policy {
            PlacementPolicy::Spread => Self::Spread,
            PlacementPolicy::Pack => Self::Pack,
        }
    }
}

impl From<decnet_domain::placement::Policy> for PlacementPolicy {
    fn from(policy: decnet_domain::placement::Policy) -> Self {
        match policy {
            decnet_domain::placement::Policy::Spread => Self::Spread,
            decnet_domain::placement::Policy::Pack => Self::Pack,
        }
    }
}

/// A topology's placement on a swarm, replaced whole (`PUT .../placement`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementRequest {
    /// The topology's policy; absent or null leaves it to the engine's `--placement`.
    #[serde(default)]
    pub policy: Option<PlacementPolicy>,
    /// LAN name → swarm node (id or host name): the LAN's deckies run there unless pinned.
    #[serde(default)]
    pub lans: BTreeMap<String, String>,
    /// Decky name → swarm node (id or host name).
    #[serde(default)]
    pub deckies: BTreeMap<String, String>,
}

impl From<PlacementRequest> for decnet_domain::placement::NamedPlacement {
    fn from(request: PlacementRequest) -> Self {
        Self { policy: request.policy.map(Into::into), lans: request.lans, deckies: request.deckies }
    }
}

/// A topology's stored placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlacementView {
    /// The topology.
    pub topology_id: Uuid,
    /// Its name.
    pub topology_name: String,
    /// `unihost` or `agent` (an agent-mode topology runs whole on `target_host_uuid`).
    pub mode: String,
    /// The host an agent-mode topology runs on.
    pub target_host_uuid: Option<String>,
    /// The topology's policy; null: the engine's `--placement`.
    pub policy: Option<PlacementPolicy>,
    /// LAN name → swarm node.
    pub lans: BTreeMap<String, String>,
    /// Decky name → swarm node.
    pub deckies: BTreeMap<String, String>,
}

impl PlacementView {
    /// The view of `placement` on the topology `header` describes.
    pub fn new(header: &TopologyHeader, placement: decnet_domain::placement::NamedPlacement) -> Self {
        Self {
            topology_id: header.id.0,
            topology_name: header.name.to_string(),
            mode: header.mode.as_str().to_owned(),
            target_host_uuid: header.target_host.clone(),
            policy: placement.policy.map(Into::into),
            lans: placement.lans,
            deckies: placement.deckies,
        }
    }
}
