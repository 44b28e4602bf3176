//! [`Queue`] on PostgreSQL, safe for any number of claiming replicas.
//!
//! Run as one statement under READ COMMITTED, SQLite's claim lets two sessions claim the
//! same topology's mutations out of order: each statement's snapshot misses the other's
//! uncommitted claim, and `SKIP LOCKED` makes the second skip the rows the first holds and
//! take the ones after them. So every writer of a topology's queue (enqueue, claim,
//! apply, teardown) first locks the topology's row, and the claim itself is the next
//! statement, whose snapshot is taken after the lock was granted: it sees every claim
//! committed before, and a live lease of another engine makes it claim nothing.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use decnet_domain::diff::diff;
use decnet_domain::validate::Context;
use decnet_domain::{MutationState, TopologyId};
use serde_json::{Value, json};
use sqlx::postgres::PgListener;
use sqlx::{AssertSqlSafe, Row};
use tokio::sync::mpsc;

use super::{PgStore, claims_in, claims_subnets, commit, events, header_in, lock_claims, lock_topology, rows};
use crate::decode::{self, MUTATION_COLUMNS};
use crate::events::{NewEvent, kinds};
use crate::queue::{
    BatchPlan, LEASE_TOPOLOGY, LeasePurpose, NOT_LIVE, OPEN_MUTATIONS, Queue, RELEASE_TOPOLOGY, abandoned_event,
    applying_events, deadline_ms, plan_batch, settled, settlement,
};
use crate::{ApplyOutcome, Mutation, Planner, StoreError};

/// The channel an enqueue notifies (with the topology's id) when it commits.
const QUEUE_CHANNEL: &str = "decnet_queue";

/// Announcements buffered for a listener that is behind.
const ANNOUNCED: usize = 1024;

#[async_trait]
impl Queue for PgStore {
    async fn enqueue(
        &self,
        id: TopologyId,
        op: &str,
        payload: &Value,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<(Mutation, i64), StoreError> {
        let mut tx = self.pool.begin().await?;
        // Check and bump in one statement: the update locks the row and re-checks the
        // condition on the latest version if another writer got there first.
        let bumped: Option<i64> = sqlx::query_scalar(
            "UPDATE topologies SET version = version + 1 \
             WHERE id = $1 AND status IN ('active', 'degraded') AND ($2::bigint IS NULL OR version = $2) \
             RETURNING version",
        )
        .bind(id.to_string())
        .bind(expected_version)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(version) = bumped else {
            let header = header_in(&mut tx, id).await?;
            if !header.status.accepts_mutations() {
                return Err(StoreError::WrongStatus {
                    status: header.status,
                    action: "enqueueing a mutation".into(),
                    allowed: "active or degraded (deploy it first)".into(),
                });
            }
            return Err(StoreError::VersionConflict {
                current: header.version,
                expected: expected_version.unwrap_or(header.version),
            });
        };
        let row = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO mutations (topology_id, op, payload, state, codes, attempts, requested_at) \
             VALUES ($1, $2, $3, 'pending', '[]', 0, $4) RETURNING {MUTATION_COLUMNS}"
        )))
        .bind(id.to_string())
        .bind(op)
        .bind(payload.to_string())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let mutation = decode::mutation(&row)?;
        // Delivered to every listening replica when this commits, never before.
        sqlx::query("SELECT pg_notify($1, $2)").bind(QUEUE_CHANNEL).bind(id.to_string()).execute(&mut *tx).await?;
        let queued = json!({ "mutation_id": mutation.id, "op": op, "payload": payload, "version": version });
        events::record(&mut tx, &[NewEvent::topology(id, kinds::MUTATION_ENQUEUED, now, queued)]).await?;
        commit(tx).await?;
        Ok((mutation, version))
    }

    async fn mutations(&self, id: TopologyId, state: Option<MutationState>) -> Result<Vec<Mutation>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MUTATION_COLUMNS} FROM mutations WHERE topology_id = $1 AND ($2::text IS NULL OR state = $2) \
             ORDER BY id DESC"
        )))
        .bind(id.to_string())
        .bind(state.map(|s| s.as_str()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode::mutation).collect()
    }

    async fn topologies_with_work(&self, now: DateTime<Utc>) -> Result<Vec<TopologyId>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT m.topology_id FROM mutations m JOIN topologies t ON t.id = m.topology_id \
             WHERE t.status IN ('active', 'degraded') \
             AND (m.state = 'pending' OR (m.state = 'applying' AND m.lease_deadline_ms <= $1))",
        )
        .bind(now.timestamp_millis())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(0)?;
                TopologyId::from_str(&id).map_err(|e| StoreError::corrupt("topology id", e))
            })
            .collect()
    }

    async fn claim_next(
        &self,
        id: TopologyId,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Mutation>, StoreError> {
        let now_ms = now.timestamp_millis();
        let deadline = deadline_ms(now, lease);
        let mut tx = self.pool.begin().await?;
        if !lock_topology(&mut tx, id).await?.status.accepts_mutations() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(AssertSqlSafe(format!(
            "UPDATE mutations SET state = 'applying', lease_owner = $2, lease_deadline_ms = $3, attempts = attempts + 1 \
             WHERE id IN (SELECT m.id FROM mutations m WHERE m.topology_id = $1 \
               AND (m.state = 'pending' OR (m.state = 'applying' AND (m.lease_deadline_ms <= $4 OR m.lease_owner = $2))) \
               AND NOT EXISTS (SELECT 1 FROM mutations o WHERE o.topology_id = $1 AND o.state = 'applying' \
                               AND o.lease_deadline_ms > $4 AND o.lease_owner <> $2) \
               ORDER BY m.id LIMIT $5) \
             RETURNING {MUTATION_COLUMNS}"
        )))
        .bind(id.to_string())
        .bind(owner)
        .bind(deadline)
        .bind(now_ms)
        .bind(i64::try_from(limit.max(1)).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
        let mut claimed = rows.iter().map(decode::mutation).collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|m| m.id);
        events::record(&mut tx, &applying_events(&claimed, owner, now)).await?;
        commit(tx).await?;
        Ok(claimed)
    }

    async fn apply_claimed(
        &self,
        claimed: &[Mutation],
        owner: &str,
        now: DateTime<Utc>,
        needs_claims: bool,
        planner: &Planner,
    ) -> Result<Vec<ApplyOutcome>, StoreError> {
        let Some(first) = claimed.first() else {
            return Ok(Vec::new());
        };
        let id = first.topology_id;
        let mut tx = self.pool.begin().await?;
        if needs_claims {
            lock_claims(&mut tx).await?;
        }
        let header = lock_topology(&mut tx, id).await?;
        let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
        let held: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM mutations WHERE topology_id = $1 AND state = 'applying' AND lease_owner = $2 \
             AND id = ANY($3)",
        )
        .bind(id.to_string())
        .bind(owner)
        .bind(&ids)
        .fetch_one(&mut *tx)
        .await?;
        if usize::try_from(held).ok() != Some(claimed.len()) {
            return Ok(claimed.iter().map(|_| ApplyOutcome::LeaseLost).collect());
        }
        let original = self.design(&mut tx, id, header.generation).await?;
        let ctx = if needs_claims { claims_in(&mut tx, Some(id)).await? } else { Context::default() };
        // The version counted these mutations when they were enqueued; applying them is not
        // a new intent, so it stays.
        let BatchPlan { design, steps } = plan_batch(claimed, &header, original.clone(), &ctx, planner);
        let changes = diff(&original, &design);
        let bump_generation = i64::from(!changes.is_empty());
        rows::write_diff(&mut tx, id, &changes, claims_subnets(header.status)).await?;
        if bump_generation > 0 {
            sqlx::query("UPDATE topologies SET generation = generation + 1 WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let generation = header.generation + bump_generation;
        let mut outcomes = Vec::with_capacity(steps.len());
        let mut settled_events = Vec::with_capacity(steps.len());
        for (mutation_id, step) in steps {
            let (state, reason, codes) = settlement(&step);
            let row = sqlx::query(AssertSqlSafe(format!(
                "UPDATE mutations SET state = $1, reason = $2, codes = $3, finished_at = $4, lease_deadline_ms = NULL \
                 WHERE id = $5 RETURNING {MUTATION_COLUMNS}"
            )))
            .bind(state)
            .bind(reason)
            .bind(codes)
            .bind(now)
            .bind(mutation_id)
            .fetch_one(&mut *tx)
            .await?;
            let (event, outcome) = settled(step, decode::mutation(&row)?, &header, generation, now);
            settled_events.push(event);
            outcomes.push(outcome);
        }
        events::record(&mut tx, &settled_events).await?;
        commit(tx).await?;
        self.designs.put(id, generation, design);
        Ok(outcomes)
    }

    async fn fail_open_mutations(&self, id: TopologyId, reason: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_topology(&mut tx, id).await?;
        let failed = sqlx::query(
            "UPDATE mutations SET state = 'failed', reason = $1, codes = $2, finished_at = $3, \
             lease_deadline_ms = NULL WHERE topology_id = $4 AND state IN ('pending', 'applying') RETURNING id, op",
        )
        .bind(reason)
        .bind(json!([NOT_LIVE]).to_string())
        .bind(now)
        .bind(id.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let mut abandoned = Vec::with_capacity(failed.len());
        for row in &failed {
            let (mutation_id, op): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
            abandoned.push(abandoned_event(id, mutation_id, &op, reason, now));
        }
        events::record(&mut tx, &abandoned).await?;
        commit(tx).await?;
        Ok(failed.len() as u64)
    }

    async fn lease_topology(
        &self,
        id: TopologyId,
        purpose: LeasePurpose,
        owner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let held = sqlx::query(LEASE_TOPOLOGY)
            .bind(id.to_string())
            .bind(purpose.as_str())
            .bind(owner)
            .bind(deadline_ms(now, ttl))
            .bind(now.timestamp_millis())
            .fetch_optional(&self.pool)
            .await?;
        Ok(held.is_some())
    }

    async fn open_mutations(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(OPEN_MUTATIONS).fetch_one(&self.pool).await?)
    }

    async fn release_topology(&self, id: TopologyId, purpose: LeasePurpose, owner: &str) -> Result<(), StoreError> {
        sqlx::query(RELEASE_TOPOLOGY)
            .bind(id.to_string())
            .bind(purpose.as_str())
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn queue_announcements(&self) -> Result<Option<mpsc::Receiver<TopologyId>>, StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(QUEUE_CHANNEL).await?;
        let (sender, receiver) = mpsc::channel(ANNOUNCED);
        tokio::spawn(async move {
            let mut wait = Duration::from_millis(100);
            loop {
                match listener.recv().await {
                    Ok(notification) => {
                        wait = Duration::from_millis(100);
                        let Ok(id) = TopologyId::from_str(notification.payload()) else { continue };
                        // A full channel means the engine is behind: it drains what is
                        // queued anyway, so an announcement may be dropped.
                        if let Err(mpsc::error::TrySendError::Closed(_)) = sender.try_send(id) {
                            return;
                        }
                    }
                    // The listener reconnects on the next call; meanwhile the poll covers.
                    Err(err) => {
                        tracing::warn!(error = %err, "queue announcements interrupted; reconnecting");
                        if sender.is_closed() {
                            return;
                        }
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(5));
                    }
                }
            }
        });
        Ok(Some(receiver))
    }
}
