//! Validation issues and refusal codes.
//!
//! Every rule and every mutation guard reports an [`Issue`] with a stable machine code,
//! a human message and a target naming what it is about. Codes are part of the public
//! contract (API responses, CLI output, tests), so they are never renamed.

use std::fmt;

use serde::Serialize;

/// How bad an issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks deploy and refuses mutations.
    Error,
    /// Reported, never blocks.
    Warning,
}

macro_rules! codes {
    ($($variant:ident => $text:literal, $doc:literal;)*) => {
        /// A stable issue or refusal code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $(#[doc = $doc] $variant,)*
        }

        impl Code {
            /// Every code.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The SCREAMING_SNAKE spelling.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $text,)* }
            }
        }
    };
}

codes! {
    DmzMissing => "DMZ_MISSING", "No LAN is the DMZ.";
    DmzMultiple => "DMZ_MULTIPLE", "More than one LAN is the DMZ.";
    DmzOrphan => "DMZ_ORPHAN", "A LAN cannot be reached from the DMZ through bridge deckies.";
    DeckyOrphan => "DECKY_ORPHAN", "A decky is on no LAN.";
    LanNameDup => "LAN_NAME_DUP", "Two LANs share a name.";
    DeckyNameDup => "DECKY_NAME_DUP", "Two deckies share a name.";
    IpUnknownLan => "IP_UNKNOWN_LAN", "A decky has an IP on a LAN that does not exist.";
    IpOutOfSubnet => "IP_OUT_OF_SUBNET", "A decky's IP is outside its LAN's subnet.";
    IpMalformed => "IP_MALFORMED", "An IP address does not parse.";
    IpCollision => "IP_COLLISION", "Two deckies claim the same IP in one LAN.";
    IpReserved => "IP_RESERVED", "An IP is the LAN's network, gateway or broadcast address.";
    SubnetMalformed => "SUBNET_MALFORMED", "A LAN subnet does not parse.";
    SubnetOverlap => "SUBNET_OVERLAP", "Two LANs of the topology overlap.";
    SubnetTaken => "SUBNET_TAKEN", "A LAN overlaps a subnet of another topology that is not torn down.";
    SubnetSize => "SUBNET_SIZE", "A LAN is wider than /16 or narrower than /29.";
    UnknownService => "UNKNOWN_SERVICE", "A service is not in the catalogue (or is host-wide only).";
    ServiceDup => "SERVICE_DUP", "A decky lists a service twice.";
    ServiceCfgUndeclared => "SERVICE_CFG_UNDECLARED", "Config is given for a service the decky does not run.";
    ServiceCfgInvalid => "SERVICE_CFG_INVALID", "A service config key is unknown or has the wrong type.";
    ServicePortDup => "SERVICE_PORT_DUP", "Two services of one decky bind the same port.";
    UnknownArchetype => "UNKNOWN_ARCHETYPE", "An archetype is not in the catalogue.";
    GatewayNotInDmz => "GATEWAY_NOT_IN_DMZ", "A forwarding decky neither bridges LANs nor lives in the DMZ.";
    HomeLanInvalid => "HOME_LAN_INVALID", "A decky's home LAN is not one of its LANs.";
    NameInvalid => "NAME_INVALID", "A name breaks the naming rule.";
    PortCollision => "PORT_COLLISION", "A gateway port is already listening on the host.";
    PortClash => "PORT_CLASH", "Two gateways publish the same host port and protocol.";
    PayloadInvalid => "PAYLOAD_INVALID", "A mutation payload is malformed.";
    UnknownOp => "UNKNOWN_OP", "A mutation names no known operation.";
    TopologyNotLive => "TOPOLOGY_NOT_LIVE", "The topology does not accept mutations in its status.";
    LanNotFound => "LAN_NOT_FOUND", "The named LAN does not exist.";
    DeckyNotFound => "DECKY_NOT_FOUND", "The named decky does not exist.";
    LanExists => "LAN_EXISTS", "A LAN with that name already exists.";
    DeckyExists => "DECKY_EXISTS", "A decky with that name already exists.";
    AlreadyAttached => "ALREADY_ATTACHED", "The decky is already on that LAN.";
    NotAttached => "NOT_ATTACHED", "The decky is not on that LAN.";
    HomeLanDetach => "HOME_LAN_DETACH", "A decky cannot leave its home LAN; remove the decky instead.";
    HomeLanRemove => "HOME_LAN_REMOVE", "The LAN is the home of deckies; remove them first.";
    ForceRequired => "FORCE_REQUIRED", "The change recreates a running base container and needs force=true.";
    LiveChangeForbidden => "LIVE_CHANGE_FORBIDDEN", "The field cannot change on a deployed topology.";
    SubnetExhausted => "SUBNET_EXHAUSTED", "No free subnet is left under the base.";
    IpExhausted => "IP_EXHAUSTED", "No free host address is left in the LAN.";
    AttachmentInvalid => "ATTACHMENT_INVALID", "The DMZ's host attachment is malformed, on a LAN that is not the DMZ, or does not fit its subnet.";
    AddressInUse => "ADDRESS_IN_USE", "Another host on the DMZ's network already answers for an address the maze would take.";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What an issue is about. Empty fields are omitted on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Target {
    /// A LAN name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lan: Option<String>,
    /// Several LAN names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lans: Vec<String>,
    /// A decky name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decky: Option<String>,
    /// Several decky names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deckies: Vec<String>,
    /// A service slug.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// An input field path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Target {
    /// A LAN.
    pub fn lan(lan: impl Into<String>) -> Self {
        Self { lan: Some(lan.into()), ..Self::default() }
    }

    /// A decky.
    pub fn decky(decky: impl Into<String>) -> Self {
        Self { decky: Some(decky.into()), ..Self::default() }
    }

    /// A decky on a LAN.
    pub fn decky_lan(decky: impl Into<String>, lan: impl Into<String>) -> Self {
        Self { decky: Some(decky.into()), lan: Some(lan.into()), ..Self::default() }
    }

    /// A service of a decky.
    pub fn service(decky: impl Into<String>, service: impl Into<String>) -> Self {
        Self { decky: Some(decky.into()), service: Some(service.into()), ..Self::default() }
    }

    /// An input field.
    pub fn field(field: impl Into<String>) -> Self {
        Self { field: Some(field.into()), ..Self::default() }
    }
}

/// One finding of validation or planning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// How bad it is.
    pub severity: Severity,
    /// Stable code.
    pub code: Code,
    /// Human message.
    pub message: String,
    /// What it is about.
    pub target: Target,
}

impl Issue {
    /// An error.
    pub fn error(code: Code, target: Target, message: impl Into<String>) -> Self {
        Self { severity: Severity::Error, code, message: message.into(), target }
    }

    /// A warning.
    pub fn warning(code: Code, target: Target, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, code, message: message.into(), target }
    }

    /// Whether this issue blocks.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Only the errors of `issues`.
pub fn errors(issues: &[Issue]) -> impl Iterator<Item = &Issue> {
    issues.iter().filter(|i| i.is_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_screaming_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(text.chars().all(|c| c.is_ascii_uppercase() || c == '_'), "{text}");
        }
    }
}
