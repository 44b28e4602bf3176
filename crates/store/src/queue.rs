//! The mutation queue contract: enqueue with a version check, leased claims, group
//! commit of claimed mutations, and failing what a teardown leaves open.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use decnet_domain::{MutationState, TopologyId};
use serde_json::Value;

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
}
