//! What commands print: readable tables, or with `--json` the API's wire shapes, whichever
//! backend answered.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use decnet_api::wire::{
    ArchetypeList, Enqueued, MutationRow, PlanResult, ReapReport, ServiceList, StatusEventRow, TopologyDetail,
    TopologyPage, TopologySummary, ValidationReport,
};
use serde::Serialize;

fn table(headers: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(headers.iter().copied());
    table
}

/// Pretty JSON of a wire body.
pub fn print_json<T: Serialize>(value: &T) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into()));
}

pub fn services(list: &ServiceList, json: bool) {
    if json {
        return print_json(list);
    }
    let mut t = table(&["service", "ports", "config keys", "description"]);
    for s in &list.details {
        let ports: Vec<String> = s
            .tcp_ports
            .iter()
            .map(|p| format!("{p}/tcp"))
            .chain(s.udp_ports.iter().map(|p| format!("{p}/udp")))
            .collect();
        let keys: Vec<&str> = s.fields.iter().map(|f| f.key.as_str()).collect();
        let description = if s.fleet_singleton {
            format!("{} (host-wide, not per decky)", s.description)
        } else {
            s.description.clone()
        };
        t.add_row(vec![s.name.clone(), ports.join(" "), keys.join(", "), description]);
    }
    println!("{t}");
}

pub fn archetypes(list: &ArchetypeList, json: bool) {
    if json {
        return print_json(list);
    }
    let mut t = table(&["archetype", "services", "os", "description"]);
    for a in &list.archetypes {
        t.add_row(vec![a.slug.clone(), a.services.join(", "), a.nmap_os.clone(), a.description.clone()]);
    }
    println!("{t}");
}

/// A new topology: its summary, and its size from the whole.
pub fn created(detail: &TopologyDetail, json: bool) {
    let t = &detail.topology;
    if json {
        return print_json(t);
    }
    println!(
        "created {} {} ({} LANs, {} deckies, {} edges) status {}",
        t.id,
        t.name,
        detail.lans.len(),
        detail.deckies.len(),
        detail.edges.len(),
        t.status
    );
}

pub fn summary(t: &TopologySummary, json: bool) {
    if json {
        return print_json(t);
    }
    println!("{} {} status {} version {}", t.id, t.name, t.status, t.version);
}

pub fn topology_list(page: &TopologyPage, json: bool) {
    if json {
        return print_json(page);
    }
    let mut t = table(&["id", "name", "mode", "status", "version", "created"]);
    for h in &page.data {
        t.add_row(vec![
            h.id.to_string(),
            h.name.clone(),
            h.mode.clone(),
            h.status.clone(),
            h.version.to_string(),
            h.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        ]);
    }
    println!("{t}");
    if page.total > page.data.len() as i64 {
        println!("(showing {} of {})", page.data.len(), page.total);
    }
}

pub fn topology(detail: &TopologyDetail, json: bool) {
    if json {
        return print_json(detail);
    }
    let h = &detail.topology;
    println!("{} {}  status {}  version {}  mode {}", h.id, h.name, h.status, h.version, h.mode);
    let mut table = table(&["LAN", "subnet", "decky", "ip", "services", "tags", "state"]);
    for lan in &detail.lans {
        let members: Vec<_> =
            detail.deckies.iter().filter(|d| d.decky_config.ips_by_lan.contains_key(&lan.name)).collect();
        let lan_label = match (&lan.attachment.interface, lan.is_dmz) {
            (Some(interface), _) => format!("{} (DMZ, {} on {interface})", lan.name, lan.attachment.mode),
            (None, true) => format!("{} (DMZ)", lan.name),
            (None, false) => lan.name.clone(),
        };
        if members.is_empty() {
            table.add_row(vec![lan_label.clone(), lan.subnet.clone(), "-".into()]);
        }
        for (i, d) in members.iter().enumerate() {
            let mut tags = Vec::new();
            if d.home_lan == lan.name {
                tags.push("home");
            }
            if d.decky_config.ips_by_lan.len() >= 2 {
                tags.push("bridge");
            }
            if d.is_gateway {
                tags.push("gateway");
            } else if d.decky_config.forwards_l3 == Some(true) {
                tags.push("routes");
            }
            table.add_row(vec![
                if i == 0 { lan_label.clone() } else { String::new() },
                if i == 0 { lan.subnet.clone() } else { String::new() },
                d.name.clone(),
                d.decky_config.ips_by_lan.get(&lan.name).and_then(|ip| ip.as_str()).unwrap_or_default().to_owned(),
                d.services.join(","),
                tags.join(","),
                d.state.clone(),
            ]);
        }
    }
    println!("{table}");
}

pub fn validation(report: &ValidationReport, json: bool) {
    if json {
        return print_json(report);
    }
    if report.issues.is_empty() {
        println!("valid: no issues");
        return;
    }
    for issue in &report.issues {
        println!("{:7} {}: {}", issue.severity, issue.code, issue.message);
    }
}

pub fn planned(plan: &PlanResult, json: bool) {
    if json {
        return print_json(plan);
    }
    if !plan.accepted {
        println!("would be refused:");
        for issue in &plan.issues {
            println!("  {}: {}", issue.code, issue.message);
        }
        return;
    }
    println!("would be accepted; runtime actions:");
    if plan.actions.is_empty() {
        println!("  (none: a design-only change)");
    }
    for action in &plan.actions {
        println!("  {action}");
    }
}

pub fn enqueued(e: &Enqueued, json: bool) {
    if json {
        return print_json(e);
    }
    println!("queued mutation {} ({}); topology version is now {}", e.mutation_id, e.op, e.version);
}

pub fn mutations(list: &[MutationRow], json: bool) {
    if json {
        return print_json(&list);
    }
    let mut t = table(&["id", "op", "state", "requested", "finished", "codes", "reason"]);
    for m in list {
        t.add_row(vec![
            m.id.to_string(),
            m.op.clone(),
            m.state.clone(),
            m.requested_at.format("%H:%M:%S%.3f").to_string(),
            m.applied_at.map(|f| f.format("%H:%M:%S%.3f").to_string()).unwrap_or_default(),
            m.codes.join(","),
            m.reason.clone().unwrap_or_default(),
        ]);
    }
    println!("{t}");
}

pub fn history(events: &[StatusEventRow], json: bool) {
    if json {
        return print_json(&events);
    }
    let mut t = table(&["at", "from", "to", "reason"]);
    for e in events {
        t.add_row(vec![e.at.to_rfc3339(), e.from_status.clone(), e.to_status.clone(), e.reason.clone()]);
    }
    println!("{t}");
}

pub fn lures(list: &decnet_api::wire::LureList, json: bool) {
    if json {
        return print_json(list);
    }
    let mut t = table(&["on", "leads to", "address", "service", "login", "files"]);
    for l in &list.lures {
        t.add_row(vec![
            l.decky.clone(),
            format!("{} ({})", l.target, l.target_hostname),
            l.target_ip.clone(),
            l.service.clone(),
            format!("{} / {}", l.user, l.password),
            l.files.join(" "),
        ]);
    }
    println!("lures ({}): {}", list.density, list.lures.len());
    println!("{t}");
}

pub fn placement(view: &decnet_api::wire::PlacementView, json: bool) {
    if json {
        return print_json(view);
    }
    if let Some(host) = &view.target_host_uuid {
        println!("{} runs whole on {host} (agent mode)", view.topology_name);
        return;
    }
    let policy = view.policy.map_or("the engine's --placement", |p| match p {
        decnet_api::wire::PlacementPolicy::Spread => "spread",
        decnet_api::wire::PlacementPolicy::Pack => "pack",
    });
    println!("{}: policy {policy}, {} pins", view.topology_name, view.lans.len() + view.deckies.len());
    let mut t = table(&["pinned", "name", "node"]);
    for (kind, pins) in [("LAN", &view.lans), ("decky", &view.deckies)] {
        for (name, node) in pins {
            t.add_row(vec![kind.to_owned(), name.clone(), node.clone()]);
        }
    }
    if !view.lans.is_empty() || !view.deckies.is_empty() {
        println!("{t}");
    }
}

pub fn incidents(list: &decnet_api::wire::IncidentList, json: bool) {
    if json {
        return print_json(list);
    }
    let mut t = table(&["id", "severity", "rule", "source", "on", "count", "first seen", "last seen"]);
    for i in &list.incidents {
        t.add_row(vec![
            i.id.to_string(),
            i.severity.clone(),
            i.rule.clone(),
            i.source_ip.clone().unwrap_or_else(|| "-".into()),
            format!("{}/{}", i.decky.as_deref().unwrap_or("-"), i.service.as_deref().unwrap_or("-")),
            i.count.to_string(),
            i.first_seen.format("%Y-%m-%d %H:%M:%S").to_string(),
            i.last_seen.format("%Y-%m-%d %H:%M:%S").to_string(),
        ]);
    }
    println!("open incidents: {}", list.incidents.len());
    if !list.incidents.is_empty() {
        println!("{t}");
    }
}

/// `n` bytes for people.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

pub fn status(status: &decnet_api::wire::DiskStatus, json: bool) {
    if json {
        return print_json(status);
    }
    let e = &status.events;
    let mut t = table(&["what", "uses", "limit"]);
    t.add_row(vec!["event log: events".to_owned(), e.rows.to_string(), e.max_rows.to_string()]);
    let age = e.oldest.map_or("-".to_owned(), |o| {
        let days = (chrono::Utc::now() - o).num_seconds().max(0) as f64 / 86_400.0;
        format!("{days:.1} days (since {})", o.format("%Y-%m-%d %H:%M"))
    });
    t.add_row(vec!["event log: oldest".to_owned(), age, format!("{} days", e.max_age_secs / 86_400)]);
    t.add_row(vec![
        "event log: disk".to_owned(),
        bytes(u64::try_from(e.bytes).unwrap_or(0)),
        "(by events and age)".to_owned(),
    ]);
    for s in &status.sinks {
        t.add_row(vec![
            format!("sink {} ({}): spool", s.name, s.kind),
            s.spooled.to_string(),
            s.spool_max_events.to_string(),
        ]);
        if let (Some(used), Some(limit)) = (s.file_bytes, s.file_max_bytes) {
            t.add_row(vec![format!("sink {}: files", s.name), bytes(used), bytes(limit)]);
        }
    }
    println!("{t}");
}

pub fn deleted(id: uuid::Uuid, json: bool) {
    if json {
        return print_json(&serde_json::json!({ "deleted": id }));
    }
    println!("deleted {id}");
}

pub fn reaped(report: &ReapReport, json: bool) {
    if json {
        return print_json(report);
    }
    if report.reaped.is_empty() {
        println!("no orphans");
    }
    for id in &report.reaped {
        println!("reaped topology {id}");
    }
    for error in &report.errors {
        println!("could not remove: {error}");
    }
}

/// One swarm node as `decnet cluster nodes` shows it: the runtime's view and its deckies.
#[derive(Debug, Serialize)]
pub struct ClusterNode {
    /// The node.
    #[serde(flatten)]
    pub node: decnet_runtime::SwarmNode,
    /// `topology/decky` of every decky it runs.
    pub deckies: Vec<String>,
}

pub fn cluster_nodes(nodes: &[ClusterNode], json: bool) {
    if json {
        return print_json(&nodes);
    }
    let mut out = table(&["node", "host", "address", "state", "engine API", "deckies"]);
    for ClusterNode { node, deckies } in nodes {
        let state = match &node.reason {
            Some(reason) => format!("{} ({reason})", node.state),
            None => node.state.clone(),
        };
        let id: String = node.id.chars().take(12).collect();
        let deckies = format!("{}: {}", deckies.len(), deckies.join(", "));
        out.add_row([id, node.hostname.clone(), node.addr.clone(), state, node.endpoint.clone(), deckies]);
    }
    println!("{out}");
}
