//! The catalogue and design helpers on the wire: services and their config forms,
//! archetypes, address suggestions, the reap report, per-decky service changes and mail
//! personas.

use decnet_domain::catalogue::{self, ARCHETYPES, SERVICES};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

/// One config field of a service's form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceField {
    /// Key in `service_config`.
    pub key: String,
    /// A label for forms.
    pub label: String,
    /// `str`, `int`, `bool`, `textarea`, `enum`, `multi_enum`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Default value (any JSON type).
    pub default: Value,
    /// Whether the value is a secret.
    pub secret: bool,
    /// One line of help.
    pub help: String,
    /// Allowed values of an `enum`.
    #[serde(rename = "enum")]
    pub choices: Option<Vec<String>>,
    /// A placeholder for forms (the default, as text).
    pub placeholder: Option<String>,
}

/// A service's ports and config schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceSchema {
    /// Slug.
    pub name: String,
    /// Every port it listens on (TCP then UDP, each once).
    pub ports: Vec<u16>,
    /// Runs once per host, never on a decky.
    pub fleet_singleton: bool,
    /// Config fields.
    pub fields: Vec<ServiceField>,
    /// TCP ports (ours).
    pub tcp_ports: Vec<u16>,
    /// UDP ports (ours).
    pub udp_ports: Vec<u16>,
    /// One line describing the decoy (ours).
    pub description: String,
}

/// `key_name` → `Key name`.
fn label(key: &str) -> String {
    let text = key.replace('_', " ");
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

impl From<&catalogue::Service> for ServiceSchema {
    fn from(s: &catalogue::Service) -> Self {
        Self {
            name: s.name.to_owned(),
            ports: {
                let mut ports: Vec<u16> = s.tcp_ports.iter().chain(s.udp_ports).copied().collect();
                let mut seen = std::collections::BTreeSet::new();
                ports.retain(|p| seen.insert(*p));
                ports
            },
            fleet_singleton: s.singleton,
            fields: s
                .keys
                .iter()
                .map(|k| {
                    let default = k.default.to_json();
                    let placeholder = match &default {
                        Value::Null => None,
                        Value::String(text) if text.is_empty() => None,
                        Value::String(text) => Some(text.clone()),
                        other => Some(other.to_string()),
                    };
                    ServiceField {
                        key: k.key.to_owned(),
                        label: label(k.key),
                        kind: k.ty.as_str().to_owned(),
                        default,
                        secret: k.secret,
                        help: k.help.to_owned(),
                        choices: Some(k.ty.choices())
                            .filter(|c| !c.is_empty())
                            .map(|c| c.iter().map(|s| (*s).to_owned()).collect()),
                        placeholder,
                    }
                })
                .collect(),
            tcp_ports: s.tcp_ports.to_vec(),
            udp_ports: s.udp_ports.to_vec(),
            description: s.description.to_owned(),
        }
    }
}

/// The catalogue of services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceList {
    /// Services a decky may run.
    pub services: Vec<String>,
    /// Services that run once per host.
    pub fleet_singletons: Vec<String>,
    /// Every service with its ports and fields (ours).
    pub details: Vec<ServiceSchema>,
}

impl ServiceList {
    /// The whole catalogue.
    pub fn catalogue() -> Self {
        let (singletons, per_decky): (Vec<&catalogue::Service>, Vec<_>) = SERVICES.iter().partition(|s| s.singleton);
        Self {
            services: per_decky.iter().map(|s| s.name.to_owned()).collect(),
            fleet_singletons: singletons.iter().map(|s| s.name.to_owned()).collect(),
            details: SERVICES.iter().map(ServiceSchema::from).collect(),
        }
    }
}

/// A decky archetype.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Archetype {
    /// Slug.
    pub slug: String,
    /// Display name.
    pub display_name: String,
    /// What it stands for.
    pub description: String,
    /// Its services.
    pub services: Vec<String>,
    /// Distributions its persona prefers.
    pub preferred_distros: Vec<String>,
    /// The OS family its fingerprint imitates.
    pub nmap_os: String,
}

/// Every archetype.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArchetypeList {
    /// The archetypes.
    pub archetypes: Vec<Archetype>,
}

impl ArchetypeList {
    /// The whole catalogue.
    pub fn catalogue() -> Self {
        Self {
            archetypes: ARCHETYPES
                .iter()
                .map(|a| Archetype {
                    slug: a.slug.to_owned(),
                    display_name: a.display_name.to_owned(),
                    description: a.description.to_owned(),
                    services: a.services.iter().map(|s| (*s).to_owned()).collect(),
                    preferred_distros: a.preferred_distros.iter().map(|s| (*s).to_owned()).collect(),
                    nmap_os: a.os.as_str().to_owned(),
                })
                .collect(),
        }
    }
}

/// A free subnet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NextSubnet {
    /// A /24 no topology holds.
    pub subnet: String,
}

/// A LAN's first free address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NextIp {
    /// The LAN's subnet.
    pub subnet: String,
    /// The address (a suggestion: nothing is reserved).
    pub ip: String,
}

/// What the orphan reaper found and removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReapReport {
    /// 8-character id prefixes of stored topologies that have resources.
    pub live_prefixes: Vec<String>,
    /// 8-character id prefixes of the topologies whose resources were removed.
    pub orphan_prefixes: Vec<String>,
    /// Names of the containers removed.
    pub containers_removed: Vec<String>,
    /// Names of the networks removed.
    pub networks_removed: Vec<String>,
    /// What could not be removed.
    pub errors: Vec<String>,
    /// Full ids of the topologies reaped (ours).
    pub reaped: Vec<Uuid>,
}

/// A decky's services after a change (`POST`/`DELETE .../services`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeckyServices {
    /// The decky.
    pub decky_name: String,
    /// Its topology.
    pub topology_id: Uuid,
    /// Its services after the change.
    pub services: Vec<String>,
    /// The queued mutation, when the topology is deployed (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutation_id: Option<i64>,
}

/// A service's config after a change (`PUT .../config`, `POST .../apply`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceConfigChange {
    /// The decky.
    pub decky_name: String,
    /// The service.
    pub service_name: String,
    /// Its topology.
    pub topology_id: Uuid,
    /// The config now designed.
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
    /// Whether the running service is recreated with it (deployed topologies).
    pub recreated: bool,
    /// The queued mutation, when the topology is deployed (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutation_id: Option<i64>,
}

/// A topology's mail personas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PersonaList {
    /// The topology.
    pub topology_id: Uuid,
    /// Its name.
    pub topology_name: String,
    /// ISO-639-1 fallback language.
    pub language_default: String,
    /// The personas, each an object with at least an `email`.
    #[schema(value_type = Vec<Object>)]
    pub personas: Vec<Value>,
}
