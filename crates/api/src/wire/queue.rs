//! The mutation queue on the wire: mutation rows, enqueue answers, dry runs and
//! validation reports.

use super::{IssueBody, issues};
use chrono::{DateTime, Utc};
use decnet_domain::Issue;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

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

/// An edit applied to a pending topology.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EditApplied {
    /// The op applied.
    pub op: String,
    /// The topology's version after it.
    pub version: i64,
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

/// Dry runs of several mutations in order (`mutations:plan-all`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlanResults {
    /// One result per mutation, in the order given.
    pub results: Vec<PlanResult>,
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
