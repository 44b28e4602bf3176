//! The topology status machine and the decky and mutation states.
//!
//! [`TopologyStatus::can_become`] is the one table of legal transitions; every writer of a
//! status goes through it, and the store records each accepted transition in the audit log
//! in the same transaction as the change.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Lifecycle of a topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopologyStatus {
    /// Designed, not deployed; the only status whose design may be edited directly.
    Pending,
    /// A deploy is creating networks and containers.
    Deploying,
    /// Deployed and converged.
    Active,
    /// Deployed, but something failed to materialise; healing continues.
    Degraded,
    /// The deploy failed; what it created was removed.
    Failed,
    /// A teardown is removing networks and containers.
    TearingDown,
    /// Removed from the runtime; terminal.
    TornDown,
}

/// Every status, in lifecycle order.
pub const ALL_STATUSES: [TopologyStatus; 7] = [
    TopologyStatus::Pending,
    TopologyStatus::Deploying,
    TopologyStatus::Active,
    TopologyStatus::Degraded,
    TopologyStatus::Failed,
    TopologyStatus::TearingDown,
    TopologyStatus::TornDown,
];

/// An illegal status transition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal status transition {from} -> {to}")]
pub struct IllegalTransition {
    /// Current status.
    pub from: TopologyStatus,
    /// Requested status.
    pub to: TopologyStatus,
}

impl TopologyStatus {
    /// Whether `self -> to` is a legal transition.
    pub fn can_become(self, to: TopologyStatus) -> bool {
        use TopologyStatus::*;
        matches!(
            (self, to),
            (Pending, Deploying | TornDown)
                | (Deploying, Active | Failed | Degraded | TearingDown)
                | (Active, Degraded | TearingDown)
                | (Degraded, Active | TearingDown)
                | (Failed, TearingDown)
                | (TearingDown, TornDown | Degraded)
        )
    }

    /// Checks `self -> to`.
    pub fn check_transition(self, to: TopologyStatus) -> Result<(), IllegalTransition> {
        if self.can_become(to) { Ok(()) } else { Err(IllegalTransition { from: self, to }) }
    }

    /// Statuses whose LAN subnets are reserved against other topologies.
    pub fn claims_subnets(self) -> bool {
        self != TopologyStatus::TornDown
    }

    /// Statuses whose gateways hold (or are about to hold) host ports.
    pub fn claims_host_ports(self) -> bool {
        use TopologyStatus::*;
        matches!(self, Deploying | Active | Degraded | TearingDown)
    }

    /// Statuses that accept mutations through the queue.
    pub fn accepts_mutations(self) -> bool {
        matches!(self, TopologyStatus::Active | TopologyStatus::Degraded)
    }

    /// Statuses from which a teardown may start (or be retried).
    pub fn can_tear_down(self) -> bool {
        use TopologyStatus::*;
        matches!(self, Active | Degraded | Failed | Deploying | TearingDown)
    }

    /// Statuses in which a topology may be deleted.
    pub fn can_delete(self) -> bool {
        use TopologyStatus::*;
        matches!(self, Pending | TornDown | Failed)
    }

    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        use TopologyStatus::*;
        match self {
            Pending => "pending",
            Deploying => "deploying",
            Active => "active",
            Degraded => "degraded",
            Failed => "failed",
            TearingDown => "tearing_down",
            TornDown => "torn_down",
        }
    }
}

/// A string that names no status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownState {
    /// Which kind of state was being parsed.
    pub kind: &'static str,
    /// The offending text.
    pub value: String,
}

impl FromStr for TopologyStatus {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_STATUSES
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownState { kind: "topology status", value: s.to_owned() })
    }
}

impl fmt::Display for TopologyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Observed state of one decky's containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeckyState {
    /// Not materialised yet.
    Pending,
    /// Every container of the decky runs as specified.
    Running,
    /// The last materialisation of the decky failed (see `last_error`).
    Failed,
    /// Removed by a teardown.
    TornDown,
}

impl DeckyState {
    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeckyState::Pending => "pending",
            DeckyState::Running => "running",
            DeckyState::Failed => "failed",
            DeckyState::TornDown => "torn_down",
        }
    }
}

impl FromStr for DeckyState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [DeckyState::Pending, DeckyState::Running, DeckyState::Failed, DeckyState::TornDown]
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState { kind: "decky state", value: s.to_owned() })
    }
}

/// Lifecycle of a queued mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MutationState {
    /// Waiting in the queue.
    Pending,
    /// Claimed by an engine under a lease.
    Applying,
    /// Committed to the desired state.
    Applied,
    /// Refused; nothing changed.
    Failed,
}

impl MutationState {
    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MutationState::Pending => "pending",
            MutationState::Applying => "applying",
            MutationState::Applied => "applied",
            MutationState::Failed => "failed",
        }
    }
}

impl FromStr for MutationState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [MutationState::Pending, MutationState::Applying, MutationState::Applied, MutationState::Failed]
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState { kind: "mutation state", value: s.to_owned() })
    }
}

impl fmt::Display for MutationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::TopologyStatus::*;
    use super::*;

    /// The reference table (§2.1), written out as data.
    const LEGAL: &[(TopologyStatus, TopologyStatus)] = &[
        (Pending, Deploying),
        (Pending, TornDown),
        (Deploying, Active),
        (Deploying, Failed),
        (Deploying, Degraded),
        (Deploying, TearingDown),
        (Active, Degraded),
        (Active, TearingDown),
        (Degraded, Active),
        (Degraded, TearingDown),
        (Failed, TearingDown),
        (TearingDown, TornDown),
        (TearingDown, Degraded),
    ];

    #[test]
    fn every_legal_transition_is_accepted() {
        for &(from, to) in LEGAL {
            assert!(from.check_transition(to).is_ok(), "{from} -> {to}");
        }
    }

    #[test]
    fn every_other_transition_is_refused() {
        for from in ALL_STATUSES {
            for to in ALL_STATUSES {
                if LEGAL.contains(&(from, to)) {
                    continue;
                }
                assert_eq!(from.check_transition(to), Err(IllegalTransition { from, to }), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn torn_down_is_terminal() {
        assert!(ALL_STATUSES.iter().all(|&to| !TornDown.can_become(to)));
    }

    #[test]
    fn spellings_round_trip() {
        for status in ALL_STATUSES {
            assert_eq!(status.as_str().parse::<TopologyStatus>(), Ok(status));
        }
        assert!("bogus".parse::<TopologyStatus>().is_err());
    }

    #[test]
    fn gates_match_the_reference() {
        let live: Vec<_> = ALL_STATUSES.into_iter().filter(|s| s.accepts_mutations()).collect();
        assert_eq!(live, [Active, Degraded]);
        let deletable: Vec<_> = ALL_STATUSES.into_iter().filter(|s| s.can_delete()).collect();
        assert_eq!(deletable, [Pending, Failed, TornDown]);
        let tear: Vec<_> = ALL_STATUSES.into_iter().filter(|s| s.can_tear_down()).collect();
        assert_eq!(tear, [Deploying, Active, Degraded, Failed, TearingDown]);
        assert!(!TornDown.claims_subnets() && Pending.claims_subnets());
    }
}
