//! [`Queue`] on SQLite: enqueue with the version checked and bumped in one statement,
//! claims as one conditional update with a lease, group commit of a claimed batch.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use decnet_domain::diff::diff;
use decnet_domain::validate::Context;
use decnet_domain::{MutationState, TopologyId};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, QueryBuilder, Row};

use super::rows::{self, ts};
use super::{SqliteStore, claims_in, events, header_in};
use crate::decode::{self, MUTATION_COLUMNS};
use crate::events::{NewEvent, kinds};
use crate::queue::{
    BatchPlan, LEASE_TOPOLOGY, LeasePurpose, OPEN_MUTATIONS, Queue, RELEASE_TOPOLOGY, abandoned_event, applying_events,
    deadline_ms, plan_batch, settled, settlement,
};
use crate::{ApplyOutcome, Mutation, Planner, StoreError};

#[async_trait]
impl Queue for SqliteStore {
    async fn enqueue(
        &self,
        id: TopologyId,
        op: &str,
        payload: &Value,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<(Mutation, i64), StoreError> {
        let _writer = self.writer.lock().await;
        let mut tx = self.write_tx().await?;
        // Check and bump in one statement; only a miss needs a second look to say why.
        let bumped: Option<i64> = sqlx::query_scalar(
            "UPDATE topologies SET version = version + 1 \
             WHERE id = $1 AND status IN ('active', 'degraded') AND ($2 IS NULL OR version = $2) RETURNING version",
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
        .bind(ts(now))
        .fetch_one(&mut *tx)
        .await?;
        let mutation = decode::mutation(&row)?;
        let queued = json!({ "mutation_id": mutation.id, "op": op, "payload": payload, "version": version });
        events::record(&mut tx, &[NewEvent::topology(id, kinds::MUTATION_ENQUEUED, now, queued)]).await?;
        tx.commit().await?;
        Ok((mutation, version))
    }

    async fn mutations(&self, id: TopologyId, state: Option<MutationState>) -> Result<Vec<Mutation>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MUTATION_COLUMNS} FROM mutations WHERE topology_id = $1 AND ($2 IS NULL OR state = $2) ORDER BY id DESC"
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
        let _writer = self.writer.lock().await;
        let now_ms = now.timestamp_millis();
        let deadline = deadline_ms(now, lease);
        let mut tx = self.bookkeeping.begin_with("BEGIN IMMEDIATE").await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "UPDATE mutations SET state = 'applying', lease_owner = $2, lease_deadline_ms = $3, attempts = attempts + 1 \
             WHERE id IN (SELECT m.id FROM mutations m WHERE m.topology_id = $1 \
               AND (m.state = 'pending' OR (m.state = 'applying' AND (m.lease_deadline_ms <= $4 OR m.lease_owner = $2))) \
               AND EXISTS (SELECT 1 FROM topologies t WHERE t.id = $1 AND t.status IN ('active', 'degraded')) \
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
        tx.commit().await?;
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
        let _writer = self.writer.lock().await;
        let Some(first) = claimed.first() else {
            return Ok(Vec::new());
        };
        let id = first.topology_id;
        let mut tx = self.write_tx().await?;
        // The header and how many of the claims this owner still holds, in one round trip.
        let mut query = QueryBuilder::<sqlx::Sqlite>::new(decode::HEADER_COLUMNS_THEN);
        query
            .push("(SELECT count(*) FROM mutations m WHERE m.state = 'applying' AND m.topology_id = topologies.id")
            .push(" AND m.lease_owner = ")
            .push_bind(owner)
            .push(" AND m.id IN (");
        let mut ids = query.separated(", ");
        for m in claimed {
            ids.push_bind(m.id);
        }
        query.push(")) FROM topologies WHERE id = ").push_bind(id.to_string());
        let row = query
            .build()
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: "topology", key: id.to_string() })?;
        let held: i64 = row.try_get(decode::HEADER_WIDTH)?;
        if usize::try_from(held).ok() != Some(claimed.len()) {
            return Ok(claimed.iter().map(|_| ApplyOutcome::LeaseLost).collect());
        }
        let header = decode::header(&row)?;
        let original = self.design(&mut tx, id, header.generation).await?;
        let ctx = if needs_claims { claims_in(&mut tx, Some(id)).await? } else { Context::default() };
        // The version counted these mutations when they were enqueued; applying them is not
        // a new intent, so it stays (an editor's staged `expected_version`s keep holding).
        let BatchPlan { design, steps } = plan_batch(claimed, &header, original.clone(), &ctx, planner);
        let changes = diff(&original, &design);
        let bump_generation = i64::from(!changes.is_empty());
        rows::write_diff(&mut tx, id, &changes).await?;
        sqlx::query("UPDATE topologies SET generation = generation + $1 WHERE id = $2")
            .bind(bump_generation)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let generation = header.generation + bump_generation;
        let mut outcomes = Vec::with_capacity(steps.len());
        let mut events = Vec::with_capacity(steps.len());
        for (mutation_id, step) in steps {
            let (state, reason, codes) = settlement(&step);
            let row = sqlx::query(AssertSqlSafe(format!(
                "UPDATE mutations SET state = $1, reason = $2, codes = $3, finished_at = $4, lease_deadline_ms = NULL \
                 WHERE id = $5 RETURNING {MUTATION_COLUMNS}"
            )))
            .bind(state)
            .bind(reason)
            .bind(codes)
            .bind(ts(now))
            .bind(mutation_id)
            .fetch_one(&mut *tx)
            .await?;
            let (event, outcome) = settled(step, decode::mutation(&row)?, &header, generation, now);
            events.push(event);
            outcomes.push(outcome);
        }
        events::record(&mut tx, &events).await?;
        tx.commit().await?;
        self.designs.put(id, generation, design);
        Ok(outcomes)
    }

    async fn fail_open_mutations(&self, id: TopologyId, reason: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let _writer = self.writer.lock().await;
        let mut tx = self.write_tx().await?;
        let failed = sqlx::query(
            "UPDATE mutations SET state = 'failed', reason = $1, codes = '[\"TOPOLOGY_NOT_LIVE\"]', finished_at = $2, \
             lease_deadline_ms = NULL WHERE topology_id = $3 AND state IN ('pending', 'applying') RETURNING id, op",
        )
        .bind(reason)
        .bind(ts(now))
        .bind(id.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let mut abandoned = Vec::with_capacity(failed.len());
        for row in &failed {
            let (mutation_id, op): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
            abandoned.push(abandoned_event(id, mutation_id, &op, reason, now));
        }
        events::record(&mut tx, &abandoned).await?;
        tx.commit().await?;
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
        let _writer = self.writer.lock().await;
        // Bookkeeping durability: a lease lost in a power cut frees the topology early,
        // as its expiry would.
        let mut tx = self.bookkeeping.begin_with("BEGIN IMMEDIATE").await?;
        let held = sqlx::query(LEASE_TOPOLOGY)
            .bind(id.to_string())
            .bind(purpose.as_str())
            .bind(owner)
            .bind(deadline_ms(now, ttl))
            .bind(now.timestamp_millis())
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(held.is_some())
    }

    async fn open_mutations(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(OPEN_MUTATIONS).fetch_one(&self.pool).await?)
    }

    async fn release_topology(&self, id: TopologyId, purpose: LeasePurpose, owner: &str) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        let mut tx = self.bookkeeping.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(RELEASE_TOPOLOGY).bind(id.to_string()).bind(purpose.as_str()).bind(owner).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}
