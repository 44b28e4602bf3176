//! Mutations: the eight live-editing operations, their payloads, and their planning.
//!
//! A mutation arrives as an op name plus a JSON payload. [`MutationOp::parse`] turns that
//! into a typed operation or a refusal naming the bad field; [`plan`] turns a typed
//! operation and the current topology into the next desired state plus the runtime
//! actions that materialise it, or a refusal with rule codes. Planning is pure: nothing is
//! written until the plan has passed the post-apply invariants.

mod pending;
mod plan;

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::attachment::Attachment;
use crate::issue::{Code, Issue, Target};
use crate::model::{Design, ServiceConfig};
use crate::name::Name;

pub use pending::edit_pending;
pub use plan::{draft, plan};

/// The op names, in documentation order.
pub const OP_NAMES: [&str; 8] = [
    "add_lan",
    "remove_lan",
    "add_decky",
    "attach_decky",
    "detach_decky",
    "remove_decky",
    "update_decky",
    "update_lan",
];

/// `add_lan`: create a LAN (and its bridge network).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddLan {
    /// New LAN name.
    pub name: Name,
    /// Subnet; the next free /24 under the topology's base when absent.
    #[serde(default)]
    pub subnet: Option<Ipv4Net>,
    /// Whether it is the DMZ (refused when a DMZ exists).
    #[serde(default)]
    pub is_dmz: bool,
    /// How the DMZ meets the host's network (`bridge` when absent).
    #[serde(default)]
    pub attachment: Attachment,
    /// Canvas position.
    #[serde(default)]
    pub x: Option<f64>,
    /// Canvas position.
    #[serde(default)]
    pub y: Option<f64>,
}

/// `remove_lan`: remove a LAN that is nobody's home.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveLan {
    /// LAN name.
    pub name: Name,
}

/// `add_decky`: create a decky in a LAN and start it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddDecky {
    /// New decky name.
    pub name: Name,
    /// Its home LAN.
    pub lan: Name,
    /// Services; the archetype's when absent.
    #[serde(default)]
    pub services: Option<Vec<String>>,
    /// Archetype slug.
    #[serde(default)]
    pub archetype: Option<String>,
    /// Gateway flag; only valid in the DMZ.
    #[serde(default)]
    pub forwards_l3: bool,
    /// IP in the home LAN; the next free one when absent.
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
    /// Per-service configuration.
    #[serde(default)]
    pub service_config: ServiceConfig,
    /// Canvas position.
    #[serde(default)]
    pub x: Option<f64>,
    /// Canvas position.
    #[serde(default)]
    pub y: Option<f64>,
}

/// `attach_decky`: put an existing decky on one more LAN (it becomes a bridge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachDecky {
    /// Decky name.
    pub decky: Name,
    /// LAN name.
    pub lan: Name,
    /// IP in the LAN; the next free one when absent.
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
    /// Make the decky route between its LANs.
    #[serde(default)]
    pub forwards_l3: bool,
    /// Allow recreating the running base when `forwards_l3` turns routing on.
    #[serde(default)]
    pub force: bool,
}

/// `detach_decky`: take a decky off one of its non-home LANs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetachDecky {
    /// Decky name.
    pub decky: Name,
    /// LAN name.
    pub lan: Name,
}

/// `remove_decky`: stop and delete a decky.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveDecky {
    /// Decky name.
    pub decky: Name,
}

/// Fields of a decky that `update_decky` may change.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeckyPatch {
    /// New routing flag (needs `force` on a running decky).
    #[serde(default)]
    pub forwards_l3: Option<bool>,
    /// New archetype.
    #[serde(default)]
    pub archetype: Option<String>,
    /// Config per service; each service named here gets exactly this config.
    #[serde(default)]
    pub service_config: Option<ServiceConfig>,
}

/// `update_decky`: change services, config, routing or position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateDecky {
    /// Decky name.
    pub decky: Name,
    /// Field changes.
    #[serde(default)]
    pub patch: DeckyPatch,
    /// Replacement service list.
    #[serde(default)]
    pub services: Option<Vec<String>>,
    /// Canvas position.
    #[serde(default)]
    pub x: Option<f64>,
    /// Canvas position.
    #[serde(default)]
    pub y: Option<f64>,
    /// Allow recreating the running base container.
    #[serde(default)]
    pub force: bool,
}

/// Fields of a LAN that `update_lan` may name.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanPatch {
    /// New name (refused while deployed).
    #[serde(default)]
    pub name: Option<Name>,
    /// New subnet (refused while deployed).
    #[serde(default)]
    pub subnet: Option<Ipv4Net>,
    /// New DMZ flag (refused while deployed).
    #[serde(default)]
    pub is_dmz: Option<bool>,
    /// New attachment of the DMZ (refused while deployed); its members are re-addressed
    /// into the new range.
    #[serde(default)]
    pub attachment: Option<Attachment>,
    /// Canvas position.
    #[serde(default)]
    pub x: Option<f64>,
    /// Canvas position.
    #[serde(default)]
    pub y: Option<f64>,
}

/// `update_lan`: change a LAN's position (other fields are pinned while deployed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateLan {
    /// LAN name.
    pub name: Name,
    /// Field changes.
    #[serde(default)]
    pub patch: LanPatch,
    /// Canvas position.
    #[serde(default)]
    pub x: Option<f64>,
    /// Canvas position.
    #[serde(default)]
    pub y: Option<f64>,
}

/// A typed mutation.
#[derive(Debug, Clone, PartialEq)]
pub enum MutationOp {
    /// See [`AddLan`].
    AddLan(AddLan),
    /// See [`RemoveLan`].
    RemoveLan(RemoveLan),
    /// See [`AddDecky`].
    AddDecky(AddDecky),
    /// See [`AttachDecky`].
    AttachDecky(AttachDecky),
    /// See [`DetachDecky`].
    DetachDecky(DetachDecky),
    /// See [`RemoveDecky`].
    RemoveDecky(RemoveDecky),
    /// See [`UpdateDecky`].
    UpdateDecky(UpdateDecky),
    /// See [`UpdateLan`].
    UpdateLan(UpdateLan),
}

fn payload<T: DeserializeOwned>(value: &Value) -> Result<T, Refusal> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." { "payload".to_owned() } else { format!("payload.{path}") };
        Refusal::one(Code::PayloadInvalid, Target::field(field.clone()), format!("{field}: {}", err.into_inner()))
    })
}

impl MutationOp {
    /// Parses an op name and its payload.
    pub fn parse(op: &str, value: &Value) -> Result<Self, Refusal> {
        Ok(match op {
            "add_lan" => Self::AddLan(payload(value)?),
            "remove_lan" => Self::RemoveLan(payload(value)?),
            "add_decky" => Self::AddDecky(payload(value)?),
            "attach_decky" => Self::AttachDecky(payload(value)?),
            "detach_decky" => Self::DetachDecky(payload(value)?),
            "remove_decky" => Self::RemoveDecky(payload(value)?),
            "update_decky" => Self::UpdateDecky(payload(value)?),
            "update_lan" => Self::UpdateLan(payload(value)?),
            other => {
                return Err(Refusal::one(
                    Code::UnknownOp,
                    Target::field("op"),
                    format!("op: unknown operation {other:?} (expected one of {})", OP_NAMES.join(", ")),
                ));
            }
        })
    }

    /// The op name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AddLan(_) => "add_lan",
            Self::RemoveLan(_) => "remove_lan",
            Self::AddDecky(_) => "add_decky",
            Self::AttachDecky(_) => "attach_decky",
            Self::DetachDecky(_) => "detach_decky",
            Self::RemoveDecky(_) => "remove_decky",
            Self::UpdateDecky(_) => "update_decky",
            Self::UpdateLan(_) => "update_lan",
        }
    }

    /// Whether planning needs other topologies' subnets and host ports.
    pub fn needs_claims(&self) -> bool {
        matches!(self, Self::AddLan(_) | Self::AddDecky(_) | Self::AttachDecky(_) | Self::UpdateDecky(_))
    }
}

/// A refused mutation (or creation): the issues that refused it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Refusal {
    /// Every reason, at least one.
    pub issues: Vec<Issue>,
}

impl Refusal {
    /// A refusal for one reason.
    pub fn one(code: Code, target: Target, message: impl Into<String>) -> Self {
        Self { issues: vec![Issue::error(code, target, message)] }
    }

    /// The distinct codes, sorted.
    pub fn codes(&self) -> Vec<&'static str> {
        let mut codes: Vec<_> = self.issues.iter().map(|i| i.code.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        codes
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

/// A change the runtime must make after a plan is committed. Each names exactly what the
/// op touches, so materialising it never disturbs other deckies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum RuntimeAction {
    /// Create the LAN's bridge network.
    CreateNetwork {
        /// LAN.
        lan: Name,
    },
    /// Remove the LAN's bridge network.
    RemoveNetwork {
        /// LAN.
        lan: Name,
    },
    /// Create and start a decky's base and service containers.
    StartDecky {
        /// Decky.
        decky: Name,
    },
    /// Stop and remove a decky's containers.
    RemoveDecky {
        /// Decky.
        decky: Name,
        /// Its services at removal.
        services: Vec<String>,
    },
    /// Connect the running base to a LAN at a fixed IP.
    Connect {
        /// Decky.
        decky: Name,
        /// LAN.
        lan: Name,
        /// Its IP there.
        ip: Ipv4Addr,
    },
    /// Disconnect the running base from a LAN.
    Disconnect {
        /// Decky.
        decky: Name,
        /// LAN.
        lan: Name,
    },
    /// Start one service container.
    AddService {
        /// Decky.
        decky: Name,
        /// Service slug.
        service: String,
    },
    /// Remove one service container.
    RemoveService {
        /// Decky.
        decky: Name,
        /// Service slug.
        service: String,
    },
    /// Recreate one service container with new config.
    RecreateService {
        /// Decky.
        decky: Name,
        /// Service slug.
        service: String,
    },
    /// Recreate the base (and re-join its services): routing changed.
    RecreateBase {
        /// Decky.
        decky: Name,
    },
    /// Give the running base its routes as the new design computes them
    /// (`routing::routes_of`): the op changed which LANs it reaches or through whom.
    SetRoutes {
        /// Decky.
        decky: Name,
    },
}

impl RuntimeAction {
    /// The decky the action touches, if any.
    pub fn decky(&self) -> Option<&Name> {
        match self {
            Self::CreateNetwork { .. } | Self::RemoveNetwork { .. } => None,
            Self::StartDecky { decky }
            | Self::RemoveDecky { decky, .. }
            | Self::Connect { decky, .. }
            | Self::Disconnect { decky, .. }
            | Self::AddService { decky, .. }
            | Self::RemoveService { decky, .. }
            | Self::RecreateService { decky, .. }
            | Self::RecreateBase { decky }
            | Self::SetRoutes { decky } => Some(decky),
        }
    }
}

/// An accepted mutation: the next desired state and how to get there.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The whole design after the op.
    pub design: Design,
    /// Runtime actions, in execution order.
    pub actions: Vec<RuntimeAction>,
}
