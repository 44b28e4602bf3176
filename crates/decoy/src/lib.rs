//! The decoy services of DECNET and what they share: the interaction event schema, the
//! persona every service of a decky presents, the checked service configuration, and the
//! connection runner with its limits. The `decnet-decoy` binary is a thin CLI over this.
//!
//! Depends on the domain only (for the catalogue): no Docker, SQL or HTTP framework.

pub mod config;
pub mod event;
pub mod netview;
pub mod ntlm;
pub mod persona;
pub mod routes;
pub mod server;
pub mod services;
pub mod stack;
pub mod tls;
pub mod windows;
