//! Row encoding on PostgreSQL: loading a design, and writing its rows in batches.
//!
//! The same table layout as SQLite's (`lans`, `deckies`, `memberships`), with subnets as
//! CIDR and addresses as INET: values are bound as text and cast in the statement, and read
//! back as text (`host(ip)`, since an INET's own text form carries `/32`).

use std::collections::BTreeMap;

use decnet_domain::diff::DesignDiff;
use decnet_domain::{Decky, DeckyState, DeckyStatus, Design, Lan, Name, TopologyId};
use sqlx::{AssertSqlSafe, PgConnection, Postgres, QueryBuilder};

use crate::{StoreError, decode};

/// Rows per multi-row INSERT (PostgreSQL takes up to 65,535 parameters per statement).
const BATCH: usize = 1000;

pub(super) async fn load_design(conn: &mut PgConnection, id: TopologyId) -> Result<Design, StoreError> {
    let id = id.to_string();
    let lans = sqlx::query(AssertSqlSafe(decode::lan_select("subnet::text"))).bind(&id).fetch_all(&mut *conn).await?;
    let deckies = sqlx::query(decode::DECKY_SELECT).bind(&id).fetch_all(&mut *conn).await?;
    let memberships = sqlx::query("SELECT decky, lan, host(ip), is_home FROM memberships WHERE topology_id = $1")
        .bind(&id)
        .fetch_all(&mut *conn)
        .await?;
    decode::design(&lans, &deckies, &memberships)
}

pub(super) async fn load_decky_status(
    conn: &mut PgConnection,
    id: TopologyId,
) -> Result<BTreeMap<Name, DeckyStatus>, StoreError> {
    let rows = sqlx::query(decode::DECKY_STATUS_SELECT).bind(id.to_string()).fetch_all(&mut *conn).await?;
    rows.iter().map(decode::decky_status).collect()
}

/// Inserts LAN rows; `claimed` when their topology is deployed (see the schema).
pub(super) async fn insert_lans(
    conn: &mut PgConnection,
    id: TopologyId,
    lans: &[&Lan],
    claimed: bool,
) -> Result<(), StoreError> {
    let id = id.to_string();
    for chunk in lans.chunks(BATCH) {
        let mut query = QueryBuilder::<Postgres>::new(
            "INSERT INTO lans (topology_id, name, subnet, is_dmz, x, y, id, claimed, attachment) ",
        );
        query.push_values(chunk, |mut row, lan| {
            row.push_bind(id.clone())
                .push_bind(lan.name.to_string())
                .push_bind(lan.subnet.to_string())
                .push_unseparated("::cidr")
                .push_bind(lan.is_dmz)
                .push_bind(lan.x)
                .push_bind(lan.y)
                .push_bind(lan.id.to_string())
                .push_bind(claimed)
                .push_bind(decode::attachment_column(lan));
        });
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inserts decky rows (state `pending`) and their memberships.
pub(super) async fn insert_deckies(
    conn: &mut PgConnection,
    id: TopologyId,
    deckies: &[&Decky],
) -> Result<(), StoreError> {
    let id_text = id.to_string();
    for chunk in deckies.chunks(BATCH) {
        let mut query = QueryBuilder::<Postgres>::new(
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

async fn insert_memberships(conn: &mut PgConnection, id: TopologyId, deckies: &[&Decky]) -> Result<(), StoreError> {
    let id = id.to_string();
    let edges: Vec<(&Decky, &Name, std::net::Ipv4Addr)> =
        deckies.iter().flat_map(|d| d.ips.iter().map(move |(lan, ip)| (*d, lan, *ip))).collect();
    for chunk in edges.chunks(BATCH) {
        let mut query =
            QueryBuilder::<Postgres>::new("INSERT INTO memberships (topology_id, decky, lan, ip, is_home) ");
        query.push_values(chunk, |mut row, (decky, lan, ip)| {
            row.push_bind(id.clone())
                .push_bind(decky.name.to_string())
                .push_bind(lan.to_string())
                .push_bind(ip.to_string())
                .push_unseparated("::inet")
                .push_bind(**lan == decky.home_lan);
        });
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Writes the rows a planned design changed, in the order the foreign keys and the unique
/// IP index need: memberships before the rows they reference, deletions before insertions.
/// New LANs claim their subnets when `claimed`.
pub(super) async fn write_diff(
    conn: &mut PgConnection,
    id: TopologyId,
    changes: &DesignDiff<'_>,
    claimed: bool,
) -> Result<(), StoreError> {
    let id_text = id.to_string();
    insert_lans(conn, id, &changes.lans_added, claimed).await?;
    for lan in &changes.lans_changed {
        sqlx::query(
            "UPDATE lans SET subnet = $1::cidr, is_dmz = $2, x = $3, y = $4, attachment = $7 \
             WHERE topology_id = $5 AND name = $6",
        )
        .bind(lan.subnet.to_string())
        .bind(lan.is_dmz)
        .bind(lan.x)
        .bind(lan.y)
        .bind(&id_text)
        .bind(lan.name.as_str())
        .bind(decode::attachment_column(lan))
        .execute(&mut *conn)
        .await?;
    }
    if !changes.deckies_removed.is_empty() {
        let names: Vec<&str> = changes.deckies_removed.iter().map(|n| n.as_str()).collect();
        sqlx::query("DELETE FROM deckies WHERE topology_id = $1 AND name = ANY($2)")
            .bind(&id_text)
            .bind(&names)
            .execute(&mut *conn)
            .await?;
    }
    // Memberships are rewritten only for deckies whose LANs, IPs or home changed.
    let moved: Vec<&Decky> = changes
        .deckies_changed
        .iter()
        .filter(|(before, after)| before.ips != after.ips || before.home_lan != after.home_lan)
        .map(|(_, after)| *after)
        .collect();
    if !moved.is_empty() {
        let names: Vec<&str> = moved.iter().map(|d| d.name.as_str()).collect();
        sqlx::query("DELETE FROM memberships WHERE topology_id = $1 AND decky = ANY($2)")
            .bind(&id_text)
            .bind(&names)
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
    if !changes.lans_removed.is_empty() {
        let names: Vec<&str> = changes.lans_removed.iter().map(|n| n.as_str()).collect();
        sqlx::query("DELETE FROM lans WHERE topology_id = $1 AND name = ANY($2)")
            .bind(&id_text)
            .bind(&names)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
