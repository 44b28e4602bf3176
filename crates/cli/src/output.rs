//! What commands print: readable tables, or JSON with `--json`.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use decnet_domain::catalogue::{self, ARCHETYPES, SERVICES};
use decnet_domain::model::TopologyHeader;
use decnet_domain::{Issue, Topology};
use decnet_store::{Mutation, StatusEvent};
use serde_json::json;

fn table(headers: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(headers.iter().copied());
    table
}

fn print_json<T: serde::Serialize>(value: &T) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into()));
}

fn ports(service: &catalogue::Service) -> String {
    service.ports().map(|(p, proto)| format!("{p}/{}", proto.as_str())).collect::<Vec<_>>().join(" ")
}

pub fn services(json: bool) {
    if json {
        print_json(&decnet_api::wire::ServiceList::catalogue());
        return;
    }
    let mut t = table(&["service", "ports", "config keys", "description"]);
    for s in SERVICES {
        let keys = s.keys.iter().map(|k| k.key).collect::<Vec<_>>().join(", ");
        let description =
            if s.singleton { format!("{} (host-wide, not per decky)", s.description) } else { s.description.into() };
        t.add_row(vec![s.name.to_owned(), ports(s), keys, description]);
    }
    println!("{t}");
}

pub fn archetypes(json: bool) {
    if json {
        print_json(&decnet_api::wire::ArchetypeList::catalogue());
        return;
    }
    let mut t = table(&["archetype", "services", "os", "description"]);
    for a in ARCHETYPES {
        t.add_row(vec![a.slug.to_owned(), a.services.join(", "), a.os.as_str().to_owned(), a.description.to_owned()]);
    }
    println!("{t}");
}

fn header_json(h: &TopologyHeader) -> decnet_api::wire::TopologySummary {
    decnet_api::wire::TopologySummary::from(h)
}

pub fn created(t: &Topology, json: bool) {
    if json {
        print_json(&header_json(&t.header));
    } else {
        println!(
            "created {} {} ({} LANs, {} deckies, {} edges) status {}",
            t.header.id,
            t.header.name,
            t.design.lans.len(),
            t.design.deckies.len(),
            t.design.edges().count(),
            t.header.status
        );
    }
}

pub fn header(h: &TopologyHeader, json: bool) {
    if json {
        print_json(&header_json(h));
    } else {
        println!("{} {} status {} version {}", h.id, h.name, h.status, h.version);
    }
}

pub fn topology_list(items: &[TopologyHeader], json: bool) {
    if json {
        print_json(&items.iter().map(header_json).collect::<Vec<_>>());
        return;
    }
    let mut t = table(&["id", "name", "mode", "status", "version", "created"]);
    for h in items {
        t.add_row(vec![
            h.id.to_string(),
            h.name.to_string(),
            h.mode.as_str().to_owned(),
            h.status.to_string(),
            h.version.to_string(),
            h.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        ]);
    }
    println!("{t}");
}

pub fn topology(t: &Topology, json: bool) {
    if json {
        print_json(&decnet_api::wire::TopologyDetail::from(t));
        return;
    }
    let h = &t.header;
    println!("{} {}  status {}  version {}  mode {}", h.id, h.name, h.status, h.version, h.mode.as_str());
    let mut table = table(&["LAN", "subnet", "decky", "ip", "services", "tags", "state"]);
    for lan in t.design.lans.values() {
        let members: Vec<_> = t.design.deckies.values().filter(|d| d.ips.contains_key(&lan.name)).collect();
        let lan_label = if lan.is_dmz { format!("{} (DMZ)", lan.name) } else { lan.name.to_string() };
        if members.is_empty() {
            table.add_row(vec![lan_label.clone(), lan.subnet.to_string(), "-".into()]);
        }
        for (i, d) in members.iter().enumerate() {
            let mut tags = Vec::new();
            if d.home_lan == lan.name {
                tags.push("home");
            }
            if d.is_bridge() {
                tags.push("bridge");
            }
            if t.design.is_gateway(d) {
                tags.push("gateway");
            } else if d.forwards_l3 {
                tags.push("routes");
            }
            let state = t.decky_status.get(&d.name).map_or("pending", |s| s.state.as_str());
            table.add_row(vec![
                if i == 0 { lan_label.clone() } else { String::new() },
                if i == 0 { lan.subnet.to_string() } else { String::new() },
                d.name.to_string(),
                d.ips.get(&lan.name).map(ToString::to_string).unwrap_or_default(),
                d.services.join(","),
                tags.join(","),
                state.to_owned(),
            ]);
        }
    }
    println!("{table}");
}

pub fn issues(issues: &[Issue], json: bool) {
    if json {
        print_json(&json!({ "valid": !issues.iter().any(Issue::is_error), "issues": issues }));
        return;
    }
    if issues.is_empty() {
        println!("valid: no issues");
        return;
    }
    for issue in issues {
        let severity = if issue.is_error() { "error" } else { "warning" };
        println!("{severity:7} {issue}");
    }
}

pub fn planned(actions: &[decnet_domain::RuntimeAction], json: bool) {
    if json {
        print_json(&json!({ "accepted": true, "actions": actions }));
        return;
    }
    println!("would be accepted; runtime actions:");
    if actions.is_empty() {
        println!("  (none: a design-only change)");
    }
    for action in actions {
        println!("  {}", serde_json::to_string(action).unwrap_or_default());
    }
}

pub fn enqueued(m: &Mutation, version: i64, json: bool) {
    if json {
        print_json(&json!({ "mutation_id": m.id, "state": m.state, "op": m.op, "version": version }));
    } else {
        println!("queued mutation {} ({}); topology version is now {version}", m.id, m.op);
    }
}

pub fn mutations(list: &[Mutation], json: bool) {
    if json {
        print_json(&list.iter().map(decnet_api::wire::MutationRow::from).collect::<Vec<_>>());
        return;
    }
    let mut t = table(&["id", "op", "state", "requested", "finished", "codes", "reason"]);
    for m in list {
        t.add_row(vec![
            m.id.to_string(),
            m.op.clone(),
            m.state.to_string(),
            m.requested_at.format("%H:%M:%S%.3f").to_string(),
            m.finished_at.map(|f| f.format("%H:%M:%S%.3f").to_string()).unwrap_or_default(),
            m.codes.join(","),
            m.reason.clone().unwrap_or_default(),
        ]);
    }
    println!("{t}");
}

pub fn history(topology: decnet_domain::TopologyId, events: &[StatusEvent], json: bool) {
    if json {
        print_json(&events.iter().map(|e| decnet_api::wire::StatusEventRow::new(topology, e)).collect::<Vec<_>>());
        return;
    }
    let mut t = table(&["at", "from", "to", "reason"]);
    for e in events {
        t.add_row(vec![e.at.to_rfc3339(), e.from.to_string(), e.to.to_string(), e.reason.clone()]);
    }
    println!("{t}");
}
