//! Attackers and their paths through a maze, on the wire (our own resource; the original
//! has none).

use chrono::{DateTime, Utc};
use decnet_domain::TopologyId;
use decnet_engine::attackers::{Attacker, Credential, Hop};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A credential presented in a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CredentialRow {
    /// User name, as typed (attacker data).
    pub user: String,
    /// Password, or the offered key's fingerprint (attacker data).
    pub secret: String,
    /// Whether it logged in.
    pub accepted: bool,
}

/// One attacker, in brief.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttackerSummary {
    /// The outside source address that identifies it.
    pub id: String,
    /// The topology it walked.
    pub topology_id: Uuid,
    /// First and last event.
    pub first_seen: DateTime<Utc>,
    /// Last event.
    pub last_seen: DateTime<Utc>,
    /// Deckies reached.
    pub deckies: Vec<String>,
    /// LANs reached.
    pub lans: Vec<String>,
    /// Deepest hop (0: only deckies reached from outside).
    pub deepest_hop: usize,
    /// Sessions in all.
    pub hops: usize,
    /// Credentials used, first use first.
    pub credentials: Vec<CredentialRow>,
}

/// One hop of an attacker's path: a session on a decky.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HopRow {
    /// The decoy session id.
    pub session: String,
    /// The decky.
    pub decky: String,
    /// The LAN the session arrived on.
    pub lan: Option<String>,
    /// The decoy service.
    pub service: String,
    /// Where it came from (`ip:port`).
    pub source: String,
    /// The session it came through; none for a hop from outside.
    pub via: Option<String>,
    /// Hops from outside.
    pub depth: usize,
    /// First event.
    pub first_seen: DateTime<Utc>,
    /// Last event.
    pub last_seen: DateTime<Utc>,
    /// Credentials presented, in order.
    pub credentials: Vec<CredentialRow>,
    /// Commands run, in order (attacker data).
    pub commands: Vec<String>,
}

/// One attacker with its path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttackerDetail {
    /// The summary.
    #[serde(flatten)]
    pub summary: AttackerSummary,
    /// Its hops, in the order they began.
    pub path: Vec<HopRow>,
}

/// Attackers, most recently seen first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttackerList {
    /// The attackers.
    pub attackers: Vec<AttackerSummary>,
}

impl CredentialRow {
    fn new(credential: &Credential) -> Self {
        CredentialRow {
            user: credential.user.clone(),
            secret: credential.secret.clone(),
            accepted: credential.accepted,
        }
    }
}

impl AttackerSummary {
    /// The summary of `attacker`, who walked `topology`.
    pub fn new(topology: TopologyId, attacker: &Attacker) -> Self {
        let mut credentials: Vec<CredentialRow> = Vec::new();
        for row in attacker.hops.iter().flat_map(|h| &h.credentials).map(CredentialRow::new) {
            if !credentials.contains(&row) {
                credentials.push(row);
            }
        }
        AttackerSummary {
            id: attacker.id.clone(),
            topology_id: topology.0,
            first_seen: attacker.first_seen,
            last_seen: attacker.last_seen,
            deckies: attacker.deckies().into_iter().map(str::to_owned).collect(),
            lans: attacker.lans().into_iter().map(str::to_owned).collect(),
            deepest_hop: attacker.deepest(),
            hops: attacker.hops.len(),
            credentials,
        }
    }
}

impl HopRow {
    fn new(hop: &Hop) -> Self {
        HopRow {
            session: hop.session.clone(),
            decky: hop.decky.clone(),
            lan: hop.lan.clone(),
            service: hop.service.clone(),
            source: hop.source.clone(),
            via: hop.via.clone(),
            depth: hop.depth,
            first_seen: hop.first_seen,
            last_seen: hop.last_seen,
            credentials: hop.credentials.iter().map(CredentialRow::new).collect(),
            commands: hop.commands.clone(),
        }
    }
}

impl AttackerDetail {
    /// `attacker`, who walked `topology`, with its path.
    pub fn new(topology: TopologyId, attacker: &Attacker) -> Self {
        AttackerDetail {
            summary: AttackerSummary::new(topology, attacker),
            path: attacker.hops.iter().map(HopRow::new).collect(),
        }
    }
}

/// One breadcrumb of a topology: where it lies, where it leads, the login it carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LureRow {
    /// The decky it lies on.
    pub decky: String,
    /// The decky it leads to.
    pub target: String,
    /// The target's host name as the lure names it.
    pub target_hostname: String,
    /// The target's address it names.
    pub target_ip: String,
    /// The service its login opens.
    pub service: String,
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// The files that carry it.
    pub files: Vec<String>,
}

/// A topology's lures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LureList {
    /// The topology.
    pub topology_id: Uuid,
    /// How many lures it gets (`none`, `sparse`, `rich`).
    pub density: String,
    /// The lures, by decky.
    pub lures: Vec<LureRow>,
}

impl LureList {
    /// The lures of `design` (topology `topology`) at `density`.
    pub fn new(topology: TopologyId, design: &decnet_domain::Design, density: decnet_domain::lures::Density) -> Self {
        let seed = decnet_domain::lures::seed_of(topology);
        let lures = decnet_domain::lures::lures(design, seed, density)
            .into_values()
            .flatten()
            .map(|l| LureRow {
                decky: l.decky.to_string(),
                target: l.target.to_string(),
                target_hostname: l.target_hostname,
                target_ip: l.target_ip.to_string(),
                service: l.service,
                user: l.account.user,
                password: l.account.password,
                files: l.files,
            })
            .collect();
        let density =
            serde_json::to_value(density).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        LureList { topology_id: topology.0, density, lures }
    }
}
