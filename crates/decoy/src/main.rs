//! `decnet-decoy`: the one binary inside every DECNET container.
//!
//! `base` holds a decky's network namespace (it owns the IPs; service containers join it)
//! and exits promptly on SIGTERM. `serve <service>` runs a decoy service: on the
//! service's catalogue ports in a container, or on one given address on a host
//! (`--listen 127.0.0.1:2222`, for development, tests and benchmarks). Events are JSON
//! lines on stdout; diagnostics go to stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use decnet_decoy::server::Limits;

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
    /// Run a decoy service.
    Serve {
        /// Service slug from the catalogue (e.g. ssh, http).
        service: String,
        /// `IP` to serve every catalogue port of the service there, or `IP:PORT` for one
        /// TCP port (0 picks a free one; the bound address is printed on stderr).
        #[arg(long, default_value = "0.0.0.0")]
        listen: String,
        /// Settings of the service (JSON or YAML object); default `DECNET_SERVICE_CONFIG`.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Most connections served at once.
        #[arg(long, default_value_t = Limits::default().max_connections, value_parser = at_least_one)]
        max_connections: usize,
        /// Most connections served at once from one source address.
        #[arg(long, default_value_t = Limits::default().max_per_source, value_parser = at_least_one)]
        max_per_source: usize,
        /// Where tunnels and hops may lead: `maze` (what this namespace routes, never
        /// the default route or the host), `none`, or subnets (`127.0.0.0/8,10.1.0.0/24`).
        /// Default: `maze` inside a decky, `none` elsewhere.
        #[arg(long, value_parser = parse_reach)]
        reach: Option<decnet_decoy::routes::Reach>,
    },
    /// Show or set this decky's managed routes (run by the runtime inside a base).
    Routes {
        /// What to do.
        #[command(subcommand)]
        action: RoutesAction,
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

#[derive(Debug, Subcommand)]
enum RoutesAction {
    /// Print the managed routes the kernel holds (JSON).
    Show,
    /// Make ROUTES (a JSON list of {destination, gateway}) this base's routes: kept for
    /// the base to re-apply, and applied now; prints what changed (JSON).
    Set {
        /// The routes.
        routes: String,
    },
    /// Give the interface holding ADDRESS the MAC (`ADDRESS=MAC`): a link joined live to a
    /// macvlan DMZ takes its persona's MAC, as one the base was created with does.
    LinkMac {
        /// `ADDRESS=MAC`.
        link: String,
    },
}

fn parse_reach(value: &str) -> Result<decnet_decoy::routes::Reach, String> {
    use decnet_decoy::routes::Reach;
    match value {
        "maze" => Ok(Reach::Maze),
        "none" => Ok(Reach::Nowhere),
        list => list
            .split(',')
            .map(|net| net.trim().parse().map_err(|e| format!("{net}: {e} (expected maze, none or CIDR,...)")))
            .collect::<Result<Vec<_>, _>>()
            .map(Reach::Only),
    }
}

/// A connection cap: a decoy that serves no one is a mistake, not a setting.
fn at_least_one(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(err) => Err(err.to_string()),
    }
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

async fn probe(target: std::net::SocketAddr, timeout_ms: u64) -> ExitCode {
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

/// Holds the namespace and keeps its routes as desired, re-applying them every second
/// (a route deleted by hand is back within that), until a signal.
async fn base(shutdown: impl std::future::Future<Output = ()>) -> ExitCode {
    use decnet_decoy::{routes, stack};
    // The persona's OS family shapes the namespace's TCP/IP stack; a refusal is said and
    // the decky keeps running with its sysctls alone.
    let family = decnet_domain::catalogue::os_family_of(std::env::var("DECNET_ARCHETYPE").ok().as_deref());
    match stack::shape(family) {
        Ok(true) => eprintln!("decnet-decoy: {} TCP/IP stack installed", family.as_str()),
        Ok(false) => {}
        Err(err) => eprintln!("decnet-decoy: {} TCP/IP stack not installed: {err}", family.as_str()),
    }
    match routes::set_link_mac_from_env().await {
        Ok(Some(link)) => eprintln!("decnet-decoy: link {link} set"),
        Ok(None) => {}
        Err(err) => eprintln!("decnet-decoy: link MAC not set: {err}"),
    }
    eprintln!("decnet-decoy: base ready");
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error = None;
    loop {
        tokio::select! {
            () = &mut shutdown => return ExitCode::SUCCESS,
            _ = tick.tick() => {}
        }
        let outcome = match routes::desired() {
            Ok(desired) => routes::sync(&desired).await,
            Err(err) => Err(err),
        };
        match outcome {
            Ok(report) => {
                for route in &report.added {
                    eprintln!("decnet-decoy: route {} via {} installed", route.destination, route.gateway);
                }
                for route in &report.removed {
                    eprintln!("decnet-decoy: route {} via {} removed", route.destination, route.gateway);
                }
                last_error = None;
            }
            Err(err) => {
                // Said once, not every second.
                let text = err.to_string();
                if last_error.as_ref() != Some(&text) {
                    eprintln!("decnet-decoy: routes: {text}");
                    last_error = Some(text);
                }
            }
        }
    }
}

async fn routes(action: RoutesAction) -> ExitCode {
    use decnet_decoy::routes;
    let outcome = match action {
        RoutesAction::Show => routes::current().await.map(|r| serde_json::to_string(&r)),
        // Changing a host's routing table by mistake would cut it off: only in a decky.
        RoutesAction::Set { .. } | RoutesAction::LinkMac { .. } if std::env::var_os("DECNET_TOPOLOGY").is_none() => {
            Err(routes::RoutesError::Invalid("routes are set only inside a decky's base (DECNET_TOPOLOGY)".into()))
        }
        RoutesAction::LinkMac { link } => routes::set_link(&link).await.map(|()| serde_json::to_string(&link)),
        RoutesAction::Set { routes: text } => match routes::parse(&text) {
            Ok(desired) => match routes::keep(&desired, std::path::Path::new(routes::DESIRED_FILE)) {
                Ok(()) => routes::sync(&desired).await.map(|r| serde_json::to_string(&r)),
                Err(err) => Err(err),
            },
            Err(err) => Err(err),
        },
    };
    match outcome {
        Ok(Ok(json)) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Ok(Err(err)) => {
            eprintln!("decnet-decoy: {err}");
            ExitCode::from(1)
        }
        Err(err @ routes::RoutesError::Invalid(_)) => {
            eprintln!("decnet-decoy: {err}");
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("decnet-decoy: {err}");
            ExitCode::from(1)
        }
    }
}

async fn serve(
    name: &str,
    listen: &str,
    config: Option<PathBuf>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> ExitCode {
    let Some(service) = decnet_domain::catalogue::decky_service(name) else {
        eprintln!("decnet-decoy: unknown service {name:?}");
        return ExitCode::from(2);
    };
    let config = match decnet_decoy::config::Config::load(service, config.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("decnet-decoy: {err}");
            return ExitCode::from(2);
        }
    };
    let sockets = match decnet_decoy::services::bind(service, listen).await {
        Ok(sockets) => sockets,
        Err(err) => {
            eprintln!("decnet-decoy: {err}");
            return ExitCode::from(1);
        }
    };
    for listener in &sockets.tcp {
        if let Ok(bound) = listener.local_addr() {
            // Tells a caller that asked for port 0 where to connect.
            eprintln!("decnet-decoy: {} listening on {bound}/tcp", service.name);
        }
    }
    for socket in &sockets.udp {
        if let Ok(bound) = socket.local_addr() {
            eprintln!("decnet-decoy: {} listening on {bound}/udp", service.name);
        }
    }
    let persona = decnet_decoy::persona::Persona::from_env();
    let (sink, writer) = decnet_decoy::event::Sink::stdout();
    let recorder = decnet_decoy::event::Recorder::new(decnet_decoy::event::Origin::from_env(), service.name, sink);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let served = decnet_decoy::services::serve(service, &persona, &config, sockets, recorder, limits, stop_rx);
    tokio::pin!(served);
    let result = tokio::select! {
        result = &mut served => result,
        () = shutdown => {
            let _ = stop_tx.send(true);
            served.await
        }
    };
    // Every sink clone is gone with the sessions: the writer ends once it wrote the rest.
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("decnet-decoy: {err}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
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
            Role::Probe { target, timeout_ms } => probe(target, timeout_ms).await,
            Role::Base => base(shutdown).await,
            Role::Routes { action } => routes(action).await,
            Role::Serve { service, listen, config, max_connections, max_per_source, reach } => {
                let mut limits = Limits { max_connections, max_per_source, ..Default::default() };
                if let Some(reach) = reach {
                    limits.reach = reach;
                }
                serve(&service, &listen, config, limits, shutdown).await
            }
        }
    })
}
