//! The embedded SQLite store.
//!
//! WAL journal, foreign keys on, `synchronous=FULL`, and every write in a `BEGIN
//! IMMEDIATE` transaction, so a writer takes the database lock before it reads what it
//! is about to change (no read-then-write races between processes). Designs are cached
//! by `generation` ([`DesignCache`]).

mod accounts;
mod events;
mod incidents;
mod queue;
mod rows;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use decnet_domain::diff::diff;
use decnet_domain::model::TopologyHeader;
use decnet_domain::placement::Placement;
use decnet_domain::validate::Context;
use decnet_domain::{DeckyStatus, Design, Layout, Name, Topology, TopologyId, TopologyStatus, apply_layout};
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Row, SqliteConnection, SqlitePool};

use crate::cache::DesignCache;
use crate::decode;
use crate::events::{NewEvent, kinds};
use crate::{DesignBuilder, DesignEdit, ListFilter, NewTopology, Page, Personas, StatusEvent, Store, StoreError};
use rows::ts;

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    pool: SqlitePool,
    /// One connection with `synchronous=NORMAL` for bookkeeping whose loss in a power cut
    /// is harmless, so it need not wait for its own fsync: queue leases (a lost lease
    /// leaves its mutations claimable, as its expiry would, only sooner) and observed
    /// decky states (convergence observes them again). The WAL is written in order, so
    /// the next FULL commit makes them durable too. Every write of desired state, status
    /// or queue contents stays `synchronous=FULL`.
    bookkeeping: SqlitePool,
    /// Serialises this process's writers before they reach SQLite, whose own lock waits
    /// by sleeping (1 ms and up) and would otherwise stall every enqueue that meets an
    /// apply. Other processes still meet at SQLite's lock.
    writer: tokio::sync::Mutex<()>,
    designs: DesignCache,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and runs pending migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Open { path: path.display().to_string(), source: sqlx::Error::Io(e) })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        // Connections are local and checked by every statement anyway; pinging each one on
        // checkout would cost a round trip per store call.
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(|source| StoreError::Open { path: path.display().to_string(), source })?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await.map_err(StoreError::Migrate)?;
        let bookkeeping = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.synchronous(SqliteSynchronous::Normal))
            .await
            .map_err(|source| StoreError::Open { path: path.display().to_string(), source })?;
        Ok(Self { pool, bookkeeping, writer: tokio::sync::Mutex::new(()), designs: DesignCache::default() })
    }

    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// The design at `generation`, from the cache or loaded through `conn`.
    async fn design(
        &self,
        conn: &mut SqliteConnection,
        id: TopologyId,
        generation: i64,
    ) -> Result<Arc<Design>, StoreError> {
        if let Some(design) = self.designs.get(id, generation) {
            return Ok(design);
        }
        let design = Arc::new(rows::load_design(conn, id).await?);
        self.designs.put(id, generation, design.clone());
        Ok(design)
    }
}

async fn header_in(conn: &mut SqliteConnection, id: TopologyId) -> Result<TopologyHeader, StoreError> {
    let row = sqlx::query(decode::HEADER_SELECT_BY_ID)
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound { what: "topology", key: id.to_string() })?;
    decode::header(&row)
}

async fn claims_in(conn: &mut SqliteConnection, excluding: Option<TopologyId>) -> Result<Context, StoreError> {
    let rows = sqlx::query(AssertSqlSafe(decode::claims_select("l.subnet")))
        .bind(excluding.map(|id| id.to_string()).unwrap_or_default())
        .fetch_all(&mut *conn)
        .await?;
    decode::claims(&rows)
}

/// Refuses to deploy `id` over a subnet another deployed topology holds (PostgreSQL's
/// exclusion constraint, checked by hand; the write lock is held).
async fn refuse_overlap(conn: &mut SqliteConnection, id: TopologyId) -> Result<(), StoreError> {
    let mine = sqlx::query(AssertSqlSafe(decode::own_subnets_select("subnet")))
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?;
    let deployed = sqlx::query(AssertSqlSafe(decode::deployed_subnets_select("l.subnet")))
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?;
    match crate::deploy_overlap(&decode::subnets(&mine)?, &decode::subnets(&deployed)?) {
        Some(refusal) => Err(StoreError::Refused(refusal)),
        None => Ok(()),
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_topology(&self, new: NewTopology, build: DesignBuilder) -> Result<Arc<Topology>, StoreError> {
        let _writer = self.writer.lock().await;
        let mut tx = self.write_tx().await?;
        let taken = sqlx::query("SELECT 1 FROM topologies WHERE name = $1")
            .bind(new.name.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::NameTaken { name: new.name.to_string() });
        }
        let claimed = claims_in(&mut tx, None).await?.foreign_subnets;
        let mut design = build(&claimed).map_err(StoreError::Refused)?;
        crate::complete(&mut design);
        let id = TopologyId(uuid::Uuid::new_v4());
        let header = TopologyHeader {
            id,
            name: new.name,
            mode: new.mode,
            target_host: new.target_host,
            status: TopologyStatus::Pending,
            version: 1,
            generation: 1,
            observed: 0,
            created_at: new.now,
            status_changed_at: new.now,
            config_snapshot: new.config_snapshot,
        };
        sqlx::query(
            "INSERT INTO topologies (id, name, mode, target_host, status, version, generation, config_snapshot, \
             created_at, status_changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id.to_string())
        .bind(header.name.as_str())
        .bind(header.mode.as_str())
        .bind(header.target_host.as_deref())
        .bind(header.status.as_str())
        .bind(header.version)
        .bind(header.generation)
        .bind(header.config_snapshot.to_string())
        .bind(ts(header.created_at))
        .bind(ts(header.status_changed_at))
        .execute(&mut *tx)
        .await?;
        rows::insert_lans(&mut tx, id, &design.lans.values().collect::<Vec<_>>()).await?;
        rows::insert_deckies(&mut tx, id, &design.deckies.values().map(|d| &**d).collect::<Vec<_>>()).await?;
        let created = json!({ "name": header.name, "lans": design.lans.len(), "deckies": design.deckies.len() });
        events::record(&mut tx, &[NewEvent::topology(id, kinds::TOPOLOGY_CREATED, new.now, created)]).await?;
        tx.commit().await?;
        let decky_status = design.deckies.keys().map(|n| (n.clone(), DeckyStatus::default())).collect();
        let design = Arc::new(design);
        self.designs.put(id, header.generation, design.clone());
        Ok(Arc::new(Topology { header, design, decky_status }))
    }

    async fn resolve(&self, key: &str) -> Result<TopologyId, StoreError> {
        let by_id = TopologyId::from_str(key).ok();
        let row = match by_id {
            Some(id) => sqlx::query("SELECT id FROM topologies WHERE id = $1").bind(id.to_string()),
            None => sqlx::query("SELECT id FROM topologies WHERE name = $1").bind(key),
        }
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound { what: "topology", key: key.to_owned() })?;
        let id: String = row.try_get(0)?;
        TopologyId::from_str(&id).map_err(|e| StoreError::corrupt("topology id", e))
    }

    async fn topology(&self, id: TopologyId) -> Result<Arc<Topology>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let header = header_in(&mut tx, id).await?;
        let design = self.design(&mut tx, id, header.generation).await?;
        let decky_status = rows::load_decky_status(&mut tx, id).await?;
        tx.commit().await?;
        Ok(Arc::new(Topology { header, design, decky_status }))
    }

    async fn header(&self, id: TopologyId) -> Result<TopologyHeader, StoreError> {
        let mut conn = self.pool.acquire().await?;
        header_in(&mut conn, id).await
    }

    async fn header_by_key(&self, key: &str) -> Result<TopologyHeader, StoreError> {
        let query = match TopologyId::from_str(key) {
            Ok(id) => sqlx::query(decode::HEADER_SELECT_BY_ID).bind(id.to_string()),
            Err(_) => sqlx::query(decode::HEADER_SELECT_BY_NAME).bind(key),
        };
        let row = query
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: "topology", key: key.to_owned() })?;
        decode::header(&row)
    }

    async fn list_topologies(&self, filter: &ListFilter) -> Result<Page<TopologyHeader>, StoreError> {
        let status = filter.status.map(|s| s.as_str());
        // One read transaction: the count and the rows come from the same snapshot.
        let mut tx = self.pool.begin().await?;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM topologies WHERE ($1 IS NULL OR status = $1)")
            .bind(status)
            .fetch_one(&mut *tx)
            .await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{} WHERE ($1 IS NULL OR status = $1) ORDER BY created_at DESC, id LIMIT $2 OFFSET $3",
            decode::HEADER_SELECT
        )))
        .bind(status)
        .bind(filter.limit.unwrap_or(i64::MAX))
        .bind(filter.offset.max(0))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let items = rows.iter().map(decode::header).collect::<Result<_, _>>()?;
        Ok(Page { total, items })
    }

    async fn claims(&self, excluding: Option<TopologyId>) -> Result<Context, StoreError> {
        let mut tx = self.pool.begin().await?;
        let ctx = claims_in(&mut tx, excluding).await?;
        tx.commit().await?;
        Ok(ctx)
    }

    async fn transition(
        &self,
        id: TopologyId,
        from: Option<&[TopologyStatus]>,
        to: TopologyStatus,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<TopologyHeader, StoreError> {
        let _writer = self.writer.lock().await;
        let mut tx = self.write_tx().await?;
        let mut header = header_in(&mut tx, id).await?;
        if let Some(allowed) = from
            && !allowed.contains(&header.status)
        {
            return Err(StoreError::WrongStatus {
                status: header.status,
                action: format!("moving to {to}"),
                allowed: allowed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" or "),
            });
        }
        header.status.check_transition(to)?;
        if to == TopologyStatus::Deploying {
            refuse_overlap(&mut tx, id).await?;
        }
        sqlx::query("UPDATE topologies SET status = $1, status_changed_at = $2 WHERE id = $3")
            .bind(to.as_str())
            .bind(ts(now))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO status_events (topology_id, from_status, to_status, at, reason) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.to_string())
        .bind(header.status.as_str())
        .bind(to.as_str())
        .bind(ts(now))
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        let changed = json!({ "from": header.status, "to": to, "reason": reason, "version": header.version });
        events::record(&mut tx, &[NewEvent::topology(id, kinds::STATUS, now, changed)]).await?;
        tx.commit().await?;
        header.status = to;
        header.status_changed_at = now;
        Ok(header)
    }

    async fn status_events(&self, id: TopologyId, limit: i64) -> Result<Vec<StatusEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, from_status, to_status, at, reason FROM status_events WHERE topology_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(id.to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode::status_event).collect()
    }

    async fn delete_topology(&self, id: TopologyId) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        let mut tx = self.write_tx().await?;
        let header = header_in(&mut tx, id).await?;
        if !header.status.can_delete() {
            return Err(StoreError::WrongStatus {
                status: header.status,
                action: "delete".into(),
                allowed: "pending, failed or torn_down (tear it down first)".into(),
            });
        }
        // Children go by ON DELETE CASCADE, in this same transaction.
        sqlx::query("DELETE FROM topologies WHERE id = $1").bind(id.to_string()).execute(&mut *tx).await?;
        let deleted = json!({ "name": header.name, "status": header.status });
        events::record(&mut tx, &[NewEvent::topology(id, kinds::TOPOLOGY_DELETED, Utc::now(), deleted)]).await?;
        tx.commit().await?;
        self.designs.forget(id);
        Ok(())
    }

    async fn personas(&self, id: TopologyId) -> Result<Personas, StoreError> {
        let mut tx = self.pool.begin().await?;
        header_in(&mut tx, id).await?;
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT language_default, personas FROM topology_personas WHERE topology_id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        match row {
            None => Ok(Personas::default()),
            Some((language_default, personas)) => Ok(Personas {
                language_default,
                personas: serde_json::from_str(&personas).map_err(|e| StoreError::corrupt("personas", e))?,
            }),
        }
    }

    async fn set_personas(&self, id: TopologyId, personas: &Personas) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        let mut tx = self.write_tx().await?;
        header_in(&mut tx, id).await?;
        let text = serde_json::to_string(&personas.personas).map_err(|e| StoreError::corrupt("personas", e))?;
        sqlx::query(
            "INSERT INTO topology_personas (topology_id, language_default, personas) VALUES ($1, $2, $3) \
             ON CONFLICT (topology_id) DO UPDATE SET language_default = excluded.language_default, personas = excluded.personas",
        )
        .bind(id.to_string())
        .bind(&personas.language_default)
        .bind(text)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn placement(&self, id: TopologyId) -> Result<Placement, StoreError> {
        let mut tx = self.pool.begin().await?;
        header_in(&mut tx, id).await?;
        let row: Option<(String,)> = sqlx::query_as("SELECT placement FROM topology_placements WHERE topology_id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.map_or(Ok(Placement::default()), |(text,)| decode::json("placement", &text))
    }

    async fn set_placement(&self, id: TopologyId, placement: &Placement) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        let mut tx = self.write_tx().await?;
        header_in(&mut tx, id).await?;
        let text = serde_json::to_string(placement).map_err(|e| StoreError::corrupt("placement", e))?;
        sqlx::query(
            "INSERT INTO topology_placements (topology_id, placement) VALUES ($1, $2) \
             ON CONFLICT (topology_id) DO UPDATE SET placement = excluded.placement",
        )
        .bind(id.to_string())
        .bind(text)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn edit_pending(
        &self,
        id: TopologyId,
        expected_version: Option<i64>,
        edit: DesignEdit,
        now: DateTime<Utc>,
    ) -> Result<(TopologyHeader, Arc<Design>), StoreError> {
        let _writer = self.writer.lock().await;
        let mut tx = self.write_tx().await?;
        let mut header = header_in(&mut tx, id).await?;
        if header.status != TopologyStatus::Pending {
            return Err(StoreError::WrongStatus {
                status: header.status,
                action: "editing the design".into(),
                allowed: "pending (queue a mutation to change a deployed topology)".into(),
            });
        }
        if let Some(expected) = expected_version.filter(|e| *e != header.version) {
            return Err(StoreError::VersionConflict { current: header.version, expected });
        }
        let original = self.design(&mut tx, id, header.generation).await?;
        let ctx = claims_in(&mut tx, Some(id)).await?;
        let mut design = edit(&header, &original, &ctx).map_err(StoreError::Refused)?;
        crate::complete(&mut design);
        let design = Arc::new(design);
        let changes = diff(&original, &design);
        if changes.is_empty() {
            return Ok((header, original));
        }
        rows::write_diff(&mut tx, id, &changes).await?;
        sqlx::query("UPDATE topologies SET version = version + 1, generation = generation + 1 WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        header.version += 1;
        header.generation += 1;
        let edited = json!({ "version": header.version });
        events::record(&mut tx, &[NewEvent::topology(id, kinds::DESIGN_EDITED, now, edited)]).await?;
        tx.commit().await?;
        self.designs.put(id, header.generation, design.clone());
        Ok((header, design))
    }

    async fn set_layout(
        &self,
        id: TopologyId,
        layout: &Layout,
        now: DateTime<Utc>,
    ) -> Result<TopologyHeader, StoreError> {
        let _writer = self.writer.lock().await;
        let mut tx = self.write_tx().await?;
        let mut header = header_in(&mut tx, id).await?;
        let original = self.design(&mut tx, id, header.generation).await?;
        let design = Arc::new(apply_layout(&original, layout).map_err(StoreError::Refused)?);
        let changes = diff(&original, &design);
        if changes.is_empty() {
            return Ok(header);
        }
        rows::write_diff(&mut tx, id, &changes).await?;
        // Positions are no design intent: staged `expected_version`s stay valid.
        sqlx::query("UPDATE topologies SET generation = generation + 1 WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        header.generation += 1;
        let saved = json!({ "lans": layout.lans.len(), "deckies": layout.deckies.len() });
        events::record(&mut tx, &[NewEvent::topology(id, kinds::LAYOUT_SAVED, now, saved)]).await?;
        tx.commit().await?;
        self.designs.put(id, header.generation, design);
        Ok(header)
    }

    async fn set_decky_status(&self, id: TopologyId, decky: &Name, status: &DeckyStatus) -> Result<bool, StoreError> {
        let _writer = self.writer.lock().await;
        let mut tx = self.bookkeeping.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(crate::SET_DECKY_STATUS)
            .bind(status.state.as_str())
            .bind(status.last_error.as_deref())
            .bind(id.to_string())
            .bind(decky.as_str())
            .execute(&mut *tx)
            .await?;
        let changed = done.rows_affected() > 0;
        if changed {
            sqlx::query("UPDATE topologies SET observed = observed + 1 WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            let mut event = NewEvent::topology(
                id,
                kinds::DECKY_STATE,
                Utc::now(),
                json!({ "decky": decky, "state": status.state, "last_error": status.last_error }),
            );
            event.decky = Some(decky.to_string());
            events::record(&mut tx, &[event]).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }
}
