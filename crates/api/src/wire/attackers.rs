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
