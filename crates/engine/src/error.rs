//! Engine errors.

use decnet_domain::Refusal;
use decnet_domain::generator::GenerateError;
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
}

impl From<Refusal> for EngineError {
    fn from(refusal: Refusal) -> Self {
        EngineError::Refused(refusal)
    }
}
