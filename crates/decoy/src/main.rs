//! `decnet-decoy`: the one binary inside every DECNET container.
//!
//! `base` holds a decky's network namespace (it owns the IPs; service containers join it)
//! and exits promptly on SIGTERM. `serve <service>` runs a decoy service on the service's
//! catalogue ports. Until the protocol decoys land, a service is a listener that accepts
//! each connection, writes one JSON event line to stdout, and closes. It runs directly on
//! a host too (`--listen 127.0.0.1 --port 0`), for development and tests.

mod event;
mod listener;

use std::net::IpAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The DECNET decoy binary.
#[derive(Debug, Parser)]
#[command(name = "decnet-decoy", version, about)]
struct Cli {
    /// What this container is.
    #[command(subcommand)]
    role: Role,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// Hold the decky's network namespace until SIGTERM or SIGINT.
    Base,
    /// Run a decoy service on its catalogue ports.
    Serve {
        /// Service slug from the catalogue (e.g. ssh, http).
        service: String,
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0")]
        listen: IpAddr,
        /// Listen on this one TCP port instead of the catalogue's (0 picks a free one).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Try one TCP connection and exit 0 if it was accepted, 3 if not (a diagnostic for
    /// checking what a decky can reach from inside its namespace).
    Probe {
        /// Address to connect to.
        target: std::net::SocketAddr,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
}

/// Installs SIGTERM and SIGINT handlers (PID 1 in a container ignores signals it has no
/// handler for) and returns a future that resolves when either arrives.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("decnet-decoy: cannot start: {err}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        let shutdown = match shutdown_signal() {
            Ok(shutdown) => shutdown,
            Err(err) => {
                eprintln!("decnet-decoy: cannot handle signals: {err}");
                return ExitCode::from(1);
            }
        };
        match cli.role {
            Role::Probe { target, timeout_ms } => {
                let attempt = tokio::net::TcpStream::connect(target);
                match tokio::time::timeout(std::time::Duration::from_millis(timeout_ms), attempt).await {
                    Ok(Ok(_)) => {
                        println!("reached {target}");
                        ExitCode::SUCCESS
                    }
                    Ok(Err(err)) => {
                        println!("cannot reach {target}: {err}");
                        ExitCode::from(3)
                    }
                    Err(_) => {
                        println!("cannot reach {target}: timed out");
                        ExitCode::from(3)
                    }
                }
            }
            Role::Base => {
                eprintln!("decnet-decoy: base ready");
                shutdown.await;
                ExitCode::SUCCESS
            }
            Role::Serve { service, listen, port } => {
                let Some(spec) = decnet_domain::catalogue::decky_service(&service) else {
                    eprintln!("decnet-decoy: unknown service {service:?}");
                    return ExitCode::from(2);
                };
                match listener::serve(spec, listen, port, shutdown).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(err) => {
                        eprintln!("decnet-decoy: {err}");
                        ExitCode::from(1)
                    }
                }
            }
        }
    })
}
