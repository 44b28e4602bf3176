//! The `decnet` binary: command-line parsing, wiring and exit codes.
//!
//! This is the only place that uses `anyhow`: library errors arrive typed, say their
//! [`ErrorKind`] ([`classify`]), and [`exit::for_kind`] gives the documented exit code.

mod args;
mod attackers;
mod backend;
mod commands;
mod events;
mod exit;
mod output;
mod remote;
mod remote_backend;

use std::process::ExitCode;

use clap::Parser;
use decnet_api::wire::ErrorBody;
use decnet_domain::{ErrorKind, Refusal};
use decnet_engine::EngineError;
use decnet_store::StoreError;

use crate::args::Cli;

/// A problem with how the command was invoked (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The kind of an error, and the refusal it carries, if any.
fn classify(err: &anyhow::Error) -> (ErrorKind, Option<&Refusal>) {
    if err.downcast_ref::<UsageError>().is_some() {
        return (ErrorKind::BadRequest, None);
    }
    if let Some(remote) = err.downcast_ref::<remote::RemoteError>() {
        return (remote.kind, None);
    }
    if let Some(e) = err.downcast_ref::<EngineError>() {
        let refusal = match e {
            EngineError::Refused(r) | EngineError::Store(StoreError::Refused(r)) => Some(r),
            _ => None,
        };
        return (e.kind(), refusal);
    }
    if let Some(e) = err.downcast_ref::<decnet_runtime::RuntimeError>() {
        return (e.kind(), None);
    }
    if let Some(e) = err.downcast_ref::<StoreError>() {
        return (e.kind(), if let StoreError::Refused(r) = e { Some(r) } else { None });
    }
    (ErrorKind::Internal, None)
}

/// The API's error body for `err`: the server's own over `--server`, the one the API would
/// answer for a library error, or one made from the kind.
fn error_body(err: &anyhow::Error, kind: ErrorKind, refusal: Option<&Refusal>) -> ErrorBody {
    if let Some(remote) = err.downcast_ref::<remote::RemoteError>() {
        return ErrorBody {
            detail: remote.detail.clone(),
            error: remote.code.clone(),
            issues: remote.issues.iter().filter_map(|i| serde_json::from_value(i.clone()).ok()).collect(),
            kind: kind.as_str().to_owned(),
        };
    }
    if kind != ErrorKind::Internal {
        if let Some(e) = err.downcast_ref::<EngineError>() {
            return decnet_api::ApiError::from_engine(e).body();
        }
        if let Some(e) = err.downcast_ref::<StoreError>() {
            return decnet_api::ApiError::from_store(e).body();
        }
    }
    ErrorBody {
        detail: format!("{err:#}"),
        error: kind.as_str().to_owned(),
        issues: refusal.map(|r| decnet_api::wire::issues(&r.issues)).unwrap_or_default(),
        kind: kind.as_str().to_owned(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let default_level = if matches!(cli.command, args::Command::Engine(_)) { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DECNET_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(exit::INTERNAL);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            let (kind, refusal) = classify(&err);
            if json {
                println!("{}", serde_json::to_string(&error_body(&err, kind, refusal)).unwrap_or_default());
            } else {
                eprintln!("error: {err:#}");
                if let Some(remote) = err.downcast_ref::<remote::RemoteError>().filter(|r| r.issues.len() > 1) {
                    for issue in &remote.issues {
                        eprintln!(
                            "  {}: {}",
                            issue["code"].as_str().unwrap_or("?"),
                            issue["message"].as_str().unwrap_or("")
                        );
                    }
                }
                if let Some(refusal) = refusal.filter(|r| r.issues.len() > 1) {
                    for issue in &refusal.issues {
                        eprintln!("  {issue}");
                    }
                }
            }
            ExitCode::from(exit::for_kind(kind))
        }
    }
}
