//! The mutation queue contract: enqueue with a version check, leased claims, group
//! commit of claimed mutations, and failing what a teardown leaves open.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use decnet_domain::model::TopologyHeader;
use decnet_domain::validate::Context;
use decnet_domain::{Design, MutationState, Refusal, RuntimeAction, TopologyId};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::events::{NewEvent, kinds};
use crate::{ApplyOutcome, Mutation, Planner, StoreError};

/// The queue contract. Every method is one transaction (claims one statement).
#[async_trait]
pub trait Queue: Send + Sync {
    /// Queues a mutation on an active or degraded topology, checking and bumping the
    /// version in the same transaction.
    async fn enqueue(
        &self,
        id: TopologyId,
        op: &str,
        payload: &Value,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<(Mutation, i64), StoreError>;

    /// A topology's mutations, newest first.
    async fn mutations(&self, id: TopologyId, state: Option<MutationState>) -> Result<Vec<Mutation>, StoreError>;

    /// Live topologies that have a pending mutation or an expired lease.
    async fn topologies_with_work(&self, now: DateTime<Utc>) -> Result<Vec<TopologyId>, StoreError>;

    /// Claims, in one statement, up to `limit` of the oldest claimable mutations of a
    /// topology (pending, or applying under an expired lease or `owner`'s own) for `owner`
    /// until `now + lease`, oldest first. Returns nothing while another engine holds a
    /// live lease, so one topology's mutations apply strictly in order.
    async fn claim_next(
        &self,
        id: TopologyId,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Mutation>, StoreError>;

    /// Plans and settles claimed mutations of one topology, in order, in one transaction
    /// (group commit): each accepted plan becomes the design the next one is planned
    /// against and is marked `applied`; each refusal is marked `failed` with its codes and
    /// has no effect. The version stays (it rose at enqueue); the generation rises once per
    /// batch that changed the design. If `owner` no longer
    /// holds every claim, nothing is written and every outcome is
    /// [`ApplyOutcome::LeaseLost`].
    async fn apply_claimed(
        &self,
        claimed: &[Mutation],
        owner: &str,
        now: DateTime<Utc>,
        needs_claims: bool,
        planner: &Planner,
    ) -> Result<Vec<ApplyOutcome>, StoreError>;

    /// Fails every pending or applying mutation of a topology (used by teardown).
    async fn fail_open_mutations(&self, id: TopologyId, reason: &str, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Takes or renews, for `owner` until `now + ttl`, the lease on `purpose` for a topology:
    /// true when `owner` holds it after the call, false while another owner's lease runs.
    /// One statement, so two engines racing for a free or expired lease cannot both win.
    async fn lease_topology(
        &self,
        id: TopologyId,
        purpose: LeasePurpose,
        owner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Gives up `owner`'s lease on `purpose` for a topology (nothing when another holds it).
    async fn release_topology(&self, id: TopologyId, purpose: LeasePurpose, owner: &str) -> Result<(), StoreError>;

    /// Mutations queued or being applied, over every topology (the queue's depth).
    async fn open_mutations(&self) -> Result<i64, StoreError>;

    /// The topologies that get queued work from now on, as the database announces each
    /// committed enqueue of any process (PostgreSQL: LISTEN/NOTIFY), or `None` where the
    /// backend announces nothing (SQLite) and only polling finds other processes' work.
    /// Announcements can be lost while the connection is re-established, so a caller keeps
    /// a slower poll as well.
    async fn queue_announcements(&self) -> Result<Option<mpsc::Receiver<TopologyId>>, StoreError> {
        Ok(None)
    }
}

/// What an engine holds a topology lease for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeasePurpose {
    /// Draining its queue, deploying, healing, tearing down: whatever touches its
    /// containers. Held while the work lasts.
    Reconcile,
    /// Following its decoys' logs into the event log. Held while the engine follows them.
    Collect,
}

impl LeasePurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LeasePurpose::Reconcile => "reconcile",
            LeasePurpose::Collect => "collect",
        }
    }
}

/// Takes or renews a topology lease ($1 topology, $2 purpose, $3 owner, $4 new deadline,
/// $5 now, in ms): returns a row when `owner` holds it afterwards. Standard SQL both
/// backends run.
pub(crate) const LEASE_TOPOLOGY: &str = "INSERT INTO topology_leases (topology_id, purpose, owner, deadline_ms) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (topology_id, purpose) DO UPDATE \
     SET owner = excluded.owner, deadline_ms = excluded.deadline_ms \
     WHERE topology_leases.owner = excluded.owner OR topology_leases.deadline_ms <= $5 RETURNING owner";

/// The queue's depth, in standard SQL both backends run (an index covers `state`).
pub(crate) const OPEN_MUTATIONS: &str = "SELECT COUNT(*) FROM mutations WHERE state IN ('pending', 'applying')";

/// Gives a topology lease up ($1 topology, $2 purpose, $3 owner).
pub(crate) const RELEASE_TOPOLOGY: &str =
    "DELETE FROM topology_leases WHERE topology_id = $1 AND purpose = $2 AND owner = $3";

/// A lease's deadline in ms since the epoch: `now + ttl`.
pub(crate) fn deadline_ms(now: DateTime<Utc>, ttl: Duration) -> i64 {
    now.timestamp_millis().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
}

/// What planning a claimed batch gave, before anything is written: each mutation's plan
/// (its actions and the design after it) or refusal, and the design the batch leaves.
pub(crate) struct BatchPlan {
    /// The design after every accepted plan.
    pub design: Arc<Design>,
    /// Per mutation, in order.
    pub steps: Vec<(i64, PlannedStep)>,
}

/// One mutation's plan (its actions and the design after it) or refusal.
pub(crate) type PlannedStep = Result<(Vec<RuntimeAction>, Arc<Design>), Refusal>;

/// Plans `claimed` in order, each against the design the accepted ones before it left.
pub(crate) fn plan_batch(
    claimed: &[Mutation],
    header: &TopologyHeader,
    original: Arc<Design>,
    ctx: &Context,
    planner: &Planner,
) -> BatchPlan {
    let mut design = original;
    let mut steps = Vec::with_capacity(claimed.len());
    for mutation in claimed {
        match planner(mutation, header, &design, ctx) {
            Ok(plan) => {
                let mut planned = plan.design;
                crate::complete(&mut planned);
                design = Arc::new(planned);
                steps.push((mutation.id, Ok((plan.actions, design.clone()))));
            }
            Err(refusal) => steps.push((mutation.id, Err(refusal))),
        }
    }
    BatchPlan { design, steps }
}

/// The state, reason and refusal codes (JSON) a planned step settles its mutation with.
pub(crate) fn settlement(step: &PlannedStep) -> (&'static str, Option<String>, String) {
    match step {
        Ok(_) => ("applied", None, "[]".to_owned()),
        Err(refusal) => (
            "failed",
            Some(refusal.to_string()),
            serde_json::to_string(&refusal.codes()).unwrap_or_else(|_| "[]".into()),
        ),
    }
}

/// The event recording a settled step and what [`Queue::apply_claimed`] reports for it.
pub(crate) fn settled(
    step: PlannedStep,
    mutation: Mutation,
    header: &TopologyHeader,
    generation: i64,
    now: DateTime<Utc>,
) -> (NewEvent, ApplyOutcome) {
    let id = header.id;
    match step {
        Ok((actions, design)) => {
            let body = json!({ "mutation_id": mutation.id, "op": mutation.op, "version": header.version,
                               "actions": actions });
            let outcome = ApplyOutcome::Committed {
                actions,
                design,
                mutation,
                header: TopologyHeader { generation, ..header.clone() },
            };
            (NewEvent::topology(id, kinds::MUTATION_APPLIED, now, body), outcome)
        }
        Err(refusal) => {
            let body = json!({ "mutation_id": mutation.id, "op": mutation.op, "reason": mutation.reason,
                               "codes": mutation.codes, "issues": refusal.issues });
            (NewEvent::topology(id, kinds::MUTATION_FAILED, now, body), ApplyOutcome::Refused { refusal, mutation })
        }
    }
}

/// The events recording that `owner` claimed `claimed`.
pub(crate) fn applying_events(claimed: &[Mutation], owner: &str, now: DateTime<Utc>) -> Vec<NewEvent> {
    claimed
        .iter()
        .map(|m| {
            let body = json!({ "mutation_id": m.id, "op": m.op, "attempts": m.attempts, "owner": owner });
            NewEvent::topology(m.topology_id, kinds::MUTATION_APPLYING, now, body)
        })
        .collect()
}

/// The refusal code of mutations a teardown leaves open.
pub(crate) const NOT_LIVE: &str = "TOPOLOGY_NOT_LIVE";

/// The event recording that a teardown failed an open mutation.
pub(crate) fn abandoned_event(
    id: TopologyId,
    mutation_id: i64,
    op: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> NewEvent {
    let body = json!({ "mutation_id": mutation_id, "op": op, "reason": reason, "codes": [NOT_LIVE] });
    NewEvent::topology(id, kinds::MUTATION_FAILED, now, body)
}
