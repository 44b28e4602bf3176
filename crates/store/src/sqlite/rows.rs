//! Row encoding and decoding, and the design's table layout.
//!
//! A design lives in three tables: `lans`, `deckies` and `memberships` (one row per
//! decky ↔ LAN edge with the IP, `is_home` marking the decky's home LAN). Inserts are
//! batched into multi-row statements, which is what makes persisting 5,000 deckies cheap.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use decnet_domain::diff::DesignDiff;
use decnet_domain::model::TopologyHeader;
use decnet_domain::{
    Decky, DeckyState, DeckyStatus, Design, ItemId, Lan, Mode, MutationState, Name, TopologyId, TopologyStatus,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::{Mutation, StatusEvent, StoreError};

/// Columns of a topology header, in [`header`]'s order.
macro_rules! header_columns {
    () => {
        "id, name, mode, target_host, status, version, generation, config_snapshot, created_at, status_changed_at, \
         observed"
    };
}

/// The header columns, to be followed by more columns and a `FROM topologies` clause.
pub(super) const HEADER_COLUMNS_THEN: &str = concat!("SELECT ", header_columns!(), ", ");

/// Topology headers.
pub(super) const HEADER_SELECT: &str = concat!("SELECT ", header_columns!(), " FROM topologies");

/// [`HEADER_SELECT`] for one name.
pub(super) const HEADER_SELECT_BY_NAME: &str =
    concat!("SELECT ", header_columns!(), " FROM topologies WHERE name = $1");

/// [`HEADER_SELECT`] for one id.
pub(super) const HEADER_SELECT_BY_ID: &str = concat!("SELECT ", header_columns!(), " FROM topologies WHERE id = $1");

/// Columns of a mutation, in [`mutation`]'s order.
pub(super) const MUTATION_COLUMNS: &str = "id, topology_id, op, payload, state, reason, codes, lease_owner, \
     lease_deadline_ms, attempts, requested_at, finished_at";

/// Rows per multi-row INSERT (well under SQLite's bound-parameter limit).
const BATCH: usize = 400;

/// The stored form of a timestamp: RFC 3339 in UTC with microseconds (sorts as text).
pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(super) fn parse_ts(what: &str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).map_err(|e| StoreError::corrupt(what, e))
}

fn parse<T: FromStr>(what: &str, text: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| StoreError::corrupt(what, format!("{text:?}: {e}")))
}

fn item_id(what: &str, text: &str) -> Result<ItemId, StoreError> {
    parse::<uuid::Uuid>(what, text).map(ItemId)
}

fn name(what: &str, text: &str) -> Result<Name, StoreError> {
    Name::parse(text).map_err(|e| StoreError::corrupt(what, e))
}

pub(super) fn header(row: &SqliteRow) -> Result<TopologyHeader, StoreError> {
    let id: String = row.try_get(0)?;
    let snapshot: String = row.try_get(7)?;
    Ok(TopologyHeader {
        id: parse::<TopologyId>("topology id", &id)?,
        name: name("topology name", &row.try_get::<String, _>(1)?)?,
        mode: parse::<Mode>("topology mode", &row.try_get::<String, _>(2)?)?,
        target_host: row.try_get(3)?,
        status: parse::<TopologyStatus>("topology status", &row.try_get::<String, _>(4)?)?,
        version: row.try_get(5)?,
        generation: row.try_get(6)?,
        config_snapshot: serde_json::from_str(&snapshot).map_err(|e| StoreError::corrupt("config snapshot", e))?,
        created_at: parse_ts("created_at", &row.try_get::<String, _>(8)?)?,
        status_changed_at: parse_ts("status_changed_at", &row.try_get::<String, _>(9)?)?,
        observed: row.try_get(10)?,
    })
}

pub(super) fn mutation(row: &SqliteRow) -> Result<Mutation, StoreError> {
    let payload: String = row.try_get(3)?;
    let codes: String = row.try_get(6)?;
    let deadline: Option<i64> = row.try_get(8)?;
    let finished: Option<String> = row.try_get(11)?;
    Ok(Mutation {
        id: row.try_get(0)?,
        topology_id: parse("mutation topology id", &row.try_get::<String, _>(1)?)?,
        op: row.try_get(2)?,
        payload: serde_json::from_str(&payload).map_err(|e| StoreError::corrupt("mutation payload", e))?,
        state: parse::<MutationState>("mutation state", &row.try_get::<String, _>(4)?)?,
        reason: row.try_get(5)?,
        codes: serde_json::from_str(&codes).map_err(|e| StoreError::corrupt("mutation codes", e))?,
        lease_owner: row.try_get(7)?,
        lease_deadline: deadline.and_then(DateTime::from_timestamp_millis),
        attempts: row.try_get(9)?,
        requested_at: parse_ts("requested_at", &row.try_get::<String, _>(10)?)?,
        finished_at: finished.map(|f| parse_ts("finished_at", &f)).transpose()?,
    })
}

pub(super) fn status_event(row: &SqliteRow) -> Result<StatusEvent, StoreError> {
    Ok(StatusEvent {
        id: row.try_get(0)?,
        from: parse("from_status", &row.try_get::<String, _>(1)?)?,
        to: parse("to_status", &row.try_get::<String, _>(2)?)?,
        at: parse_ts("status event time", &row.try_get::<String, _>(3)?)?,
        reason: row.try_get(4)?,
    })
}

/// Gives the items of a design about to be stored what only storing gives them: an id
/// for every new LAN and decky, a host name for every new decky.
pub(super) fn complete(design: &mut Design) {
    design.assign_ids(uuid::Uuid::new_v4);
    design.assign_hostnames();
}

pub(super) async fn load_design(conn: &mut SqliteConnection, id: TopologyId) -> Result<Design, StoreError> {
    let id = id.to_string();
    let mut design = Design::default();
    let lans = sqlx::query("SELECT name, subnet, is_dmz, x, y, id FROM lans WHERE topology_id = $1")
        .bind(&id)
        .fetch_all(&mut *conn)
        .await?;
    for row in lans {
        let lan_name = name("LAN name", &row.try_get::<String, _>(0)?)?;
        let subnet = parse("LAN subnet", &row.try_get::<String, _>(1)?)?;
        design.lans.insert(
            lan_name.clone(),
            Lan {
                id: item_id("LAN id", &row.try_get::<String, _>(5)?)?,
                name: lan_name,
                subnet,
                is_dmz: row.try_get(2)?,
                x: row.try_get(3)?,
                y: row.try_get(4)?,
            },
        );
    }
    let mut deckies_by_name: BTreeMap<Name, Decky> = BTreeMap::new();
    let deckies = sqlx::query(
        "SELECT name, services, service_config, forwards_l3, archetype, x, y, uuid, hostname FROM deckies \
         WHERE topology_id = $1",
    )
    .bind(&id)
    .fetch_all(&mut *conn)
    .await?;
    for row in deckies {
        let decky_name = name("decky name", &row.try_get::<String, _>(0)?)?;
        let services: String = row.try_get(1)?;
        let config: String = row.try_get(2)?;
        deckies_by_name.insert(
            decky_name.clone(),
            Decky {
                id: item_id("decky uuid", &row.try_get::<String, _>(7)?)?,
                hostname: row.try_get::<Option<String>, _>(8)?.map(|h| name("decky hostname", &h)).transpose()?,
                home_lan: decky_name.clone(),
                name: decky_name,
                ips: BTreeMap::new(),
                services: serde_json::from_str(&services).map_err(|e| StoreError::corrupt("decky services", e))?,
                forwards_l3: row.try_get(3)?,
                archetype: row.try_get(4)?,
                service_config: serde_json::from_str(&config).map_err(|e| StoreError::corrupt("service config", e))?,
                x: row.try_get(5)?,
                y: row.try_get(6)?,
            },
        );
    }
    let memberships = sqlx::query("SELECT decky, lan, ip, is_home FROM memberships WHERE topology_id = $1")
        .bind(&id)
        .fetch_all(&mut *conn)
        .await?;
    for row in memberships {
        let decky_name: String = row.try_get(0)?;
        let lan = name("membership LAN", &row.try_get::<String, _>(1)?)?;
        let ip = parse("membership IP", &row.try_get::<String, _>(2)?)?;
        let is_home: bool = row.try_get(3)?;
        let decky = deckies_by_name
            .get_mut(decky_name.as_str())
            .ok_or_else(|| StoreError::corrupt("membership", format!("unknown decky {decky_name}")))?;
        if is_home {
            decky.home_lan = lan.clone();
        }
        decky.ips.insert(lan, ip);
    }
    design.deckies = deckies_by_name.into_iter().map(|(name, decky)| (name, Arc::new(decky))).collect();
    Ok(design)
}

pub(super) async fn load_decky_status(
    conn: &mut SqliteConnection,
    id: TopologyId,
) -> Result<BTreeMap<Name, DeckyStatus>, StoreError> {
    let rows = sqlx::query("SELECT name, state, last_error FROM deckies WHERE topology_id = $1")
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            let decky = name("decky name", &row.try_get::<String, _>(0)?)?;
            let state = parse::<DeckyState>("decky state", &row.try_get::<String, _>(1)?)?;
            Ok((decky, DeckyStatus { state, last_error: row.try_get(2)? }))
        })
        .collect()
}

pub(super) async fn insert_lans(conn: &mut SqliteConnection, id: TopologyId, lans: &[&Lan]) -> Result<(), StoreError> {
    let id = id.to_string();
    for chunk in lans.chunks(BATCH) {
        let mut query = QueryBuilder::<Sqlite>::new("INSERT INTO lans (topology_id, name, subnet, is_dmz, x, y, id) ");
        query.push_values(chunk, |mut row, lan| {
            row.push_bind(id.clone())
                .push_bind(lan.name.to_string())
                .push_bind(lan.subnet.to_string())
                .push_bind(lan.is_dmz)
                .push_bind(lan.x)
                .push_bind(lan.y)
                .push_bind(lan.id.to_string());
        });
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inserts decky rows (state `pending`) and their memberships.
pub(super) async fn insert_deckies(
    conn: &mut SqliteConnection,
    id: TopologyId,
    deckies: &[&Decky],
) -> Result<(), StoreError> {
    let id_text = id.to_string();
    for chunk in deckies.chunks(BATCH) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "INSERT INTO deckies (topology_id, name, services, service_config, forwards_l3, archetype, x, y, state, uuid, hostname) ",
        );
        query.push_values(chunk, |mut row, decky| {
            row.push_bind(id_text.clone())
                .push_bind(decky.name.to_string())
                .push_bind(serde_json::Value::from(decky.services.clone()).to_string())
                .push_bind(config_json(decky))
                .push_bind(decky.forwards_l3)
                .push_bind(decky.archetype.clone())
                .push_bind(decky.x)
                .push_bind(decky.y)
                .push_bind(DeckyState::Pending.as_str())
                .push_bind(decky.id.to_string())
                .push_bind(decky.hostname.as_ref().map(ToString::to_string));
        });
        query.build().execute(&mut *conn).await?;
    }
    insert_memberships(conn, id, deckies).await
}

fn config_json(decky: &Decky) -> String {
    serde_json::to_string(&decky.service_config).unwrap_or_else(|_| "{}".into())
}

async fn insert_memberships(conn: &mut SqliteConnection, id: TopologyId, deckies: &[&Decky]) -> Result<(), StoreError> {
    let id = id.to_string();
    let edges: Vec<(&Decky, &Name, std::net::Ipv4Addr)> =
        deckies.iter().flat_map(|d| d.ips.iter().map(move |(lan, ip)| (*d, lan, *ip))).collect();
    for chunk in edges.chunks(BATCH) {
        let mut query = QueryBuilder::<Sqlite>::new("INSERT INTO memberships (topology_id, decky, lan, ip, is_home) ");
        query.push_values(chunk, |mut row, (decky, lan, ip)| {
            row.push_bind(id.clone())
                .push_bind(decky.name.to_string())
                .push_bind(lan.to_string())
                .push_bind(ip.to_string())
                .push_bind(**lan == decky.home_lan);
        });
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Writes the rows a planned design changed. Order matters for the foreign keys and the
/// unique IP index: memberships go before the rows they reference, all deletions before
/// insertions.
pub(super) async fn write_diff(
    conn: &mut SqliteConnection,
    id: TopologyId,
    changes: &DesignDiff<'_>,
) -> Result<(), StoreError> {
    let id_text = id.to_string();
    insert_lans(conn, id, &changes.lans_added).await?;
    for lan in &changes.lans_changed {
        sqlx::query("UPDATE lans SET subnet = $1, is_dmz = $2, x = $3, y = $4 WHERE topology_id = $5 AND name = $6")
            .bind(lan.subnet.to_string())
            .bind(lan.is_dmz)
            .bind(lan.x)
            .bind(lan.y)
            .bind(&id_text)
            .bind(lan.name.as_str())
            .execute(&mut *conn)
            .await?;
    }
    for decky in &changes.deckies_removed {
        sqlx::query("DELETE FROM deckies WHERE topology_id = $1 AND name = $2")
            .bind(&id_text)
            .bind(decky.as_str())
            .execute(&mut *conn)
            .await?;
    }
    // Memberships are rewritten only for deckies whose LANs, IPs or home changed (a move
    // on the canvas touches one row); all deletions go before all insertions.
    let moved: Vec<&Decky> = changes
        .deckies_changed
        .iter()
        .filter(|(before, after)| before.ips != after.ips || before.home_lan != after.home_lan)
        .map(|(_, after)| *after)
        .collect();
    for decky in &moved {
        sqlx::query("DELETE FROM memberships WHERE topology_id = $1 AND decky = $2")
            .bind(&id_text)
            .bind(decky.name.as_str())
            .execute(&mut *conn)
            .await?;
    }
    for (_, decky) in &changes.deckies_changed {
        sqlx::query(
            "UPDATE deckies SET services = $1, service_config = $2, forwards_l3 = $3, archetype = $4, x = $5, y = $6, \
             hostname = $7 WHERE topology_id = $8 AND name = $9",
        )
        .bind(serde_json::Value::from(decky.services.clone()).to_string())
        .bind(config_json(decky))
        .bind(decky.forwards_l3)
        .bind(decky.archetype.as_deref())
        .bind(decky.x)
        .bind(decky.y)
        .bind(decky.hostname.as_ref().map(ToString::to_string))
        .bind(&id_text)
        .bind(decky.name.as_str())
        .execute(&mut *conn)
        .await?;
    }
    insert_memberships(conn, id, &moved).await?;
    insert_deckies(conn, id, &changes.deckies_added).await?;
    for lan in &changes.lans_removed {
        sqlx::query("DELETE FROM lans WHERE topology_id = $1 AND name = $2")
            .bind(&id_text)
            .bind(lan.as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
