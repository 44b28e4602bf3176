//! Export of a topology as a Docker Compose file.
//!
//! For people who want one: the file describes the same networks and hardened containers
//! the engine creates (it is rendered from the same specs), so `docker compose up` on it
//! gives an equivalent, static deployment. The engine itself never uses Compose.

use serde_json::{Map, Value, json};

use decnet_domain::lures::Density;
use decnet_domain::{Design, TopologyId};

use crate::spec::{self, ContainerSpec, MEMORY_LIMIT, PIDS_LIMIT, Role};

fn container(spec: &ContainerSpec, base_key: &str) -> Value {
    let mut service = json!({
        "image": spec.image,
        "container_name": spec.name,
        "command": spec.command,
        "environment": spec.env,
        "read_only": true,
        "security_opt": ["no-new-privileges"],
        "cap_drop": ["ALL"],
        "mem_limit": MEMORY_LIMIT,
        "pids_limit": PIDS_LIMIT,
        "labels": spec.labels,
    });
    let Some(fields) = service.as_object_mut() else { return service };
    if !spec.cap_add.is_empty() {
        fields.insert("cap_add".into(), json!(spec.cap_add));
    }
    if let Some(user) = &spec.user {
        fields.insert("user".into(), json!(user));
    }
    match &spec.role {
        Role::Base { networks, published, .. } => {
            fields.insert("hostname".into(), json!(spec.hostname));
            fields.insert("sysctls".into(), json!(spec.sysctls));
            fields.insert("tmpfs".into(), json!(["/run:size=64k,mode=0700"]));
            let nets: Map<String, Value> =
                networks.iter().map(|(net, ip)| (net.clone(), json!({ "ipv4_address": ip.to_string() }))).collect();
            fields.insert("networks".into(), Value::Object(nets));
            if !published.is_empty() {
                let ports: Vec<String> =
                    published.iter().map(|(p, proto)| format!("{p}:{p}/{}", proto.as_str())).collect();
                fields.insert("ports".into(), json!(ports));
            }
        }
        Role::Service { .. } => {
            fields.insert("network_mode".into(), json!(format!("service:{base_key}")));
            fields.insert("depends_on".into(), json!([base_key]));
        }
    }
    service
}

/// Compose interpolates `$VAR` in every string of the file, so a literal `$` (lure
/// passwords have them) must be written `$$` or Compose rejects or rewrites the value.
fn escape_interpolation(value: &mut Value) {
    match value {
        Value::String(text) if text.contains('$') => *text = text.replace('$', "$$"),
        Value::Array(items) => items.iter_mut().for_each(escape_interpolation),
        Value::Object(fields) => fields.values_mut().for_each(escape_interpolation),
        _ => {}
    }
}

/// The compose document of `design` (topology `id`, lures at `lures`), running `image`.
pub fn render(id: TopologyId, design: &Design, lures: Density, image: &str) -> Value {
    let mut services = Map::new();
    for decky in design.deckies.values() {
        let base_key = decky.name.to_string();
        for spec in spec::decky_containers(id, design, decky, image, lures) {
            let key = match &spec.role {
                Role::Base { .. } => base_key.clone(),
                Role::Service { service, .. } => format!("{base_key}_{service}"),
            };
            services.insert(key, container(&spec, &base_key));
        }
    }
    let networks: Map<String, Value> = design
        .lans
        .values()
        .map(|lan| {
            let net = spec::network(id, lan);
            let mut body = json!({
                "name": net.name,
                "driver": "bridge",
                "internal": net.internal,
                "ipam": { "config": [{ "subnet": net.subnet.to_string(), "gateway": net.gateway.to_string() }] },
                "labels": net.labels,
            });
            // The host's shim is not Compose's to make: `decnet` adds it at deploy.
            if let Some(link) = &net.link {
                let (mode, value) =
                    if link.driver == "ipvlan" { ("ipvlan_mode", "l2") } else { ("macvlan_mode", "bridge") };
                body["driver"] = json!(link.driver);
                body["driver_opts"] = json!({ "parent": link.parent, mode: value });
                body["ipam"]["config"][0]["ip_range"] = json!(link.ip_range.to_string());
            }
            (net.name, body)
        })
        .collect();
    let mut document = json!({ "services": services, "networks": networks });
    escape_interpolation(&mut document);
    document
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_doubled_in_every_string_and_nothing_else_changes() {
        let mut doc = json!({"a": ["x$y", 3, {"b": "$$", "c": "plain"}], "d": true});
        escape_interpolation(&mut doc);
        assert_eq!(doc, json!({"a": ["x$$y", 3, {"b": "$$$$", "c": "plain"}], "d": true}));
    }
}
