//! What the property tests over live ops share: an active topology's header, and random
//! ops built against the current design.

#![allow(dead_code, clippy::unwrap_used)] // Each test file uses part of it.

use chrono::Utc;
use decnet_domain::model::TopologyHeader;
use decnet_domain::{Design, Mode, MutationOp, Name, TopologyId, TopologyStatus};
use serde_json::{Value, json};

/// The header of an active topology.
pub fn header() -> TopologyHeader {
    let now = Utc::now();
    TopologyHeader {
        id: TopologyId(uuid::Uuid::nil()),
        name: Name::parse("t").unwrap(),
        mode: Mode::Unihost,
        target_host: None,
        status: TopologyStatus::Active,
        version: 1,
        generation: 1,
        observed: 0,
        created_at: now,
        status_changed_at: now,
        config_snapshot: json!({}),
    }
}

/// An op built from random bytes against the current design; often invalid on purpose.
pub fn op(design: &Design, kind: u8, a: u8, b: u8, c: u8) -> Option<MutationOp> {
    let lans: Vec<&Name> = design.lans.keys().collect();
    let deckies: Vec<&Name> = design.deckies.keys().collect();
    let lan = lans[a as usize % lans.len()].to_string();
    let decky = deckies.get(b as usize % deckies.len().max(1)).map_or("x".to_owned(), |d| d.to_string());
    // An address in the target LAN (often taken, sometimes reserved), or now and then in
    // another LAN (outside the target's subnet).
    let subnet_of = if c.is_multiple_of(5) { lans[c as usize % lans.len()] } else { lans[a as usize % lans.len()] };
    let base = u32::from(design.lans[subnet_of].subnet.network());
    let ip = std::net::Ipv4Addr::from(base + u32::from(c % 8)).to_string();
    let services = ["ssh", "http", "smtp", "smtp_relay", "gopher"];
    let pick: Vec<&str> = services.iter().enumerate().filter(|(i, _)| c & (1 << i) != 0).map(|(_, s)| *s).collect();
    let payload: (&str, Value) = match kind % 8 {
        0 => (
            "add_lan",
            json!({"name": format!("n{a}"), "subnet": format!("10.{}.{}.0/{}", 100 + b % 3, c % 4, 22 + c % 8)}),
        ),
        1 => ("remove_lan", json!({"name": lan})),
        2 => (
            "add_decky",
            json!({"name": format!("n{a}"), "lan": lan, "services": pick, "forwards_l3": c.is_multiple_of(5), "ip": ip}),
        ),
        3 => (
            "attach_decky",
            json!({"decky": decky, "lan": lan, "ip": ip, "forwards_l3": c.is_multiple_of(3), "force": true}),
        ),
        4 => ("detach_decky", json!({"decky": decky, "lan": lan})),
        5 => ("remove_decky", json!({"decky": decky})),
        6 => (
            "update_decky",
            json!({"decky": decky, "services": pick, "patch": {"forwards_l3": c.is_multiple_of(2)}, "force": true}),
        ),
        _ => ("add_lan", json!({"name": format!("d{a}"), "is_dmz": c.is_multiple_of(2)})),
    };
    MutationOp::parse(payload.0, &payload.1).ok()
}
