//! Persistence for DECNET: the [`Store`] contract, its embedded SQLite implementation and the
//! PostgreSQL one for several replicas (being built: [`PgStore`] holds the accounts so far).
//!
//! This is the only crate that knows SQL. The contract is written so PostgreSQL can
//! implement it too: every method is one transaction, optimistic concurrency is a version
//! column checked and bumped inside that transaction, and queue claims are single
//! conditional updates with a lease, which `SELECT … FOR UPDATE SKIP LOCKED` also gives.

pub mod accounts;
mod cache;
mod decode;
mod error;
pub mod events;
pub mod incidents;
mod postgres;
pub mod queue;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use decnet_domain::model::TopologyHeader;
use decnet_domain::placement::Placement;
use decnet_domain::validate::{Context, ForeignSubnet};
use decnet_domain::{
    Design, Layout, MutationState, Name, Plan, Refusal, RuntimeAction, Topology, TopologyId, TopologyStatus,
};
use ipnet::Ipv4Net;
use serde_json::Value;

pub use accounts::{Accounts, Role, StreamTicket, User, UserChange};
pub use error::StoreError;
pub use events::{EventFilter, EventStats, Events, NewEvent, SinkBacklog, Snapshot, StoredEvent};
pub use incidents::{Incident, IncidentFilter, IncidentHit, Incidents};
pub use postgres::PgStore;
pub use queue::{LeasePurpose, Queue};
pub use sqlite::SqliteStore;

/// Builds the design of a new topology from the subnets already claimed by others. Runs
/// inside the creating transaction, so no other creation can claim the same subnets.
pub type DesignBuilder = Box<dyn FnOnce(&[ForeignSubnet]) -> Result<Design, Refusal> + Send>;

/// Plans one claimed mutation against the design as the mutations before it in the batch
/// left it, and other topologies' claims. Runs inside the committing transaction.
pub type Planner = dyn Fn(&Mutation, &TopologyHeader, &Design, &Context) -> Result<Plan, Refusal> + Send + Sync;

/// Edits a pending topology's design (given its header, design and other topologies'
/// claims). Runs inside the writing transaction.
pub type DesignEdit = Box<dyn FnOnce(&TopologyHeader, &Design, &Context) -> Result<Design, Refusal> + Send>;

/// Gives the items of a design about to be stored what only storing gives them: an id
/// for every new LAN and decky, a host name for every new decky.
pub(crate) fn complete(design: &mut Design) {
    design.assign_ids(uuid::Uuid::new_v4);
    design.assign_hostnames();
}

/// Sets a decky's observed state where it differs ($1 state, $2 last error, $3 topology,
/// $4 decky).
pub(crate) const SET_DECKY_STATUS: &str = "UPDATE deckies SET state = $1, last_error = $2 \
     WHERE topology_id = $3 AND name = $4 AND (state <> $1 OR last_error IS DISTINCT FROM $2)";

/// The first of `mine` (a topology's LANs and subnets) that overlaps a subnet of `deployed`
/// (other deployed topologies' names and subnets), as the refusal of its deploy.
pub(crate) fn deploy_overlap(mine: &[(String, Ipv4Net)], deployed: &[(String, Ipv4Net)]) -> Option<Refusal> {
    let overlaps = |a: &Ipv4Net, b: &Ipv4Net| a.contains(&b.network()) || b.contains(&a.network());
    mine.iter().find_map(|(lan, subnet)| {
        let (topology, theirs) = deployed.iter().find(|(_, theirs)| overlaps(subnet, theirs))?;
        Some(Refusal::one(
            decnet_domain::Code::SubnetTaken,
            decnet_domain::Target::lan(lan.as_str()),
            format!("subnet {subnet} of LAN {lan} overlaps {theirs} of deployed topology {topology}"),
        ))
    })
}

/// The fields of a new topology besides its design.
#[derive(Debug, Clone)]
pub struct NewTopology {
    /// Unique name.
    pub name: Name,
    /// Where it runs.
    pub mode: decnet_domain::Mode,
    /// Agent target host.
    pub target_host: Option<String>,
    /// How it was made (generator parameters or import source).
    pub config_snapshot: Value,
    /// Creation time.
    pub now: DateTime<Utc>,
}

/// A topology's mail personas, as the original keeps them.
#[derive(Debug, Clone, PartialEq)]
pub struct Personas {
    /// ISO-639-1 fallback language.
    pub language_default: String,
    /// The personas (JSON objects, checked by the caller).
    pub personas: Vec<Value>,
}

impl Default for Personas {
    fn default() -> Self {
        Self { language_default: "en".into(), personas: Vec::new() }
    }
}

/// A page of topologies.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// Matching rows in total.
    pub total: i64,
    /// This page.
    pub items: Vec<T>,
}

/// Filter and paging of [`Store::list_topologies`].
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this status.
    pub status: Option<TopologyStatus>,
    /// Page size (all when `None`).
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: i64,
}

/// A queued mutation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Mutation {
    /// Queue id; FIFO order within a topology.
    pub id: i64,
    /// Its topology.
    pub topology_id: TopologyId,
    /// Op name.
    pub op: String,
    /// Payload as given.
    pub payload: Value,
    /// Queue state.
    pub state: MutationState,
    /// Why it failed.
    pub reason: Option<String>,
    /// Refusal codes when it failed.
    pub codes: Vec<String>,
    /// Engine holding the lease while applying.
    pub lease_owner: Option<String>,
    /// When the lease ends.
    pub lease_deadline: Option<DateTime<Utc>>,
    /// Claims so far (more than one means a lease expired).
    pub attempts: i64,
    /// Enqueue time.
    pub requested_at: DateTime<Utc>,
    /// When it was applied or failed.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A recorded status transition.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StatusEvent {
    /// Sequence number.
    pub id: i64,
    /// Status before.
    pub from: TopologyStatus,
    /// Status after.
    pub to: TopologyStatus,
    /// When.
    pub at: DateTime<Utc>,
    /// Why.
    pub reason: String,
}

/// What [`Store::apply_claimed`] did.
#[derive(Debug)]
pub enum ApplyOutcome {
    /// The plan and the mutation's `applied` state were committed together.
    Committed {
        /// The runtime actions of the accepted plan, still to run.
        actions: Vec<RuntimeAction>,
        /// The design now stored.
        design: Arc<Design>,
        /// The mutation as now stored.
        mutation: Mutation,
        /// The topology's header after the write.
        header: TopologyHeader,
    },
    /// The planner refused; the mutation is `failed` and its effect is nil.
    Refused {
        /// Why.
        refusal: Refusal,
        /// The mutation as now stored.
        mutation: Mutation,
    },
    /// Another engine took the claim over; nothing of the batch was written.
    LeaseLost,
}

/// The persistence contract.
///
/// # Guarantees
/// - Every method is atomic: it commits whole or not at all.
/// - `version` counts accepted intents: every pending design edit and every enqueued
///   mutation bumps it exactly once. Applying an already accepted mutation, status
///   transitions, queue bookkeeping and observed decky states do not, so an editor that
///   staged edits against `v`, `v+1`, ... keeps its `expected_version`s valid while the
///   engine works. Every design change bumps `generation` (whoever makes it).
/// - Where an `expected_version` is given and differs, nothing is written and
///   [`StoreError::VersionConflict`] carries both numbers.
/// - Status changes follow the domain's transition table and are audited in the same
///   transaction.
#[async_trait]
pub trait Store: Accounts + Events + Incidents + Queue + Send + Sync {
    /// Creates a pending topology; `build` sees every subnet claimed by topologies that
    /// are not torn down, inside the same transaction as the insert.
    async fn create_topology(&self, new: NewTopology, build: DesignBuilder) -> Result<Arc<Topology>, StoreError>;

    /// Finds a topology by id or by name.
    async fn resolve(&self, key: &str) -> Result<TopologyId, StoreError>;

    /// A topology with its design and decky states.
    async fn topology(&self, id: TopologyId) -> Result<Arc<Topology>, StoreError>;

    /// A topology's header only.
    async fn header(&self, id: TopologyId) -> Result<TopologyHeader, StoreError>;

    /// A topology's header, found by id or by name, in one query.
    async fn header_by_key(&self, key: &str) -> Result<TopologyHeader, StoreError>;

    /// Topologies, newest first.
    async fn list_topologies(&self, filter: &ListFilter) -> Result<Page<TopologyHeader>, StoreError>;

    /// Subnets of every topology except `excluding` that is not torn down, and host
    /// ports published by every deployed topology except `excluding`.
    async fn claims(&self, excluding: Option<TopologyId>) -> Result<Context, StoreError>;

    /// Moves a topology to `to` if the transition is legal from its current status (and,
    /// when `from` is given, only from one of those), auditing it.
    async fn transition(
        &self,
        id: TopologyId,
        from: Option<&[TopologyStatus]>,
        to: TopologyStatus,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<TopologyHeader, StoreError>;

    /// Audited status transitions, newest first.
    async fn status_events(&self, id: TopologyId, limit: i64) -> Result<Vec<StatusEvent>, StoreError>;

    /// Deletes a pending, torn-down or failed topology with every child row.
    async fn delete_topology(&self, id: TopologyId) -> Result<(), StoreError>;

    /// Changes the design of a pending topology through `edit`, checking `expected_version`
    /// first; bumps version and generation once when the design changed. A deployed
    /// topology is refused ([`StoreError::WrongStatus`]): it changes through the queue.
    async fn edit_pending(
        &self,
        id: TopologyId,
        expected_version: Option<i64>,
        edit: DesignEdit,
        now: DateTime<Utc>,
    ) -> Result<(TopologyHeader, Arc<Design>), StoreError>;

    /// Moves LANs and deckies of a topology's design on the canvas, in any status: all of
    /// `layout` or nothing ([`StoreError::Refused`] for an unknown name or a bad position).
    /// Bumps `generation` (not `version`: a layout is no design intent) when a position
    /// changed, and records a `topology.layout_saved` event.
    async fn set_layout(
        &self,
        id: TopologyId,
        layout: &Layout,
        now: DateTime<Utc>,
    ) -> Result<TopologyHeader, StoreError>;

    /// A topology's mail personas and default language (`en`, no personas, when never set).
    async fn personas(&self, id: TopologyId) -> Result<Personas, StoreError>;

    /// Replaces a topology's mail personas (last write wins; not a design write).
    async fn set_personas(&self, id: TopologyId, personas: &Personas) -> Result<(), StoreError>;

    /// A topology's placement (empty when never set).
    async fn placement(&self, id: TopologyId) -> Result<Placement, StoreError>;

    /// Replaces a topology's placement (last write wins; not a design write).
    async fn set_placement(&self, id: TopologyId, placement: &Placement) -> Result<(), StoreError>;

    /// Records the observed state of a decky (not a design write): true when it differed
    /// from the stored one (and was written, with its event), false when it was already so
    /// or the decky is gone. Whoever wrote the stored state, this or another engine.
    async fn set_decky_status(
        &self,
        id: TopologyId,
        decky: &Name,
        status: &decnet_domain::DeckyStatus,
    ) -> Result<bool, StoreError>;
}
