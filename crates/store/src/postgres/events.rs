//! [`Events`] on PostgreSQL, and the helper every writing transaction uses to log its change.
//!
//! Event ids come from a sequence, which numbers rows when they are inserted, not when
//! they commit: two transactions could commit ids 11 and 10 in that order, and a reader
//! that had read up to 11 would never see 10. So appending takes the events lock (a
//! transaction-level advisory lock) first and holds it until commit: ids are handed out
//! and made visible one transaction at a time, in order. Every writer appends as its last
//! step, so the lock is held only for the insert and the commit.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use decnet_domain::TopologyId;
use sqlx::{AssertSqlSafe, PgConnection, Postgres, QueryBuilder};

use super::PgStore;
use crate::StoreError;
use crate::decode::{self, EVENT_COLUMNS, MUTATION_COLUMNS};
use crate::events::{
    ADVANCE_SINK, EventFilter, Events, HOLD_SINK, NewEvent, SinkBacklog, Snapshot, StoredEvent, backlog,
};
use crate::queue::deadline_ms;

/// The advisory lock that orders event appends.
const EVENTS_LOCK: i64 = 0x4445_434e_4554_0002;

/// The advisory lock of the replica pruning the log.
const PRUNE_LOCK: i64 = 0x4445_434e_4554_0003;

/// Rows per multi-row INSERT.
const BATCH: usize = 1000;

/// Appends `events` to the log on `conn`, inside the caller's transaction, as its last
/// write.
pub(super) async fn record(conn: &mut PgConnection, events: &[NewEvent]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(EVENTS_LOCK).execute(&mut *conn).await?;
    for chunk in events.chunks(BATCH) {
        let mut query = QueryBuilder::<Postgres>::new(
            "INSERT INTO events (at, topology_id, kind, decky, service, source_ip, payload) ",
        );
        query.push_values(chunk, |mut row, event| {
            row.push_bind(event.at)
                .push_bind(event.topology_id.map(|id| id.to_string()))
                .push_bind(&event.kind)
                .push_bind(&event.decky)
                .push_bind(&event.service)
                .push_bind(&event.source_ip)
                .push_bind(event.payload.to_string());
        });
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

#[async_trait]
impl Events for PgStore {
    async fn events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let mut query = QueryBuilder::<Postgres>::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1"));
        if let Some(id) = filter.topology_id {
            query.push(" AND topology_id = ").push_bind(id.to_string());
        }
        for (column, value) in [
            ("decky", &filter.decky),
            ("service", &filter.service),
            ("source_ip", &filter.source_ip),
            ("kind", &filter.kind),
        ] {
            if let Some(value) = value {
                query.push(format_args!(" AND {column} = ")).push_bind(value.clone());
            }
        }
        if let Some(since) = filter.since {
            query.push(" AND at >= ").push_bind(since);
        }
        if let Some(after) = filter.after {
            query.push(" AND id > ").push_bind(after);
        }
        query.push(" ORDER BY id LIMIT ").push_bind(filter.limit.max(0));
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(decode::event).collect()
    }

    async fn snapshot(&self, id: TopologyId) -> Result<Snapshot, StoreError> {
        let mut tx = self.read_tx().await?;
        let header = super::header_in(&mut tx, id).await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MUTATION_COLUMNS} FROM mutations WHERE topology_id = $1 AND state IN ('pending', 'applying') \
             ORDER BY id"
        )))
        .bind(id.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let open_mutations = rows.iter().map(decode::mutation).collect::<Result<_, _>>()?;
        let last_event_id: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM events").fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(Snapshot { header, open_mutations, last_event_id: last_event_id.unwrap_or(0) })
    }

    async fn last_log_time(
        &self,
        topology_id: TopologyId,
        decky: &str,
        service: &str,
    ) -> Result<Option<String>, StoreError> {
        // Byte order ("C"), as SQLite compares: RFC 3339 times sort as text that way.
        Ok(sqlx::query_scalar(
            "SELECT MAX((payload::jsonb ->> 'log_at') COLLATE \"C\") FROM events \
             WHERE topology_id = $1 AND decky = $2 AND service = $3",
        )
        .bind(topology_id.to_string())
        .bind(decky)
        .bind(service)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn prune_events(&self, before: DateTime<Utc>, max_rows: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        // One replica prunes at a time; the others have nothing to add.
        let ours: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)").bind(PRUNE_LOCK).fetch_one(&mut *tx).await?;
        if !ours {
            return Ok(0);
        }
        let old = sqlx::query("DELETE FROM events WHERE at < $1").bind(before).execute(&mut *tx).await?.rows_affected();
        let excess =
            sqlx::query("DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET $1)")
                .bind(max_rows.max(0))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(old + excess)
    }

    async fn record_events(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        record(&mut tx, events).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn hold_sink(
        &self,
        sink: &str,
        owner: &str,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let end = log_end(&mut tx).await?;
        let cursor: Option<i64> = sqlx::query_scalar(HOLD_SINK)
            .bind(sink)
            .bind(end)
            .bind(owner)
            .bind(deadline_ms(now, ttl))
            .bind(now.timestamp_millis())
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(cursor)
    }

    async fn advance_sink(&self, sink: &str, owner: &str, to: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let moved = sqlx::query(ADVANCE_SINK).bind(sink).bind(owner).bind(to).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(moved == 1)
    }

    async fn sink_cursors(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as("SELECT name, after_id FROM sink_cursors ORDER BY name").fetch_all(&self.pool).await?)
    }

    async fn event_stats(&self) -> Result<crate::EventStats, StoreError> {
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(&self.pool).await?;
        let oldest: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT at FROM events ORDER BY id LIMIT 1").fetch_optional(&self.pool).await?;
        let bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('events')").fetch_one(&self.pool).await?;
        Ok(crate::EventStats { rows, oldest, bytes })
    }

    async fn sink_backlog(&self, after: i64, keep: i64) -> Result<SinkBacklog, StoreError> {
        let mut tx = self.read_tx().await?;
        // Counted only up to one past the bound: a healthy sink's backlog is small, and a
        // stalled one's is counted whole only when it has to be cut.
        let bounded: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE id > $1 LIMIT $2) AS waiting")
                .bind(after)
                .bind(keep.saturating_add(1))
                .fetch_one(&mut *tx)
                .await?;
        let oldest: Option<i64> = sqlx::query_scalar("SELECT MIN(id) FROM events").fetch_one(&mut *tx).await?;
        let end = log_end(&mut tx).await?;
        let over = if bounded > keep {
            let cut: i64 = sqlx::query_scalar("SELECT id FROM events WHERE id > $1 ORDER BY id DESC LIMIT 1 OFFSET $2")
                .bind(after)
                .bind(keep)
                .fetch_one(&mut *tx)
                .await?;
            let total: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE id > $1").bind(after).fetch_one(&mut *tx).await?;
            Some((cut, total))
        } else {
            None
        };
        tx.commit().await?;
        Ok(backlog(after, keep, bounded, oldest, end, over))
    }
}

/// The log's end: the last id in the log, else the sequence's last (every row deleted).
async fn log_end(conn: &mut PgConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COALESCE((SELECT MAX(id) FROM events), (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_id_seq))").fetch_one(&mut *conn).await?)
}
