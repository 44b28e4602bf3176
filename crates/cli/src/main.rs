//! The `decnet` binary: command-line parsing, wiring and exit codes.
//!
//! This is the only place that uses `anyhow`: library errors arrive typed and are mapped
//! to the documented exit codes in [`exit_code`].

mod args;
mod commands;
mod events;
mod output;
mod remote;

use std::process::ExitCode;

use clap::Parser;
use decnet_domain::Refusal;
use decnet_engine::EngineError;
use decnet_store::StoreError;

use crate::args::Cli;

/// A problem with how the command was invoked (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The documented exit code of an error, and the refusal it carries, if any.
fn exit_code(err: &anyhow::Error) -> (u8, &'static str, Option<&Refusal>) {
    if err.downcast_ref::<UsageError>().is_some() {
        return (2, "usage", None);
    }
    if let Some(remote) = err.downcast_ref::<remote::RemoteError>() {
        return (remote.exit_code(), "remote", None);
    }
    let store_code = |e: &StoreError| match e {
        StoreError::NotFound { .. } => (5, "not_found"),
        StoreError::VersionConflict { .. } => (4, "version_conflict"),
        StoreError::WrongStatus { .. } | StoreError::IllegalTransition(_) => (4, "wrong_status"),
        StoreError::NameTaken { .. } => (4, "name_taken"),
        StoreError::Refused(_) => (3, "refused"),
        _ => (1, "internal"),
    };
    if let Some(e) = err.downcast_ref::<EngineError>() {
        return match e {
            EngineError::Refused(r) | EngineError::Store(StoreError::Refused(r)) => (3, "refused", Some(r)),
            EngineError::Generate(_) => (3, "refused", None),
            EngineError::Store(s) => {
                let (code, name) = store_code(s);
                (code, name, None)
            }
            _ => (1, "internal", None),
        };
    }
    if err.downcast_ref::<decnet_runtime::RuntimeError>().is_some() {
        return (1, "runtime", None);
    }
    if let Some(s) = err.downcast_ref::<StoreError>() {
        let (code, name) = store_code(s);
        return (code, name, if let StoreError::Refused(r) = s { Some(r) } else { None });
    }
    (1, "internal", None)
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
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            let (code, kind, refusal) = exit_code(&err);
            if json {
                let body = match err.downcast_ref::<remote::RemoteError>() {
                    // The server's own error body, as it sent it.
                    Some(remote) => {
                        serde_json::json!({ "error": remote.code, "detail": remote.detail, "issues": remote.issues })
                    }
                    None => {
                        let issues = refusal.map(|r| r.issues.clone()).unwrap_or_default();
                        serde_json::json!({ "error": kind, "detail": format!("{err:#}"), "issues": issues })
                    }
                };
                println!("{body}");
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
            ExitCode::from(code)
        }
    }
}
