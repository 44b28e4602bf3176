//! Command implementations: open the store, build the engine, run one command.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use decnet_domain::document::{TopologyDocument, from_design};
use decnet_domain::generator::GeneratorConfig;
use decnet_domain::issue::errors;
use decnet_domain::{Code, MutationState, Name, Refusal, Target, TopologyId, TopologyStatus};
use decnet_engine::{Bus, Engine, EngineConfig, EngineError};
use decnet_runtime::{DecoyBinary, DockerRuntime, MemoryRuntime, Runtime};
use decnet_store::{ListFilter, SqliteStore};

use crate::UsageError;
use crate::args::{Cli, Command, EngineCommand, ExportFormat, GenerateArgs, RuntimeKind, ServeArgs, TopologyCommand};
use crate::output;

/// Where the database lives when neither `--db` nor `DECNET_DB` says.
fn default_db() -> PathBuf {
    dirs::data_dir().unwrap_or_else(std::env::temp_dir).join("decnet").join("decnet.db")
}

/// The statically linked decoy built with `decnet` (see `build.rs`).
static EMBEDDED_DECOY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/decnet-decoy"));

/// The decoy binary the Docker runtime builds its image from: `--decoy-bin` when given,
/// else the one `decnet` carries.
fn decoy_binary(path: Option<&Path>) -> anyhow::Result<DecoyBinary> {
    Ok(match path {
        Some(path) => DecoyBinary::read(path)?,
        None => DecoyBinary::embedded(EMBEDDED_DECOY),
    })
}

fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// Opens the store and builds an engine. Only commands that touch containers connect to
/// the runtime; the others get an inert in-memory one, so designing and queueing work
/// without a daemon.
async fn engine(cli: &Cli, needs_runtime: bool) -> anyhow::Result<Engine> {
    let path = cli.db.clone().unwrap_or_else(default_db);
    let store = SqliteStore::open(&path).await?;
    let runtime: Arc<dyn Runtime> = match (needs_runtime, cli.runtime) {
        (true, RuntimeKind::Docker) => {
            Arc::new(DockerRuntime::connect(&decoy_binary(cli.decoy_bin.as_deref())?).await?)
        }
        _ => Arc::new(MemoryRuntime::new()),
    };
    Ok(Engine::new(Arc::new(store), runtime, Bus::default(), EngineConfig::default()))
}

async fn resolve(engine: &Engine, key: &str) -> anyhow::Result<TopologyId> {
    Ok(engine.store().resolve(key).await?)
}

/// Runs the command; the returned code is the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let json = cli.json;
    if let Command::Login(args) = &cli.command {
        let server = cli.server.as_deref().ok_or_else(|| usage("login needs --server URL (or DECNET_SERVER)"))?;
        let password = read_password(args)?;
        return crate::remote::login(server, &args.username, &password, json).await;
    }
    if let Some(server) = &cli.server {
        let remote = crate::remote::Remote::new(server, cli.token.clone())?;
        return crate::remote::run(&remote, &cli.command, json).await;
    }
    match &cli.command {
        Command::Login(_) => Err(usage("login needs --server URL")),
        Command::Services => {
            output::services(json);
            Ok(ExitCode::SUCCESS)
        }
        Command::Archetypes => {
            output::archetypes(json);
            Ok(ExitCode::SUCCESS)
        }
        Command::Engine(EngineCommand::Run { once, tick, poll_ms }) => {
            let engine = engine(&cli, true).await?;
            let (tick, poll) = (Duration::from_secs(*tick), Duration::from_millis(*poll_ms));
            run_engine(engine, *once, tick, poll, json).await
        }
        Command::Serve(args) => serve(engine(&cli, true).await?, args).await,
        Command::Events(args) => {
            crate::events::run(crate::events::Source::Store(&engine(&cli, false).await?), args, json).await
        }
        Command::ReapOrphans => {
            let engine = engine(&cli, true).await?;
            let reaped = engine.reap_orphans(None).await?;
            if json {
                println!("{}", serde_json::to_string(&decnet_api::reap_report(&reaped))?);
            } else if reaped.reaped.is_empty() {
                println!("no orphans");
            } else {
                for id in &reaped.reaped {
                    println!("reaped topology {id}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Topology(command) => {
            let needs_runtime = matches!(command, TopologyCommand::Deploy { .. } | TopologyCommand::Teardown { .. });
            let engine = engine(&cli, needs_runtime).await?;
            topology(&engine, command, json, &cli.decoy_bin).await
        }
    }
}

async fn run_engine(
    engine: Engine,
    once: bool,
    tick: Duration,
    poll: Duration,
    json: bool,
) -> anyhow::Result<ExitCode> {
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
        EngineConfig { tick, poll, ..engine.config().clone() },
    );
    tracing::info!(runtime = engine.runtime().kind(), "engine running; Ctrl-C or SIGTERM stops it");
    engine.run(shutdown_signal()).await?;
    tracing::info!("engine stopped");
    Ok(ExitCode::SUCCESS)
}

/// `decnet serve`: the API and the engine until SIGINT/SIGTERM, then a graceful stop
/// (requests in flight finish; the engine stops between steps).
async fn serve(engine: Engine, args: &ServeArgs) -> anyhow::Result<ExitCode> {
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
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let mut reconciler = tokio::spawn({
        let engine = engine.clone();
        let stopped = stopped.clone();
        async move { engine.run(stopped()).await }
    });
    let state = decnet_api::AppState::new(engine.clone(), auth);
    let mut api = tokio::spawn(decnet_api::serve(listener, state, stopped()));
    eprintln!("decnet serving http://{address} (runtime {}); Ctrl-C or SIGTERM stops it", engine.runtime().kind());
    // Whichever ends first (a signal, or a task failing), both tasks are stopped and awaited.
    let (api_result, engine_result) = tokio::select! {
        () = shutdown_signal() => {
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
    api_result.context("the API server failed")?;
    engine_result.context("the engine failed")?;
    eprintln!("stopped");
    Ok(ExitCode::SUCCESS)
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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

fn generator_config(args: &GenerateArgs) -> GeneratorConfig {
    GeneratorConfig {
        depth: args.depth,
        branching: args.branching,
        deckies_per_lan_min: args.deckies_per_lan.0,
        deckies_per_lan_max: args.deckies_per_lan.1,
        bridge_forward_p: args.bridge_forward_p,
        cross_edge_p: args.cross_edge_p,
        services: args.services.clone(),
        // A random seed is still recorded in the snapshot, so the design is reproducible.
        seed: args.seed.unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0),
        subnet_base: args.subnet_base,
        gateway: !args.no_gateway,
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

fn parse_status(text: &str) -> anyhow::Result<TopologyStatus> {
    text.parse().map_err(|e| usage(format!("--status: {e}")))
}

async fn topology(
    engine: &Engine,
    command: &TopologyCommand,
    json: bool,
    decoy_bin: &Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    match command {
        TopologyCommand::Generate(args) => {
            let name =
                Name::parse(&args.name).map_err(|e| usage(format!("--name: invalid name {:?}: {e}", args.name)))?;
            let config = generator_config(args);
            eprintln!("generating {name} (seed {})...", config.seed);
            let topology = engine.generate(name, config).await?;
            output::created(&topology, json);
        }
        TopologyCommand::Create { from } => {
            let (doc, source) = read_document(from)?;
            let topology = engine.create(doc, &source).await?;
            output::created(&topology, json);
        }
        TopologyCommand::List { status } => {
            let status = status.as_deref().map(parse_status).transpose()?;
            let page = engine.store().list_topologies(&ListFilter { status, ..ListFilter::default() }).await?;
            output::topology_list(&page.items, json);
        }
        TopologyCommand::Show { topology } => {
            let id = resolve(engine, topology).await?;
            output::topology(&*engine.store().topology(id).await?, json);
        }
        TopologyCommand::Validate { topology } => {
            let id = resolve(engine, topology).await?;
            let issues = engine.validate(id).await?;
            output::issues(&issues, json);
            if errors(&issues).next().is_some() {
                return Ok(ExitCode::from(crate::exit::REFUSED));
            }
        }
        TopologyCommand::Deploy { topology } => {
            let id = resolve(engine, topology).await?;
            let design = engine.store().topology(id).await?;
            let total = design.design.deckies.len();
            eprintln!(
                "deploying {} ({} LANs, {total} deckies) on the {} runtime...",
                design.header.name,
                design.design.lans.len(),
                engine.runtime().kind()
            );
            // Progress: one line per decky as it comes up (or fails), from the engine's events.
            let mut events = engine.bus().subscribe();
            let progress = tokio::spawn(async move {
                let mut done = 0;
                while let Ok(event) = events.recv().await {
                    if event.topic.starts_with("decky.") && event.payload["topology_id"] == serde_json::json!(id) {
                        done += 1;
                        let state = event.payload["state"].as_str().unwrap_or("?");
                        let decky = event.payload["decky"].as_str().unwrap_or("?");
                        eprintln!("  [{done}/{total}] {decky} {state}");
                    }
                }
            });
            let outcome = engine.deploy(id).await;
            progress.abort();
            output::header(&outcome?, json);
        }
        TopologyCommand::Teardown { topology } => {
            let id = resolve(engine, topology).await?;
            let header = engine.teardown(id).await?;
            output::header(&header, json);
        }
        TopologyCommand::Delete { topology } => {
            let id = resolve(engine, topology).await?;
            engine.delete(id).await?;
            if json {
                println!("{}", serde_json::json!({ "deleted": id }));
            } else {
                println!("deleted {id}");
            }
        }
        TopologyCommand::Export { topology, format } => {
            let id = resolve(engine, topology).await?;
            let topology = engine.store().topology(id).await?;
            let header = &topology.header;
            let doc = from_design(&header.name, header.mode, header.target_host.as_deref(), &topology.design);
            let text = match format {
                ExportFormat::Json => serde_json::to_string_pretty(&doc).context("encoding the export")?,
                ExportFormat::Yaml => serde_saphyr::to_string(&doc).context("encoding the export")?,
                ExportFormat::Compose => {
                    let image = decnet_runtime::image_tag(decoy_binary(decoy_bin.as_deref())?.bytes());
                    let compose = decnet_runtime::compose::render(header.id, &topology.design, &image);
                    let body = serde_saphyr::to_string(&compose).context("encoding the compose file")?;
                    format!(
                        "# {} ({}): exported by `decnet topology export --format compose`.\n\
                         # Run with: docker compose -p decnet-{} -f <this file> up -d\n{body}",
                        header.name,
                        header.id,
                        header.id.simple()
                    )
                }
            };
            println!("{}", text.trim_end());
        }
        TopologyCommand::Mutate { topology, op, payload, expected_version, dry_run } => {
            let id = resolve(engine, topology).await?;
            let payload: serde_json::Value =
                serde_json::from_str(payload).map_err(|e| usage(format!("--payload is not JSON: {e}")))?;
            if *dry_run {
                let plan = engine.plan_dry_run(id, op, &payload).await?;
                output::planned(&plan.actions, json);
                return Ok(ExitCode::SUCCESS);
            }
            let (mutation, version) = engine.enqueue(id, op, &payload, *expected_version).await?;
            output::enqueued(&mutation, version, json);
        }
        TopologyCommand::Mutations { topology, state } => {
            let id = resolve(engine, topology).await?;
            let state = state
                .as_deref()
                .map(|s| s.parse::<MutationState>().map_err(|e| usage(format!("--state: {e}"))))
                .transpose()?;
            output::mutations(&engine.store().mutations(id, state).await?, json);
        }
        TopologyCommand::History { topology, limit } => {
            let id = resolve(engine, topology).await?;
            output::history(id, &engine.store().status_events(id, (*limit).clamp(1, 10_000)).await?, json);
        }
    }
    Ok(ExitCode::SUCCESS)
}
