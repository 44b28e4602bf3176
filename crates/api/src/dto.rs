//! Wire shapes of topologies and the catalogue.

use decnet_domain::catalogue::{self, ARCHETYPES, SERVICES};
use decnet_domain::model::TopologyHeader;
use decnet_domain::{Decky, DeckyStatus, Design, Lan, Topology};
use serde_json::{Map, Value, json};

/// A topology's summary.
pub fn header(h: &TopologyHeader) -> Value {
    serde_json::to_value(h).unwrap_or(Value::Null)
}

/// A LAN.
pub fn lan(l: &Lan) -> Value {
    json!({ "name": l.name, "subnet": l.subnet.to_string(), "is_dmz": l.is_dmz, "x": l.x, "y": l.y })
}

/// A decky of `design`, with its observed state.
pub fn decky(design: &Design, d: &Decky, status: &DeckyStatus) -> Value {
    json!({
        "name": d.name, "home_lan": d.home_lan,
        "ips": d.ips.iter().map(|(l, ip)| (l.to_string(), Value::from(ip.to_string()))).collect::<Map<_, _>>(),
        "services": d.services, "forwards_l3": d.forwards_l3, "is_gateway": design.is_gateway(d),
        "archetype": d.archetype, "service_config": d.service_config, "x": d.x, "y": d.y,
        "state": status.state, "last_error": status.last_error,
    })
}

/// A whole topology: header, LANs, deckies (with their observed state) and edges.
pub fn topology(t: &Topology) -> Value {
    let design = &t.design;
    json!({
        "topology": header(&t.header),
        "lans": design.lans.values().map(lan).collect::<Vec<_>>(),
        "deckies": design.deckies.values().map(|d| {
            decky(design, d, &t.decky_status.get(&d.name).cloned().unwrap_or_default())
        }).collect::<Vec<_>>(),
        "edges": design.edges().collect::<Vec<_>>(),
    })
}

/// One service with its config schema.
pub fn service(s: &catalogue::Service) -> Value {
    json!({
        "name": s.name,
        "tcp_ports": s.tcp_ports,
        "udp_ports": s.udp_ports,
        "fleet_singleton": s.singleton,
        "description": s.description,
        "fields": s.keys.iter().map(|k| json!({
            "key": k.key, "type": k.ty.as_str(), "default": k.default.to_json(),
            "secret": k.secret, "help": k.help, "enum": k.ty.choices(),
        })).collect::<Vec<_>>(),
    })
}

/// Every service, as `{services, fleet_singletons}`.
pub(crate) fn services() -> Value {
    let (singletons, per_decky): (Vec<_>, Vec<_>) = SERVICES.iter().partition(|s| s.singleton);
    json!({
        "services": per_decky.into_iter().map(service).collect::<Vec<_>>(),
        "fleet_singletons": singletons.iter().map(|s| s.name).collect::<Vec<_>>(),
    })
}

/// Every archetype.
pub fn archetypes() -> Value {
    json!({
        "archetypes": ARCHETYPES.iter().map(|a| json!({
            "slug": a.slug, "display_name": a.display_name, "description": a.description,
            "services": a.services, "preferred_distros": a.preferred_distros, "nmap_os": a.os.as_str(),
        })).collect::<Vec<_>>(),
    })
}
