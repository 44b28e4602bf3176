//! The pure domain core of DECNET.
//!
//! Everything here is data and rules: the topology model, the status machine, validation
//! with stable rule codes, the IP and subnet allocators, the seeded generator, the service
//! and archetype catalogue, and mutation planning. No IO, no async runtime, no clock: the
//! callers pass in whatever the rules need (claimed subnets, the current time, ...).

pub mod alerts;
pub mod alloc;
pub mod attachment;
pub mod catalogue;
pub mod diff;
pub mod document;
pub mod error_kind;
pub mod generator;
pub mod issue;
pub mod layout;
pub mod lures;
pub mod model;
pub mod mutation;
pub mod name;
pub mod placement;
pub mod routing;
pub mod status;
pub mod validate;

pub use error_kind::ErrorKind;
pub use issue::{Code, Issue, Severity, Target};
pub use layout::{Layout, Point, apply_layout};
pub use model::{Decky, DeckyStatus, Design, ItemId, Lan, Mode, Topology, TopologyId};
pub use mutation::{MutationOp, Plan, Refusal, RuntimeAction, draft, edit_pending, plan};
pub use name::Name;
pub use status::{DeckyState, MutationState, TopologyStatus};
