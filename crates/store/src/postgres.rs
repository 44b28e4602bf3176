//! The PostgreSQL store, for several replicas on one database.
//!
//! Every write runs in one READ COMMITTED transaction that first locks what decides it, so
//! replicas never act on a stale read:
//! - a topology's writers (status, design, queue, observed states) lock its row first
//!   (`FOR NO KEY UPDATE`, which child-row inserts do not conflict with), so the statements
//!   after the lock read what the previous writer committed;
//! - writers that read other topologies' subnet claims to decide (creation, design
//!   edits, batches that need claims, deploy) hold the claims lock, a transaction-level
//!   advisory lock, and the exclusion constraint `lans_claims_disjoint` refuses an
//!   overlap whoever writes it;
//! - appending to the event log holds the events lock until commit, so event ids grow in
//!   commit order (see [`events`]);
//! - the users table is locked against other writers of users while an admin count
//!   decides a write.
//!
//! Reads that span several statements run in one REPEATABLE READ READ ONLY transaction, so
//! a header and the design rows it names come from the same snapshot.

mod accounts;
mod events;
mod incidents;
mod queue;
mod rows;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use decnet_domain::diff::diff;
use decnet_domain::model::TopologyHeader;
use decnet_domain::placement::Placement;
use decnet_domain::validate::Context;
use decnet_domain::{
    Code, DeckyStatus, Design, Layout, Name, Refusal, Target, Topology, TopologyId, TopologyStatus, apply_layout,
};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, Postgres, Transaction};

use crate::cache::DesignCache;
use crate::decode;
use crate::events::{NewEvent, kinds};
use crate::{DesignBuilder, DesignEdit, ListFilter, NewTopology, Page, Personas, StatusEvent, Store, StoreError};

/// How long connecting to the server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The advisory lock held by writers that decide on other topologies' subnet claims.
const CLAIMS_LOCK: i64 = 0x4445_434e_4554_0001;

/// The PostgreSQL implementation of the store contracts.
pub struct PgStore {
    pool: PgPool,
    designs: DesignCache,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://…`) and runs pending migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let open = |source| StoreError::Open { path: redacted(url), source };
        let options: PgConnectOptions = url.parse().map_err(open)?;
        // One connection first, bounded in time, so a wrong address or password is
        // reported as itself at once (a pool would retry until its own timeout and then
        // say only that it timed out).
        let probe = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| {
                open(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                )))
            })?
            .map_err(open)?;
        probe.close().await.map_err(open)?;
        let pool = PgPoolOptions::new().max_connections(8).acquire_timeout(CONNECT_TIMEOUT).connect_lazy_with(options);
        sqlx::migrate!("./migrations/postgres").run(&pool).await.map_err(StoreError::Migrate)?;
        Ok(Self { pool, designs: DesignCache::default() })
    }

    /// A read transaction whose statements share one snapshot.
    async fn read_tx(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?)
    }

    /// The design at `generation`, from the cache or loaded through `conn`.
    async fn design(
        &self,
        conn: &mut PgConnection,
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

async fn header_in(conn: &mut PgConnection, id: TopologyId) -> Result<TopologyHeader, StoreError> {
    let row = sqlx::query(decode::HEADER_SELECT_BY_ID)
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound { what: "topology", key: id.to_string() })?;
    decode::header(&row)
}

/// Locks a topology's row against its other writers until the transaction ends; its header.
async fn lock_topology(conn: &mut PgConnection, id: TopologyId) -> Result<TopologyHeader, StoreError> {
    let row = sqlx::query(AssertSqlSafe(format!("{} FOR NO KEY UPDATE", decode::HEADER_SELECT_BY_ID)))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound { what: "topology", key: id.to_string() })?;
    decode::header(&row)
}

/// Whether a topology's LANs claim their subnets in the database (from deploy to teardown;
/// a pending design is a draft).
fn claims_subnets(status: TopologyStatus) -> bool {
    !matches!(status, TopologyStatus::Pending | TopologyStatus::TornDown)
}

/// Holds the claims lock until the transaction ends.
async fn lock_claims(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(CLAIMS_LOCK).execute(conn).await?;
    Ok(())
}

async fn claims_in(conn: &mut PgConnection, excluding: Option<TopologyId>) -> Result<Context, StoreError> {
    let rows = sqlx::query(AssertSqlSafe(decode::claims_select("l.subnet::text")))
        .bind(excluding.map(|id| id.to_string()).unwrap_or_default())
        .fetch_all(&mut *conn)
        .await?;
    decode::claims(&rows)
}

/// Refuses to deploy `id` over a subnet another deployed topology holds, with the LANs
/// named (the claims lock is held; the exclusion constraint would refuse it too, at commit,
/// in its own words).
async fn refuse_overlap(conn: &mut PgConnection, id: TopologyId) -> Result<(), StoreError> {
    let mine = sqlx::query(AssertSqlSafe(decode::own_subnets_select("subnet::text")))
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?;
    let deployed = sqlx::query(AssertSqlSafe(decode::deployed_subnets_select("l.subnet::text")))
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?;
    match crate::deploy_overlap(&decode::subnets(&mine)?, &decode::subnets(&deployed)?) {
        Some(refusal) => Err(StoreError::Refused(refusal)),
        None => Ok(()),
    }
}

/// The database's refusal of overlapping subnet claims as the contract's refusal.
fn claims_conflict(err: StoreError) -> StoreError {
    let StoreError::Database(sqlx::Error::Database(db)) = &err else { return err };
    if db.code().as_deref() != Some("23P01") {
        return err;
    }
    let detail = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().and_then(|e| e.detail()).unwrap_or("");
    StoreError::Refused(Refusal::one(
        Code::SubnetTaken,
        Target::default(),
        format!("a LAN overlaps a subnet another deployed topology claims ({detail})"),
    ))
}

/// Commits, reporting an overlap found at commit as [`claims_conflict`] does.
async fn commit(tx: Transaction<'static, Postgres>) -> Result<(), StoreError> {
    tx.commit().await.map_err(|e| claims_conflict(e.into()))
}

#[async_trait]
impl Store for PgStore {
    async fn create_topology(&self, new: NewTopology, build: DesignBuilder) -> Result<Arc<Topology>, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_claims(&mut tx).await?;
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
        .bind(header.created_at)
        .bind(header.status_changed_at)
        .execute(&mut *tx)
        .await?;
        rows::insert_lans(&mut tx, id, &design.lans.values().collect::<Vec<_>>(), false).await?;
        rows::insert_deckies(&mut tx, id, &design.deckies.values().map(|d| &**d).collect::<Vec<_>>()).await?;
        let created = json!({ "name": header.name, "lans": design.lans.len(), "deckies": design.deckies.len() });
        events::record(&mut tx, &[NewEvent::topology(id, kinds::TOPOLOGY_CREATED, new.now, created)]).await?;
        commit(tx).await?;
        let decky_status = design.deckies.keys().map(|n| (n.clone(), DeckyStatus::default())).collect();
        let design = Arc::new(design);
        self.designs.put(id, header.generation, design.clone());
        Ok(Arc::new(Topology { header, design, decky_status }))
    }

    async fn resolve(&self, key: &str) -> Result<TopologyId, StoreError> {
        Ok(self.header_by_key(key).await?.id)
    }

    async fn topology(&self, id: TopologyId) -> Result<Arc<Topology>, StoreError> {
        let mut tx = self.read_tx().await?;
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
        let mut tx = self.read_tx().await?;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM topologies WHERE ($1::text IS NULL OR status = $1)")
            .bind(status)
            .fetch_one(&mut *tx)
            .await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{} WHERE ($1::text IS NULL OR status = $1) ORDER BY created_at DESC, id LIMIT $2 OFFSET $3",
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
        let mut conn = self.pool.acquire().await?;
        claims_in(&mut conn, excluding).await
    }

    async fn transition(
        &self,
        id: TopologyId,
        from: Option<&[TopologyStatus]>,
        to: TopologyStatus,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<TopologyHeader, StoreError> {
        let mut tx = self.pool.begin().await?;
        if to == TopologyStatus::Deploying {
            lock_claims(&mut tx).await?;
        }
        let mut header = lock_topology(&mut tx, id).await?;
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
        // A deploy makes the LANs claim their subnets (the exclusion constraint refuses an
        // overlap at commit); a teardown releases them.
        let claims = match to {
            TopologyStatus::Deploying => Some(true),
            TopologyStatus::TornDown => Some(false),
            _ => None,
        };
        if to == TopologyStatus::Deploying {
            refuse_overlap(&mut tx, id).await?;
        }
        if let Some(claimed) = claims {
            sqlx::query("UPDATE lans SET claimed = $1 WHERE topology_id = $2")
                .bind(claimed)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE topologies SET status = $1, status_changed_at = $2 WHERE id = $3")
            .bind(to.as_str())
            .bind(now)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO status_events (topology_id, from_status, to_status, at, reason) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.to_string())
        .bind(header.status.as_str())
        .bind(to.as_str())
        .bind(now)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        let changed = json!({ "from": header.status, "to": to, "reason": reason, "version": header.version });
        events::record(&mut tx, &[NewEvent::topology(id, kinds::STATUS, now, changed)]).await?;
        commit(tx).await?;
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
        let mut tx = self.pool.begin().await?;
        let header = lock_topology(&mut tx, id).await?;
        if !header.status.can_delete() {
            return Err(StoreError::WrongStatus {
                status: header.status,
                action: "delete".into(),
                allowed: "pending, failed or torn_down (tear it down first)".into(),
            });
        }
        sqlx::query("DELETE FROM topologies WHERE id = $1").bind(id.to_string()).execute(&mut *tx).await?;
        let deleted = json!({ "name": header.name, "status": header.status });
        events::record(&mut tx, &[NewEvent::topology(id, kinds::TOPOLOGY_DELETED, Utc::now(), deleted)]).await?;
        commit(tx).await?;
        self.designs.forget(id);
        Ok(())
    }

    async fn personas(&self, id: TopologyId) -> Result<Personas, StoreError> {
        let mut tx = self.read_tx().await?;
        header_in(&mut tx, id).await?;
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT language_default, personas FROM topology_personas WHERE topology_id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        match row {
            None => Ok(Personas::default()),
            Some((language_default, personas)) => {
                Ok(Personas { language_default, personas: decode::json("personas", &personas)? })
            }
        }
    }

    async fn set_personas(&self, id: TopologyId, personas: &Personas) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_topology(&mut tx, id).await?;
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
        commit(tx).await
    }

    async fn placement(&self, id: TopologyId) -> Result<Placement, StoreError> {
        let mut tx = self.read_tx().await?;
        header_in(&mut tx, id).await?;
        let row: Option<(String,)> = sqlx::query_as("SELECT placement FROM topology_placements WHERE topology_id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.map_or(Ok(Placement::default()), |(text,)| decode::json("placement", &text))
    }

    async fn set_placement(&self, id: TopologyId, placement: &Placement) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_topology(&mut tx, id).await?;
        let text = serde_json::to_string(placement).map_err(|e| StoreError::corrupt("placement", e))?;
        sqlx::query(
            "INSERT INTO topology_placements (topology_id, placement) VALUES ($1, $2) \
             ON CONFLICT (topology_id) DO UPDATE SET placement = excluded.placement",
        )
        .bind(id.to_string())
        .bind(text)
        .execute(&mut *tx)
        .await?;
        commit(tx).await
    }

    async fn edit_pending(
        &self,
        id: TopologyId,
        expected_version: Option<i64>,
        edit: DesignEdit,
        now: DateTime<Utc>,
    ) -> Result<(TopologyHeader, Arc<Design>), StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_claims(&mut tx).await?;
        let mut header = lock_topology(&mut tx, id).await?;
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
        rows::write_diff(&mut tx, id, &changes, false).await?;
        sqlx::query("UPDATE topologies SET version = version + 1, generation = generation + 1 WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        header.version += 1;
        header.generation += 1;
        let edited = json!({ "version": header.version });
        events::record(&mut tx, &[NewEvent::topology(id, kinds::DESIGN_EDITED, now, edited)]).await?;
        commit(tx).await?;
        self.designs.put(id, header.generation, design.clone());
        Ok((header, design))
    }

    async fn set_layout(
        &self,
        id: TopologyId,
        layout: &Layout,
        now: DateTime<Utc>,
    ) -> Result<TopologyHeader, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut header = lock_topology(&mut tx, id).await?;
        let original = self.design(&mut tx, id, header.generation).await?;
        let design = Arc::new(apply_layout(&original, layout).map_err(StoreError::Refused)?);
        let changes = diff(&original, &design);
        if changes.is_empty() {
            return Ok(header);
        }
        rows::write_diff(&mut tx, id, &changes, claims_subnets(header.status)).await?;
        // Positions are no design intent: staged `expected_version`s stay valid.
        sqlx::query("UPDATE topologies SET generation = generation + 1 WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        header.generation += 1;
        let saved = json!({ "lans": layout.lans.len(), "deckies": layout.deckies.len() });
        events::record(&mut tx, &[NewEvent::topology(id, kinds::LAYOUT_SAVED, now, saved)]).await?;
        commit(tx).await?;
        self.designs.put(id, header.generation, design);
        Ok(header)
    }

    async fn set_decky_status(&self, id: TopologyId, decky: &Name, status: &DeckyStatus) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_topology(&mut tx, id).await?;
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
        commit(tx).await?;
        Ok(changed)
    }
}

/// `url` without its password (in the authority or as a `password=` parameter), for
/// error messages.
fn redacted(url: &str) -> String {
    let url = match url
        .split_once("://")
        .and_then(|(scheme, rest)| rest.split_once('@').map(|(auth, host)| (scheme, auth, host)))
    {
        Some((scheme, auth, host)) if auth.contains(':') => {
            let user = auth.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    };
    match url.split_once('?') {
        Some((base, query)) => {
            let params: Vec<&str> =
                query.split('&').map(|p| if p.starts_with("password=") { "password=***" } else { p }).collect();
            format!("{base}?{}", params.join("&"))
        }
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn a_password_never_reaches_an_error_message() {
        assert_eq!(redacted("postgres://decnet:s3cret@db:5432/decnet"), "postgres://decnet:***@db:5432/decnet");
        assert_eq!(redacted("postgres:///x?host=/tmp/pg"), "postgres:///x?host=/tmp/pg");
        assert_eq!(redacted("postgres://decnet@db/decnet"), "postgres://decnet@db/decnet");
        assert_eq!(redacted("postgres://db/decnet?user=a&password=s3cret"), "postgres://db/decnet?user=a&password=***");
    }
}
