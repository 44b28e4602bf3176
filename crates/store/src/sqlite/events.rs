//! [`Events`] on SQLite, and the helper every writing transaction uses to log its change.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use decnet_domain::TopologyId;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::SqliteStore;
use super::rows::ts;
use crate::StoreError;
use crate::decode::{self, EVENT_COLUMNS, MUTATION_COLUMNS};
use crate::events::{
    ADVANCE_SINK, EventFilter, Events, HOLD_SINK, NewEvent, SinkBacklog, Snapshot, StoredEvent, backlog,
};
use crate::queue::deadline_ms;

/// Rows per multi-row INSERT (8 parameters each, well under SQLite's limit).
const BATCH: usize = 100;

/// Appends `events` to the log on `conn`, inside the caller's transaction.
pub(super) async fn record(conn: &mut SqliteConnection, events: &[NewEvent]) -> Result<(), StoreError> {
    for chunk in events.chunks(BATCH) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "INSERT INTO events (at, topology_id, kind, decky, service, source_ip, payload) ",
        );
        query.push_values(chunk, |mut row, event| {
            row.push_bind(ts(event.at))
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
impl Events for SqliteStore {
    async fn events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1"));
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
            query.push(" AND at >= ").push_bind(ts(since));
        }
        if let Some(after) = filter.after {
            query.push(" AND id > ").push_bind(after);
        }
        query.push(" ORDER BY id LIMIT ").push_bind(filter.limit.max(0));
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(decode::event).collect()
    }

    async fn snapshot(&self, id: TopologyId) -> Result<Snapshot, StoreError> {
        // One read transaction: the header, the open mutations and the log position are
        // of the same instant.
        let mut tx = self.pool.begin().await?;
        let header = super::header_in(&mut tx, id).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
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
        // json_extract is SQLite's; a PostgreSQL store reads payload->>'log_at'.
        Ok(sqlx::query_scalar(
            "SELECT MAX(json_extract(payload, '$.log_at')) FROM events \
             WHERE topology_id = $1 AND decky = $2 AND service = $3",
        )
        .bind(topology_id.to_string())
        .bind(decky)
        .bind(service)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn prune_events(&self, before: DateTime<Utc>, max_rows: i64) -> Result<u64, StoreError> {
        let _writer = self.writer.lock().await;
        let mut tx = self.write_tx().await?;
        let old =
            sqlx::query("DELETE FROM events WHERE at < $1").bind(ts(before)).execute(&mut *tx).await?.rows_affected();
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
        let _writer = self.writer.lock().await;
        let mut tx = self.write_tx().await?;
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
        let _writer = self.writer.lock().await;
        let mut tx = self.write_tx().await?;
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
        let _writer = self.writer.lock().await;
        let mut tx = self.write_tx().await?;
        let moved = sqlx::query(ADVANCE_SINK).bind(sink).bind(owner).bind(to).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(moved == 1)
    }

    async fn sink_cursors(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as("SELECT name, after_id FROM sink_cursors ORDER BY name").fetch_all(&self.pool).await?)
    }

    async fn event_stats(&self) -> Result<crate::EventStats, StoreError> {
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(&self.pool).await?;
        let oldest: Option<String> =
            sqlx::query_scalar("SELECT at FROM events ORDER BY id LIMIT 1").fetch_optional(&self.pool).await?;
        let oldest = oldest.map(|t| decode::parse_ts("event time", &t)).transpose()?;
        let bytes: i64 =
            sqlx::query_scalar("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
                .fetch_one(&self.pool)
                .await?;
        Ok(crate::EventStats { rows, oldest, bytes })
    }

    async fn sink_backlog(&self, after: i64, keep: i64) -> Result<SinkBacklog, StoreError> {
        let mut tx = self.pool.begin().await?;
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

/// The log's end: the last id handed out (AUTOINCREMENT keeps it even when every row is gone).
async fn log_end(conn: &mut SqliteConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)")
        .fetch_one(&mut *conn)
        .await?)
}
