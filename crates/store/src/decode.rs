//! Decoding stored rows into the contract's types, once for both backends.
//!
//! The backends store the same columns in their own types (SQLite keeps times as RFC 3339
//! text, PostgreSQL as TIMESTAMPTZ). [`StoredRow`] reads a column in the contract's terms,
//! so every decoder here (headers, mutations, status events, events, design rows) is
//! written once.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use decnet_domain::model::TopologyHeader;
use decnet_domain::validate::{Context, ForeignPort, ForeignSubnet};
use decnet_domain::{
    Decky, DeckyState, DeckyStatus, Design, ItemId, Lan, Mode, MutationState, Name, TopologyId, TopologyStatus,
};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::events::StoredEvent;
use crate::{Mutation, StatusEvent, StoreError};

/// A row of either backend, read column by column in the contract's types.
pub(crate) trait StoredRow {
    /// A text column.
    fn text(&self, i: usize) -> Result<String, StoreError>;
    /// A nullable text column.
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    /// An integer column.
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    /// A nullable integer column.
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    /// A boolean column.
    fn flag(&self, i: usize) -> Result<bool, StoreError>;
    /// A nullable floating-point column.
    fn opt_real(&self, i: usize) -> Result<Option<f64>, StoreError>;
    /// A nullable time column; `what` names it in a corruption error.
    fn opt_time(&self, i: usize, what: &str) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// A time column.
    fn time(&self, i: usize, what: &str) -> Result<DateTime<Utc>, StoreError> {
        self.opt_time(i, what)?.ok_or_else(|| StoreError::corrupt(what, "NULL"))
    }
}

macro_rules! plain_columns {
    () => {
        fn text(&self, i: usize) -> Result<String, StoreError> {
            Ok(self.try_get(i)?)
        }
        fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
            Ok(self.try_get(i)?)
        }
        fn int(&self, i: usize) -> Result<i64, StoreError> {
            Ok(self.try_get(i)?)
        }
        fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
            Ok(self.try_get(i)?)
        }
        fn flag(&self, i: usize) -> Result<bool, StoreError> {
            Ok(self.try_get(i)?)
        }
        fn opt_real(&self, i: usize) -> Result<Option<f64>, StoreError> {
            Ok(self.try_get(i)?)
        }
    };
}

impl StoredRow for SqliteRow {
    plain_columns!();

    fn opt_time(&self, i: usize, what: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let text: Option<String> = self.try_get(i)?;
        text.map(|t| parse_ts(what, &t)).transpose()
    }
}

impl StoredRow for PgRow {
    plain_columns!();

    fn opt_time(&self, i: usize, _what: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.try_get(i)?)
    }
}

/// Parses SQLite's stored form of a time (RFC 3339).
pub(crate) fn parse_ts(what: &str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).map_err(|e| StoreError::corrupt(what, e))
}

/// Parses a stored text column into `T`.
pub(crate) fn parse<T: FromStr>(what: &str, text: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| StoreError::corrupt(what, format!("{text:?}: {e}")))
}

/// Parses a stored JSON column.
pub(crate) fn json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt(what, e))
}

pub(crate) fn item_id(what: &str, text: &str) -> Result<ItemId, StoreError> {
    parse::<uuid::Uuid>(what, text).map(ItemId)
}

pub(crate) fn name(what: &str, text: &str) -> Result<Name, StoreError> {
    Name::parse(text).map_err(|e| StoreError::corrupt(what, e))
}

/// Columns of a topology header, in [`header`]'s order.
macro_rules! header_columns {
    () => {
        "id, name, mode, target_host, status, version, generation, config_snapshot, created_at, status_changed_at, \
         observed"
    };
}

/// How many columns [`header`] reads.
pub(crate) const HEADER_WIDTH: usize = 11;

/// Topology headers.
pub(crate) const HEADER_SELECT: &str = concat!("SELECT ", header_columns!(), " FROM topologies");

/// [`HEADER_SELECT`] for one name.
pub(crate) const HEADER_SELECT_BY_NAME: &str =
    concat!("SELECT ", header_columns!(), " FROM topologies WHERE name = $1");

/// [`HEADER_SELECT`] for one id.
pub(crate) const HEADER_SELECT_BY_ID: &str = concat!("SELECT ", header_columns!(), " FROM topologies WHERE id = $1");

/// The header columns, to be followed by more columns and a `FROM topologies` clause.
pub(crate) const HEADER_COLUMNS_THEN: &str = concat!("SELECT ", header_columns!(), ", ");

pub(crate) fn header(row: &impl StoredRow) -> Result<TopologyHeader, StoreError> {
    Ok(TopologyHeader {
        id: parse::<TopologyId>("topology id", &row.text(0)?)?,
        name: name("topology name", &row.text(1)?)?,
        mode: parse::<Mode>("topology mode", &row.text(2)?)?,
        target_host: row.opt_text(3)?,
        status: parse::<TopologyStatus>("topology status", &row.text(4)?)?,
        version: row.int(5)?,
        generation: row.int(6)?,
        config_snapshot: json("config snapshot", &row.text(7)?)?,
        created_at: row.time(8, "created_at")?,
        status_changed_at: row.time(9, "status_changed_at")?,
        observed: row.int(10)?,
    })
}

/// Columns of a mutation, in [`mutation`]'s order.
pub(crate) const MUTATION_COLUMNS: &str = "id, topology_id, op, payload, state, reason, codes, lease_owner, \
     lease_deadline_ms, attempts, requested_at, finished_at";

pub(crate) fn mutation(row: &impl StoredRow) -> Result<Mutation, StoreError> {
    Ok(Mutation {
        id: row.int(0)?,
        topology_id: parse("mutation topology id", &row.text(1)?)?,
        op: row.text(2)?,
        payload: json("mutation payload", &row.text(3)?)?,
        state: parse::<MutationState>("mutation state", &row.text(4)?)?,
        reason: row.opt_text(5)?,
        codes: json("mutation codes", &row.text(6)?)?,
        lease_owner: row.opt_text(7)?,
        lease_deadline: row.opt_int(8)?.and_then(DateTime::from_timestamp_millis),
        attempts: row.int(9)?,
        requested_at: row.time(10, "requested_at")?,
        finished_at: row.opt_time(11, "finished_at")?,
    })
}

pub(crate) fn status_event(row: &impl StoredRow) -> Result<StatusEvent, StoreError> {
    Ok(StatusEvent {
        id: row.int(0)?,
        from: parse("from_status", &row.text(1)?)?,
        to: parse("to_status", &row.text(2)?)?,
        at: row.time(3, "status event time")?,
        reason: row.text(4)?,
    })
}

/// Columns of an event, in [`event`]'s order.
pub(crate) const EVENT_COLUMNS: &str = "id, at, topology_id, kind, decky, service, source_ip, payload";

pub(crate) fn event(row: &impl StoredRow) -> Result<StoredEvent, StoreError> {
    let id = row.int(0)?;
    Ok(StoredEvent {
        id,
        at: row.time(1, "event time")?,
        topology_id: row
            .opt_text(2)?
            .map(|t| TopologyId::from_str(&t))
            .transpose()
            .map_err(|e| StoreError::corrupt(format!("topology of event {id}"), e))?,
        kind: row.text(3)?,
        decky: row.opt_text(4)?,
        service: row.opt_text(5)?,
        source_ip: row.opt_text(6)?,
        payload: json(&format!("event {id}"), &row.text(7)?)?,
    })
}

/// A LAN row: `name, subnet (as text), is_dmz, x, y, id, attachment`.
pub(crate) fn lan(row: &impl StoredRow) -> Result<Lan, StoreError> {
    let lan_name = name("LAN name", &row.text(0)?)?;
    let attachment = match row.opt_text(6)? {
        Some(text) => json(&format!("attachment of LAN {lan_name}"), &text)?,
        None => Default::default(),
    };
    Ok(Lan {
        id: item_id("LAN id", &row.text(5)?)?,
        name: lan_name,
        subnet: parse("LAN subnet", &row.text(1)?)?,
        is_dmz: row.flag(2)?,
        attachment,
        x: row.opt_real(3)?,
        y: row.opt_real(4)?,
    })
}

/// A decky row: `name, services, service_config, forwards_l3, archetype, x, y, uuid,
/// hostname`, without its LANs (the memberships add them).
pub(crate) fn decky(row: &impl StoredRow) -> Result<Decky, StoreError> {
    let decky_name = name("decky name", &row.text(0)?)?;
    Ok(Decky {
        id: item_id("decky uuid", &row.text(7)?)?,
        hostname: row.opt_text(8)?.map(|h| name("decky hostname", &h)).transpose()?,
        home_lan: decky_name.clone(),
        name: decky_name,
        ips: Default::default(),
        services: json("decky services", &row.text(1)?)?,
        forwards_l3: row.flag(3)?,
        archetype: row.opt_text(4)?,
        service_config: json("service config", &row.text(2)?)?,
        x: row.opt_real(5)?,
        y: row.opt_real(6)?,
    })
}

/// A decky's observed state: `name, state, last_error`.
pub(crate) fn decky_status(row: &impl StoredRow) -> Result<(Name, DeckyStatus), StoreError> {
    let decky = name("decky name", &row.text(0)?)?;
    let state = parse::<DeckyState>("decky state", &row.text(1)?)?;
    Ok((decky, DeckyStatus { state, last_error: row.opt_text(2)? }))
}

/// Columns of a LAN row, in [`lan`]'s order; the subnet column is backend-specific.
pub(crate) fn lan_select(subnet_as_text: &str) -> String {
    format!("SELECT name, {subnet_as_text}, is_dmz, x, y, id, attachment FROM lans WHERE topology_id = $1")
}

/// The stored form of a LAN's attachment: NULL for a bridge, else its JSON.
pub(crate) fn attachment_column(lan: &Lan) -> Option<String> {
    lan.attachment.link().map(|_| serde_json::to_string(&lan.attachment).unwrap_or_default())
}

/// Columns of a decky row, in [`decky`]'s order.
pub(crate) const DECKY_SELECT: &str = "SELECT name, services, service_config, forwards_l3, archetype, x, y, uuid, \
     hostname FROM deckies WHERE topology_id = $1";

/// Columns of a decky's observed state, in [`decky_status`]'s order.
pub(crate) const DECKY_STATUS_SELECT: &str = "SELECT name, state, last_error FROM deckies WHERE topology_id = $1";

/// Puts a design together from its LAN, decky and membership rows (membership: `decky,
/// lan, ip (as text), is_home`).
pub(crate) fn design<R: StoredRow>(lans: &[R], deckies: &[R], memberships: &[R]) -> Result<Design, StoreError> {
    let mut design = Design::default();
    for row in lans {
        let lan = lan(row)?;
        design.lans.insert(lan.name.clone(), lan);
    }
    let mut by_name: BTreeMap<Name, Decky> = BTreeMap::new();
    for row in deckies {
        let decky = decky(row)?;
        by_name.insert(decky.name.clone(), decky);
    }
    for row in memberships {
        let decky_name = row.text(0)?;
        let lan = name("membership LAN", &row.text(1)?)?;
        let ip = parse("membership IP", &row.text(2)?)?;
        let decky = by_name
            .get_mut(decky_name.as_str())
            .ok_or_else(|| StoreError::corrupt("membership", format!("unknown decky {decky_name}")))?;
        if row.flag(3)? {
            decky.home_lan = lan.clone();
        }
        decky.ips.insert(lan, ip);
    }
    design.deckies = by_name.into_iter().map(|(name, decky)| (name, Arc::new(decky))).collect();
    Ok(design)
}

/// Statuses of a deployed topology whose gateways hold host ports.
const PORT_HOLDING: &str = "('deploying','active','degraded','tearing_down')";

/// Other topologies' claims (`$1` is the excluded topology's id, or empty), in
/// [`claims`]'s form; the subnet column is backend-specific.
pub(crate) fn claims_select(subnet_as_text: &str) -> String {
    // One round trip, driven by the (few) other topologies: CROSS JOIN fixes the join
    // order in SQLite and means the same as an inner join everywhere else.
    format!(
        "SELECT t.name, CAST(0 AS BIGINT), {subnet_as_text} FROM topologies t CROSS JOIN lans l \
         WHERE l.topology_id = t.id AND t.status <> 'torn_down' AND t.id <> $1 \
         UNION ALL \
         SELECT t.name, CAST(1 AS BIGINT), d.services FROM topologies t CROSS JOIN deckies d \
         JOIN memberships m ON m.topology_id = d.topology_id AND m.decky = d.name AND m.is_home \
         JOIN lans l ON l.topology_id = m.topology_id AND l.name = m.lan \
         WHERE d.topology_id = t.id AND d.forwards_l3 AND l.is_dmz AND l.attachment IS NULL AND t.status IN {PORT_HOLDING} AND t.id <> $1"
    )
}

/// Other topologies' subnets and published host ports, from [`claims_select`]'s rows.
pub(crate) fn claims<R: StoredRow>(rows: &[R]) -> Result<Context, StoreError> {
    let mut ctx = Context::default();
    for row in rows {
        let topology = row.text(0)?;
        let value = row.text(2)?;
        if row.int(1)? == 0 {
            let subnet = parse(&format!("subnet of a LAN of {topology}"), &value)?;
            ctx.foreign_subnets.push(ForeignSubnet { topology, subnet });
            continue;
        }
        let services: Vec<String> = json(&format!("services in {topology}"), &value)?;
        for service in services.iter().filter_map(|s| decnet_domain::catalogue::decky_service(s)) {
            for (port, proto) in service.ports() {
                ctx.foreign_ports.push(ForeignPort { topology: topology.clone(), port, proto });
            }
        }
    }
    Ok(ctx)
}

/// A topology's LANs with their subnets (`$1` is its id), for [`subnets`]; the subnet
/// column is backend-specific.
pub(crate) fn own_subnets_select(subnet_as_text: &str) -> String {
    format!("SELECT name, {subnet_as_text} FROM lans WHERE topology_id = $1")
}

/// Other deployed topologies' names and subnets (`$1` is the excluded topology's id), for
/// [`subnets`].
pub(crate) fn deployed_subnets_select(subnet_as_text: &str) -> String {
    format!(
        "SELECT t.name, {subnet_as_text} FROM topologies t JOIN lans l ON l.topology_id = t.id \
         WHERE t.status NOT IN ('pending', 'torn_down') AND t.id <> $1"
    )
}

/// Rows of (name, subnet as text).
pub(crate) fn subnets<R: StoredRow>(rows: &[R]) -> Result<Vec<(String, ipnet::Ipv4Net)>, StoreError> {
    rows.iter().map(|row| Ok((row.text(0)?, parse("LAN subnet", &row.text(1)?)?))).collect()
}

/// An event-stream ticket: `ticket, username, jti, token_expires_at, expires_at`.
pub(crate) fn stream_ticket(row: &impl StoredRow) -> Result<crate::StreamTicket, StoreError> {
    Ok(crate::StreamTicket {
        ticket: row.text(0)?,
        username: row.text(1)?,
        jti: row.text(2)?,
        token_expires_at: row.time(3, "ticket's token expiry")?,
        expires_at: row.time(4, "ticket expiry")?,
    })
}
