//! Engine errors.

use decnet_domain::generator::GenerateError;
use decnet_domain::{ErrorKind, Refusal};
use decnet_runtime::RuntimeError;
use decnet_store::StoreError;

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The store failed or refused (not found, conflict, wrong status, ...).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// Validation or a guard refused the request; nothing changed.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// Generator parameters are invalid.
    #[error(transparent)]
    Generate(#[from] GenerateError),
    /// Another engine kept reconciling the topology for longer than this one waited.
    #[error("topology {topology} is being reconciled by another engine; still busy after {} s", waited.as_secs())]
    Busy {
        /// The topology.
        topology: decnet_domain::TopologyId,
        /// How long this engine waited.
        waited: std::time::Duration,
    },
}

impl From<Refusal> for EngineError {
    fn from(refusal: Refusal) -> Self {
        EngineError::Refused(refusal)
    }
}

impl EngineError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Store(err) => err.kind(),
            EngineError::Runtime(err) => err.kind(),
            EngineError::Refused(_) => ErrorKind::Refused,
            // Out-of-range generator parameters are bad input, as the original answers.
            EngineError::Generate(_) => ErrorKind::BadRequest,
            EngineError::Busy { .. } => ErrorKind::Conflict,
        }
    }
}
