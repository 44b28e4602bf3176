//! [`Incidents`] on SQLite: folding the alert rules' hits into incidents, with the alerter's
//! cursor moved in the same transaction.

use async_trait::async_trait;
use decnet_domain::alerts::Severity;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::SqliteStore;
use super::rows::ts;
use crate::StoreError;
use crate::events::ADVANCE_SINK;
use crate::incidents::{
    INCIDENT_COLUMNS, Incident, IncidentFilter, IncidentHit, Incidents, announcement, grow_sql, incident, latest_sql,
    open_sql,
};

/// Folds one hit; the incident afterwards and its count before.
async fn fold(
    conn: &mut SqliteConnection,
    hit: &IncidentHit,
    window: chrono::TimeDelta,
) -> Result<(Incident, i64), StoreError> {
    let topology = hit.topology_id.map(|t| t.to_string()).unwrap_or_default();
    let source = hit.source_ip.clone().unwrap_or_default();
    let latest = sqlx::query(sqlx::AssertSqlSafe(latest_sql()))
        .bind(&hit.rule)
        .bind(&topology)
        .bind(&source)
        .bind(ts(hit.at - window))
        .fetch_optional(&mut *conn)
        .await?;
    let (row, before) = match latest {
        Some(row) => {
            let current = incident(&row)?;
            let row = sqlx::query(sqlx::AssertSqlSafe(grow_sql()))
                .bind(current.id)
                .bind(ts(hit.at))
                .bind(hit.event_id)
                .bind(&hit.decky)
                .bind(&hit.service)
                .bind(hit.severity.as_str())
                .bind(hit.threshold)
                .fetch_one(&mut *conn)
                .await?;
            (row, current.count)
        }
        None => {
            let row = sqlx::query(sqlx::AssertSqlSafe(open_sql()))
                .bind(&hit.rule)
                .bind(hit.severity.as_str())
                .bind(&topology)
                .bind(&source)
                .bind(&hit.decky)
                .bind(&hit.service)
                .bind(ts(hit.at))
                .bind(hit.threshold)
                .bind(hit.event_id)
                .fetch_one(&mut *conn)
                .await?;
            (row, 0)
        }
    };
    Ok((incident(&row)?, before))
}

#[async_trait]
impl Incidents for SqliteStore {
    async fn fold_incidents(
        &self,
        hits: &[IncidentHit],
        window: std::time::Duration,
        sink: &str,
        owner: &str,
        to: i64,
    ) -> Result<Option<Vec<Incident>>, StoreError> {
        let window = chrono::TimeDelta::from_std(window).unwrap_or(chrono::TimeDelta::MAX);
        let _writer = self.writer.lock().await;
        let mut tx = self.write_tx().await?;
        // The cursor first: a replica that lost it writes nothing.
        let moved = sqlx::query(ADVANCE_SINK).bind(sink).bind(owner).bind(to).execute(&mut *tx).await?.rows_affected();
        if moved != 1 {
            return Ok(None);
        }
        let mut announced = Vec::new();
        let mut announcements = Vec::new();
        for hit in hits {
            let (incident, before) = fold(&mut tx, hit, window).await?;
            if let Some(event) = announcement(&incident, before) {
                announcements.push(event);
                announced.push(incident);
            }
        }
        super::events::record(&mut tx, &announcements).await?;
        tx.commit().await?;
        Ok(Some(announced))
    }

    async fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let mut query =
            QueryBuilder::<Sqlite>::new(format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE count >= threshold"));
        if let Some(id) = filter.topology_id {
            query.push(" AND topology_id = ").push_bind(id.to_string());
        }
        if let Some(source) = &filter.source_ip {
            query.push(" AND source_ip = ").push_bind(source.clone());
        }
        if let Some(min) = filter.min_severity {
            let allowed: Vec<&str> = [Severity::Low, Severity::Medium, Severity::High, Severity::Critical]
                .into_iter()
                .filter(|s| *s >= min)
                .map(Severity::as_str)
                .collect();
            query.push(" AND severity IN (");
            let mut list = query.separated(", ");
            for severity in allowed {
                list.push_bind(severity);
            }
            query.push(")");
        }
        query.push(" ORDER BY last_seen DESC, id DESC LIMIT ").push_bind(filter.limit.clamp(1, 10_000));
        let mut conn = self.pool.acquire().await?;
        let rows = query.build().fetch_all(&mut *conn).await?;
        rows.iter().map(incident).collect()
    }
}
