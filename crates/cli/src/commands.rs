//! Commands: `run` chooses the backend once (the database, or a server's API), then each
//! command is written once against it; `serve` and `engine run` run here, on the database.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use decnet_domain::document::{TopologyDocument, to_design};
use decnet_domain::{Code, Refusal, Target, TopologyId};
use decnet_engine::{Engine, EngineConfig, EngineError};

use crate::UsageError;
use crate::args::{Cli, ClusterCommand, Command, Database, EngineCommand, ExportFormat, ServeArgs, TopologyCommand};
use crate::backend::{Backend, Local, decoy_binary};
use crate::output;

/// Where the database lives when neither `--db` nor `DECNET_DB` says: `DATABASE_URL` if
/// set, else the embedded SQLite file under the user's data directory.
fn default_db() -> anyhow::Result<Database> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Database::parse(&url).map_err(|e| usage(format!("DATABASE_URL: {e}"))),
        _ => Ok(Database::Sqlite(dirs::data_dir().unwrap_or_else(std::env::temp_dir).join("decnet").join("decnet.db"))),
    }
}

fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// Runs the command; the returned code is the process exit code. The backend (the local
/// database, or a server with `--server`) is chosen here, once.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let json = cli.json;
    let db = match cli.db.clone() {
        Some(db) => db,
        None => default_db()?,
    };
    match (&cli.command, &cli.server) {
        (Command::Login(args), Some(server)) => {
            let password = read_password(args)?;
            return crate::remote::login(server, &args.username, &password, json).await;
        }
        (Command::Login(_), None) => return Err(usage("login needs --server URL (or DECNET_SERVER)")),
        (Command::Serve(_) | Command::Engine(_) | Command::Cluster(_), Some(_)) => {
            return Err(usage("this command runs here, on the database; it does not take --server"));
        }
        (Command::Cluster(ClusterCommand::Nodes), None) => {
            let local = Local::open(&db, cli.runtime, cli.swarm.clone(), cli.decoy_bin.clone()).await?;
            crate::output::cluster_nodes(&local.cluster_nodes().await?, json);
            return Ok(ExitCode::SUCCESS);
        }
        (Command::Serve(args), None) => {
            let config = load_config(args.config.as_deref())?;
            let local = Local::open(&db, cli.runtime, cli.swarm.clone(), cli.decoy_bin.clone()).await?;
            return serve(local.engine(true).await?, args, config).await;
        }
        (Command::Engine(EngineCommand::Run { once, tick, poll_ms, lease, batch, config }), None) => {
            let config = load_config(config.as_deref())?;
            let local = Local::open(&db, cli.runtime, cli.swarm.clone(), cli.decoy_bin.clone()).await?;
            let timing = EngineTiming {
                tick: Duration::from_secs(*tick),
                poll: Duration::from_millis(*poll_ms),
                lease: Duration::from_secs(*lease),
                batch: usize::try_from(*batch).unwrap_or(64),
            };
            return run_engine(local.engine(true).await?, *once, timing, config, json).await;
        }
        _ => {}
    }
    let backend: Box<dyn Backend> = match &cli.server {
        Some(server) => Box::new(crate::remote::Remote::new(server, cli.token.clone())?),
        None => Box::new(Local::open(&db, cli.runtime, cli.swarm.clone(), cli.decoy_bin.clone()).await?),
    };
    command(&*backend, &cli.command, json, cli.decoy_bin.as_deref()).await
}

/// Runs one command against `backend`.
async fn command(
    backend: &dyn Backend,
    command: &Command,
    json: bool,
    decoy_bin: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Services => output::services(&backend.services().await?, json),
        Command::Archetypes => output::archetypes(&backend.archetypes().await?, json),
        Command::ReapOrphans => output::reaped(&backend.reap_orphans().await?, json),
        Command::Events(args) => return crate::events::run(backend, args, json).await,
        Command::Attackers(args) => return crate::attackers::run(backend, args, json).await,
        Command::Incidents(args) => output::incidents(&backend.incidents(args).await?, json),
        Command::Status(args) => output::status(&backend.status(args).await?, json),
        Command::Topology(command) => return topology(backend, command, json, decoy_bin).await,
        Command::Login(_) | Command::Serve(_) | Command::Engine(_) | Command::Cluster(_) => {
            return Err(usage("this command is not run against a backend"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The configuration file at `path`, checked whole (none: no sinks).
fn load_config(path: Option<&Path>) -> anyhow::Result<decnet_sinks::Config> {
    match path {
        Some(path) => decnet_sinks::Config::load(path).map_err(|e| usage(e.to_string())),
        None => Ok(decnet_sinks::Config::default()),
    }
}

/// The intervals and batch size `decnet engine run` was given.
struct EngineTiming {
    tick: Duration,
    poll: Duration,
    lease: Duration,
    batch: usize,
}

async fn run_engine(
    engine: Engine,
    once: bool,
    timing: EngineTiming,
    config: decnet_sinks::Config,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let stop = shutdown_signal();
    if once {
        engine.heal().await?;
        let report = engine.run_until_idle().await?;
        if json {
            println!("{}", serde_json::json!({ "applied": report.applied, "refused": report.refused }));
        } else {
            println!("applied {} mutation(s), refused {}", report.applied, report.refused);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let engine = Engine::new(
        engine.store().clone(),
        engine.runtime().clone(),
        engine.bus().clone(),
        EngineConfig {
            tick: timing.tick,
            poll: timing.poll,
            lease: timing.lease,
            batch: timing.batch,
            ..engine.config().clone()
        },
    );
    tracing::info!(runtime = engine.runtime().kind(), "engine running; Ctrl-C or SIGTERM stops it");
    let (stop_tx, stopped) = stop_switch();
    let stop_tx = Arc::new(stop_tx);
    let sinks = engine.start_sinks(config.sinks, stopped.clone());
    let alerter = tokio::spawn({
        let engine = engine.clone();
        let stopped = stopped.clone();
        async move { engine.run_alerts(config.alerts, stopped()).await }
    });
    let signalled = stop_tx.clone();
    let ran = engine
        .run(async move {
            stop.await;
            let _ = signalled.send(true);
        })
        .await;
    // The sinks and the alerter stop with the engine, whether it stopped or failed.
    let _ = stop_tx.send(true);
    sinks.stopped().await;
    let _ = alerter.await;
    ran?;
    tracing::info!("engine stopped");
    Ok(ExitCode::SUCCESS)
}

/// `decnet serve`: the API and the engine until SIGINT/SIGTERM, then a graceful stop
/// (requests in flight finish; the engine stops between steps).
async fn serve(engine: Engine, args: &ServeArgs, config: decnet_sinks::Config) -> anyhow::Result<ExitCode> {
    let stop = shutdown_signal();
    let store = engine.store().clone();
    let password = std::env::var("DECNET_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty());
    match decnet_api::auth::ensure_first_admin(store.as_ref(), password).await? {
        decnet_api::FirstAdmin::Generated(password) => eprintln!(
            "\n  First start: created the user 'admin' with the password\n\n      {password}\n\n  \
             It is shown only now. Change it with PATCH /api/v1/users/admin.\n"
        ),
        decnet_api::FirstAdmin::Created => {
            eprintln!("first start: created the user 'admin' with the password from DECNET_ADMIN_PASSWORD");
        }
        decnet_api::FirstAdmin::Existing => {}
    }
    let auth_config =
        decnet_api::AuthConfig { token_ttl: Duration::from_secs(args.token_ttl), ..decnet_api::AuthConfig::default() };
    let auth = Arc::new(decnet_api::Auth::load(store.as_ref(), auth_config).await?);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr().context("the listener has no address")?;
    let engine = Engine::new(
        store,
        engine.runtime().clone(),
        engine.bus().clone(),
        EngineConfig {
            tick: Duration::from_secs(args.tick),
            poll: Duration::from_millis(args.poll_ms),
            events_max_age: Duration::from_secs(args.events_max_age_days * 86_400),
            events_max_rows: args.events_max_rows,
            ..engine.config().clone()
        },
    );
    let (stop_tx, stopped) = stop_switch();
    let sinks = engine.start_sinks(config.sinks, stopped.clone());
    let alerter = tokio::spawn({
        let engine = engine.clone();
        let stopped = stopped.clone();
        async move { engine.run_alerts(config.alerts, stopped()).await }
    });
    let mut reconciler = tokio::spawn({
        let engine = engine.clone();
        let stopped = stopped.clone();
        async move { engine.run(stopped()).await }
    });
    let state = decnet_api::AppState::new(engine.clone(), auth).with_sinks(sinks.clone());
    let mut api = tokio::spawn(decnet_api::serve(listener, state, stopped()));
    eprintln!(
        "decnet serving http://{address} (runtime {}; web console at http://{address}/); Ctrl-C or SIGTERM stops it",
        engine.runtime().kind()
    );
    // Whichever ends first (a signal, or a task failing), both tasks are stopped and awaited.
    let (api_result, engine_result) = tokio::select! {
        () = stop => {
            eprintln!("stopping: finishing requests in flight");
            let _ = stop_tx.send(true);
            (joined(api.await), joined(reconciler.await))
        }
        done = &mut api => {
            let _ = stop_tx.send(true);
            (joined(done), joined(reconciler.await))
        }
        done = &mut reconciler => {
            let _ = stop_tx.send(true);
            (joined(api.await), joined(done))
        }
    };
    sinks.stopped().await;
    let _ = alerter.await;
    api_result.context("the API server failed")?;
    engine_result.context("the engine failed")?;
    eprintln!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// A stop switch: setting it (`send(true)`) resolves every future the function makes.
fn stop_switch() -> (
    tokio::sync::watch::Sender<bool>,
    impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Clone,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        Box::pin(async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
    };
    (stop_tx, stopped)
}

/// The password for `decnet login`: standard input's first line, `DECNET_PASSWORD`, or a
/// prompt that does not echo.
fn read_password(args: &crate::args::LoginArgs) -> anyhow::Result<String> {
    if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    if let Ok(password) = std::env::var("DECNET_PASSWORD") {
        return Ok(password);
    }
    rpassword::prompt_password(format!("password for {}: ", args.username)).context("reading the password")
}

/// A task's outcome with a panic or cancellation counted as a failure.
fn joined<E: Into<anyhow::Error>>(outcome: Result<Result<(), E>, tokio::task::JoinError>) -> anyhow::Result<()> {
    outcome?.map_err(Into::into)
}

/// Resolves when `signal` arrives (never when it could not be registered).
#[cfg(unix)]
async fn received(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Resolves at SIGINT or SIGTERM. The handlers are registered when this is called, not
/// when the future is first polled, so a signal that arrives while the caller is still
/// starting up stops it gracefully instead of killing it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).ok();
        let mut terminate = signal(SignalKind::terminate()).ok();
        async move {
            tokio::select! {
                () = received(interrupt.as_mut()) => {}
                () = received(terminate.as_mut()) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub(crate) fn read_document(path: &Path) -> anyhow::Result<(TopologyDocument, String)> {
    let (text, source) = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| usage(format!("cannot read standard input: {e}")))?;
        (text, "stdin".to_owned())
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
        (text, path.display().to_string())
    };
    let parsed = if text.trim_start().starts_with('{') {
        serde_json::from_str::<TopologyDocument>(&text).map_err(|e| e.to_string())
    } else {
        serde_saphyr::from_str::<TopologyDocument>(&text).map_err(|e| e.to_string())
    };
    let doc = parsed.map_err(|e| {
        EngineError::Refused(Refusal::one(Code::PayloadInvalid, Target::field("document"), format!("{source}: {e}")))
    })?;
    Ok((doc, source))
}

/// The exit code of a deploy or teardown that settled in `status`.
fn settled(status: &str) -> ExitCode {
    if status == "failed" { ExitCode::from(crate::exit::INTERNAL) } else { ExitCode::SUCCESS }
}

async fn topology(
    backend: &dyn Backend,
    command: &TopologyCommand,
    json: bool,
    decoy_bin: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    match command {
        TopologyCommand::Generate(args) => {
            let created = backend.generate(args).await?;
            output::created(&backend.show(&created.id.to_string()).await?, json);
        }
        TopologyCommand::Create { from } => {
            let (document, source) = read_document(from)?;
            let created = backend.create(document, &source).await?;
            output::created(&backend.show(&created.id.to_string()).await?, json);
        }
        TopologyCommand::List { status } => output::topology_list(&backend.list(status.as_deref()).await?, json),
        TopologyCommand::Show { topology } => output::topology(&backend.show(topology).await?, json),
        TopologyCommand::Validate { topology } => {
            let report = backend.validate(topology).await?;
            output::validation(&report, json);
            if !report.valid {
                return Ok(ExitCode::from(crate::exit::REFUSED));
            }
        }
        TopologyCommand::Deploy { topology } => {
            let summary = backend.deploy(topology).await?;
            output::summary(&summary, json);
            return Ok(settled(&summary.status));
        }
        TopologyCommand::Teardown { topology } => {
            let summary = backend.teardown(topology).await?;
            output::summary(&summary, json);
            return Ok(settled(&summary.status));
        }
        TopologyCommand::Delete { topology } => output::deleted(backend.delete(topology).await?, json),
        TopologyCommand::Export { topology, format } => {
            let document = backend.export(topology).await?;
            let text = match format {
                ExportFormat::Json => serde_json::to_string_pretty(&document).context("encoding the export")?,
                ExportFormat::Yaml => serde_saphyr::to_string(&document).context("encoding the export")?,
                ExportFormat::Compose => {
                    let id = backend.show(topology).await?.topology.id;
                    let design = to_design(&document, decnet_domain::alloc::default_subnet_base(), &[]).design;
                    let image = decnet_runtime::image_tag(decoy_binary(decoy_bin)?.bytes());
                    let compose = decnet_runtime::compose::render(TopologyId(id), &design, document.lures, &image);
                    let body = serde_saphyr::to_string(&compose).context("encoding the compose file")?;
                    format!(
                        "# {} ({id}): exported by `decnet topology export --format compose`.\n\
                         # Run with: docker compose -p decnet-{} -f <this file> up -d\n{body}",
                        document.name,
                        id.simple()
                    )
                }
            };
            println!("{}", text.trim_end());
        }
        TopologyCommand::Mutate { topology, op, payload, expected_version, dry_run } => {
            let payload: serde_json::Value =
                serde_json::from_str(payload).map_err(|e| usage(format!("--payload is not JSON: {e}")))?;
            if *dry_run {
                let plan = backend.plan(topology, op, &payload).await?;
                output::planned(&plan, json);
                if !plan.accepted {
                    return Ok(ExitCode::from(crate::exit::REFUSED));
                }
            } else {
                output::enqueued(&backend.enqueue(topology, op, &payload, *expected_version).await?, json);
            }
        }
        TopologyCommand::Mutations { topology, state } => {
            output::mutations(&backend.mutations(topology, state.as_deref()).await?, json);
        }
        TopologyCommand::Lures { topology } => {
            output::lures(&backend.lures(topology).await?, json);
        }
        TopologyCommand::Placement { topology } => {
            output::placement(&backend.placement(topology).await?, json);
        }
        TopologyCommand::Place { topology, policy, pins, lan_pins } => {
            let request = decnet_api::wire::PlacementRequest {
                policy: policy.map(|p| decnet_domain::placement::Policy::from(p).into()),
                lans: lan_pins.iter().cloned().collect(),
                deckies: pins.iter().cloned().collect(),
            };
            output::placement(&backend.set_placement(topology, request).await?, json);
        }
        TopologyCommand::History { topology, limit } => {
            output::history(&backend.history(topology, *limit).await?, json);
        }
    }
    Ok(ExitCode::SUCCESS)
}
