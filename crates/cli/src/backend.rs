//! Where a command runs: on the local database (and container runtime), or on a server's
//! HTTP API (`--server`). `main` chooses once; every command is written once against
//! [`Backend`]. Both answer with the API's wire types ([`decnet_api::wire`]), so a command
//! prints the same thing whichever ran it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use decnet_api::wire::{
    ArchetypeList, AttackerDetail, AttackerList, AttackerSummary, DiskStatus, Enqueued, EventRow, IncidentList,
    LureList, MutationRow, PlacementRequest, PlacementView, PlanResult, ReapReport, ServiceList, StatusEventRow,
    TopologyDetail, TopologyPage, TopologySummary, ValidationReport,
};
use decnet_domain::attachment::{Attachment, HostLink};
use decnet_domain::document::{TopologyDocument, from_design};
use decnet_domain::generator::GeneratorConfig;
use decnet_domain::{MutationState, Name, TopologyStatus};
use decnet_engine::{Bus, Engine, EngineConfig, EngineError};
use decnet_runtime::{DecoyBinary, DockerRuntime, MemoryRuntime, Runtime, SwarmConfig, SwarmRuntime};
use decnet_store::{ListFilter, PgStore, SqliteStore, Store};
use serde_json::{Value, json};

use crate::UsageError;
use crate::args::{Database, EventsArgs, GenerateArgs, IncidentsArgs, RuntimeKind, StatusArgs, SwarmArgs};

/// The most topologies one listing shows.
pub const LIST_LIMIT: i64 = 500;

/// Where commands run.
#[async_trait]
pub trait Backend: Send + Sync {
    /// The decoy services.
    async fn services(&self) -> anyhow::Result<ServiceList>;
    /// The decky archetypes.
    async fn archetypes(&self) -> anyhow::Result<ArchetypeList>;
    /// Topologies, newest first, optionally in one status.
    async fn list(&self, status: Option<&str>) -> anyhow::Result<TopologyPage>;
    /// One topology, whole.
    async fn show(&self, key: &str) -> anyhow::Result<TopologyDetail>;
    /// Generates a pending topology.
    async fn generate(&self, args: &GenerateArgs) -> anyhow::Result<TopologySummary>;
    /// Creates a pending topology from a document.
    async fn create(&self, document: TopologyDocument, source: &str) -> anyhow::Result<TopologySummary>;
    /// Every validation issue.
    async fn validate(&self, key: &str) -> anyhow::Result<ValidationReport>;
    /// The topology as a document.
    async fn export(&self, key: &str) -> anyhow::Result<TopologyDocument>;
    /// Deletes a topology; its id.
    async fn delete(&self, key: &str) -> anyhow::Result<uuid::Uuid>;
    /// Mutations, newest first, optionally in one state.
    async fn mutations(&self, key: &str, state: Option<&str>) -> anyhow::Result<Vec<MutationRow>>;
    /// Status transitions, newest first.
    async fn history(&self, key: &str, limit: i64) -> anyhow::Result<Vec<StatusEventRow>>;
    /// A topology's lures.
    async fn lures(&self, key: &str) -> anyhow::Result<LureList>;
    /// A topology's placement on a swarm.
    async fn placement(&self, key: &str) -> anyhow::Result<PlacementView>;
    /// Replaces a topology's placement on a swarm.
    async fn set_placement(&self, key: &str, placement: PlacementRequest) -> anyhow::Result<PlacementView>;
    /// Queues a mutation.
    async fn enqueue(
        &self,
        key: &str,
        op: &str,
        payload: &Value,
        expected_version: Option<i64>,
    ) -> anyhow::Result<Enqueued>;
    /// What a mutation would do, or why it would be refused.
    async fn plan(&self, key: &str, op: &str, payload: &Value) -> anyhow::Result<PlanResult>;
    /// Deploys, printing each decky's progress on standard error; the summary once settled.
    async fn deploy(&self, key: &str) -> anyhow::Result<TopologySummary>;
    /// Tears down, printing progress; the summary once settled.
    async fn teardown(&self, key: &str) -> anyhow::Result<TopologySummary>;
    /// Removes resources of topologies that no longer exist.
    async fn reap_orphans(&self) -> anyhow::Result<ReapReport>;
    /// Events after `after` (oldest first), at most `limit`.
    async fn events(&self, args: &EventsArgs, after: Option<i64>, limit: i64) -> anyhow::Result<Vec<EventRow>>;
    /// The attackers of one topology (id or name) or of all, most recently seen first.
    async fn attackers(&self, topology: Option<&str>) -> anyhow::Result<AttackerList>;
    /// One attacker (by source address) with its path.
    async fn attacker(&self, id: &str, topology: Option<&str>) -> anyhow::Result<AttackerDetail>;
    /// Open incidents, latest first.
    async fn incidents(&self, args: &IncidentsArgs) -> anyhow::Result<IncidentList>;
    /// Disk use against limits.
    async fn status(&self, args: &StatusArgs) -> anyhow::Result<DiskStatus>;
}

fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// A topology status named on the command line.
fn parse_status(text: &str) -> anyhow::Result<TopologyStatus> {
    text.parse().map_err(|e| usage(format!("--status: {e}")))
}

/// A mutation state named on the command line.
fn parse_state(text: &str) -> anyhow::Result<MutationState> {
    text.parse().map_err(|e| usage(format!("--state: {e}")))
}

/// A topology name given to `generate`.
pub(crate) fn parse_name(text: &str) -> anyhow::Result<Name> {
    Name::parse(text).map_err(|e| usage(format!("--name: invalid name {text:?}: {e}")))
}

/// One line of deploy or teardown progress.
pub(crate) fn progress_line(decky: &str, state: &str, error: Option<&str>) {
    let error = error.map(|e| format!(" ({e})")).unwrap_or_default();
    eprintln!("  {decky:<24} {state}{error}");
}

/// The statically linked decoy built with `decnet` (see `build.rs`).
static EMBEDDED_DECOY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/decnet-decoy"));

/// The decoy binary the Docker runtime builds its image from: `--decoy-bin` when given,
/// else the one `decnet` carries.
pub fn decoy_binary(path: Option<&Path>) -> anyhow::Result<DecoyBinary> {
    Ok(match path {
        Some(path) => DecoyBinary::read(path)?,
        None => DecoyBinary::embedded(EMBEDDED_DECOY),
    })
}

/// The local database, and the container runtime for the commands that touch containers.
pub struct Local {
    store: Arc<dyn Store>,
    runtime: RuntimeKind,
    swarm: SwarmArgs,
    decoy_bin: Option<PathBuf>,
}

impl Local {
    /// Opens the database `db` (creating a SQLite file, migrating either).
    pub async fn open(
        db: &Database,
        runtime: RuntimeKind,
        swarm: SwarmArgs,
        decoy_bin: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let store: Arc<dyn Store> = match db {
            Database::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
            Database::Postgres(url) => Arc::new(PgStore::connect(url).await?),
        };
        Ok(Self { store, runtime, swarm, decoy_bin })
    }

    /// An engine over the store. Only commands that touch containers connect to the
    /// runtime; the others get an inert in-memory one, so designing and queueing work
    /// without a daemon.
    pub async fn engine(&self, needs_runtime: bool) -> anyhow::Result<Engine> {
        let runtime: Arc<dyn Runtime> = match (needs_runtime, self.runtime) {
            (true, RuntimeKind::Docker) => {
                Arc::new(DockerRuntime::connect(&decoy_binary(self.decoy_bin.as_deref())?).await?)
            }
            (true, RuntimeKind::Swarm) => Arc::new(self.swarm().await?),
            _ => Arc::new(MemoryRuntime::new()),
        };
        Ok(Engine::new(self.store.clone(), runtime, Bus::default(), EngineConfig::default()))
    }

    /// The swarm runtime `--swarm-*` describe.
    pub async fn swarm(&self) -> anyhow::Result<SwarmRuntime> {
        let config = SwarmConfig {
            manager: self.swarm.swarm_manager.clone(),
            tls: self.swarm.swarm_tls.clone(),
            placement: self.swarm.placement.into(),
        };
        Ok(SwarmRuntime::connect(config, &decoy_binary(self.decoy_bin.as_deref())?).await?)
    }

    /// The swarm's nodes with the deckies each runs, topologies by name where stored.
    pub async fn cluster_nodes(&self) -> anyhow::Result<Vec<crate::output::ClusterNode>> {
        let swarm = self.swarm().await?;
        let nodes = swarm.nodes().await?;
        let mut deckies = swarm.deckies().await?;
        let mut names = std::collections::HashMap::new();
        let mut rows = Vec::with_capacity(nodes.len());
        for node in nodes {
            let mut on_node = Vec::new();
            for (topology, decky) in deckies.remove(&node.id).unwrap_or_default() {
                if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(topology) {
                    // A topology the store no longer knows is shown by its id.
                    slot.insert(
                        self.store.header(topology).await.map_or_else(|_| topology.to_string(), |h| h.name.to_string()),
                    );
                }
                on_node.push(format!("{}/{decky}", names.get(&topology).map_or("?", String::as_str)));
            }
            rows.push(crate::output::ClusterNode { node, deckies: on_node });
        }
        Ok(rows)
    }

    async fn resolve(&self, key: &str) -> anyhow::Result<decnet_domain::TopologyId> {
        Ok(self.store.resolve(key).await?)
    }

    async fn local_attackers(
        &self,
        topology: Option<&str>,
    ) -> anyhow::Result<Vec<(decnet_domain::TopologyId, decnet_engine::attackers::Attacker)>> {
        let id = match topology {
            Some(key) => Some(self.resolve(key).await?),
            None => None,
        };
        Ok(self.engine(false).await?.attackers_of(id).await?)
    }
}

/// The DMZ attachment and subnet the command line asks for.
fn dmz_attachment(args: &GenerateArgs) -> anyhow::Result<(Attachment, Option<ipnet::Ipv4Net>)> {
    use crate::args::DmzMode;
    let any_link_flag = args.dmz_interface.is_some()
        || args.dmz_gateway.is_some()
        || args.dmz_range.is_some()
        || args.dmz_subnet.is_some();
    if args.dmz == DmzMode::Bridge {
        if any_link_flag {
            return Err(usage(
                "--dmz-interface, --dmz-subnet, --dmz-gateway and --dmz-range need --dmz macvlan or ipvlan",
            ));
        }
        return Ok((Attachment::Bridge, None));
    }
    let (Some(interface), Some(gateway), Some(ip_range), Some(subnet)) =
        (&args.dmz_interface, args.dmz_gateway, args.dmz_range, args.dmz_subnet)
    else {
        return Err(usage(
            "a macvlan or ipvlan DMZ needs --dmz-interface, --dmz-subnet, --dmz-gateway and --dmz-range",
        ));
    };
    let link = HostLink { interface: interface.clone(), gateway, ip_range };
    let attachment = if args.dmz == DmzMode::Ipvlan { Attachment::Ipvlan(link) } else { Attachment::Macvlan(link) };
    Ok((attachment, Some(subnet)))
}

/// The generator's configuration from the command line.
pub fn generator_config(args: &GenerateArgs) -> anyhow::Result<GeneratorConfig> {
    let (dmz_attachment, dmz_subnet) = dmz_attachment(args)?;
    Ok(GeneratorConfig {
        dmz_attachment,
        dmz_subnet,
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
        lures: args.lures,
    })
}

#[async_trait]
impl Backend for Local {
    async fn services(&self) -> anyhow::Result<ServiceList> {
        Ok(ServiceList::catalogue())
    }

    async fn archetypes(&self) -> anyhow::Result<ArchetypeList> {
        Ok(ArchetypeList::catalogue())
    }

    async fn list(&self, status: Option<&str>) -> anyhow::Result<TopologyPage> {
        let status = status.map(parse_status).transpose()?;
        let page = self.store.list_topologies(&ListFilter { status, limit: Some(LIST_LIMIT), offset: 0 }).await?;
        Ok(TopologyPage {
            total: page.total,
            limit: LIST_LIMIT,
            offset: 0,
            data: page.items.iter().map(TopologySummary::from).collect(),
        })
    }

    async fn show(&self, key: &str) -> anyhow::Result<TopologyDetail> {
        let id = self.resolve(key).await?;
        Ok(TopologyDetail::from(&*self.store.topology(id).await?))
    }

    async fn generate(&self, args: &GenerateArgs) -> anyhow::Result<TopologySummary> {
        let name = parse_name(&args.name)?;
        let config = generator_config(args)?;
        eprintln!("generating {name} (seed {})...", config.seed);
        let topology = self.engine(false).await?.generate(name, config).await?;
        Ok(TopologySummary::from(&topology.header))
    }

    async fn create(&self, document: TopologyDocument, source: &str) -> anyhow::Result<TopologySummary> {
        let topology = self.engine(false).await?.create(document, source).await?;
        Ok(TopologySummary::from(&topology.header))
    }

    async fn validate(&self, key: &str) -> anyhow::Result<ValidationReport> {
        let id = self.resolve(key).await?;
        Ok(ValidationReport::new(&self.engine(false).await?.validate(id).await?))
    }

    async fn export(&self, key: &str) -> anyhow::Result<TopologyDocument> {
        let id = self.resolve(key).await?;
        let topology = self.store.topology(id).await?;
        let header = &topology.header;
        let lures = decnet_domain::lures::density_of(&header.config_snapshot);
        Ok(from_design(&header.name, header.mode, header.target_host.as_deref(), lures, &topology.design))
    }

    async fn delete(&self, key: &str) -> anyhow::Result<uuid::Uuid> {
        let id = self.resolve(key).await?;
        self.engine(false).await?.delete(id).await?;
        Ok(id.0)
    }

    async fn mutations(&self, key: &str, state: Option<&str>) -> anyhow::Result<Vec<MutationRow>> {
        let id = self.resolve(key).await?;
        let state = state.map(parse_state).transpose()?;
        Ok(self.store.mutations(id, state).await?.iter().map(MutationRow::from).collect())
    }

    async fn lures(&self, key: &str) -> anyhow::Result<LureList> {
        let id = self.resolve(key).await?;
        let topology = self.store.topology(id).await?;
        let density = decnet_domain::lures::density_of(&topology.header.config_snapshot);
        Ok(LureList::new(id, &topology.design, density))
    }

    async fn placement(&self, key: &str) -> anyhow::Result<PlacementView> {
        let header = self.store.header_by_key(key).await?;
        let placement = self.engine(false).await?.placement(header.id).await?;
        Ok(PlacementView::new(&header, placement))
    }

    async fn set_placement(&self, key: &str, placement: PlacementRequest) -> anyhow::Result<PlacementView> {
        let header = self.store.header_by_key(key).await?;
        let stored = self.engine(false).await?.set_placement(header.id, &placement.into()).await?;
        Ok(PlacementView::new(&header, stored))
    }

    async fn history(&self, key: &str, limit: i64) -> anyhow::Result<Vec<StatusEventRow>> {
        let id = self.resolve(key).await?;
        let events = self.store.status_events(id, limit).await?;
        Ok(events.iter().map(|e| StatusEventRow::new(id, e)).collect())
    }

    async fn enqueue(
        &self,
        key: &str,
        op: &str,
        payload: &Value,
        expected_version: Option<i64>,
    ) -> anyhow::Result<Enqueued> {
        let id = self.resolve(key).await?;
        let (mutation, version) = self.engine(false).await?.enqueue(id, op, payload, expected_version).await?;
        Ok(Enqueued::new(&mutation, version))
    }

    async fn plan(&self, key: &str, op: &str, payload: &Value) -> anyhow::Result<PlanResult> {
        let id = self.resolve(key).await?;
        match self.engine(false).await?.plan_dry_run(id, op, payload).await {
            Ok(plan) => Ok(PlanResult::new(Ok(&plan))),
            Err(EngineError::Refused(refusal)) => Ok(PlanResult::new(Err(&refusal))),
            Err(other) => Err(other.into()),
        }
    }

    async fn deploy(&self, key: &str) -> anyhow::Result<TopologySummary> {
        let id = self.resolve(key).await?;
        let engine = self.engine(true).await?;
        let topology = self.store.topology(id).await?;
        eprintln!(
            "deploying {} ({} LANs, {} deckies) on the {} runtime...",
            topology.header.name,
            topology.design.lans.len(),
            topology.design.deckies.len(),
            engine.runtime().kind()
        );
        // Progress: one line per decky as it comes up (or fails), from the engine's events.
        let mut events = engine.bus().subscribe();
        let progress = tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                if event.topic.starts_with("decky.") && event.payload["topology_id"] == json!(id) {
                    let payload = &event.payload;
                    progress_line(
                        payload["decky"].as_str().unwrap_or("?"),
                        payload["state"].as_str().unwrap_or("?"),
                        payload["last_error"].as_str(),
                    );
                }
            }
        });
        let outcome = engine.deploy(id).await;
        progress.abort();
        Ok(TopologySummary::from(&outcome?))
    }

    async fn teardown(&self, key: &str) -> anyhow::Result<TopologySummary> {
        let id = self.resolve(key).await?;
        let header = self.engine(true).await?.teardown(id).await?;
        Ok(TopologySummary::from(&header))
    }

    async fn reap_orphans(&self) -> anyhow::Result<ReapReport> {
        let reaped = self.engine(true).await?.reap_orphans(None).await?;
        Ok(decnet_api::reap_report(&reaped))
    }

    async fn status(&self, args: &StatusArgs) -> anyhow::Result<DiskStatus> {
        let config = match &args.config {
            Some(path) => decnet_sinks::Config::load(path).map_err(|e| usage(e.to_string()))?,
            None => decnet_sinks::Config::default(),
        };
        let engine = Engine::new(
            self.store.clone(),
            Arc::new(MemoryRuntime::new()),
            Bus::default(),
            EngineConfig {
                events_max_age: std::time::Duration::from_secs(args.events_max_age_days * 86_400),
                events_max_rows: args.events_max_rows,
                ..EngineConfig::default()
            },
        );
        Ok(engine.disk_status(&config.sinks).await?.into())
    }

    async fn incidents(&self, args: &IncidentsArgs) -> anyhow::Result<IncidentList> {
        let topology_id = match &args.topology {
            Some(key) => Some(self.resolve(key).await?),
            None => None,
        };
        let min_severity = args.severity.as_deref().map(str::parse).transpose().map_err(usage)?;
        let filter = decnet_store::IncidentFilter { topology_id, min_severity, source_ip: None, limit: args.limit };
        let found = self.store.incidents(&filter).await?;
        Ok(IncidentList { incidents: found.into_iter().map(Into::into).collect() })
    }

    async fn attackers(&self, topology: Option<&str>) -> anyhow::Result<AttackerList> {
        let found = self.local_attackers(topology).await?;
        Ok(AttackerList { attackers: found.iter().map(|(t, a)| AttackerSummary::new(*t, a)).collect() })
    }

    async fn attacker(&self, id: &str, topology: Option<&str>) -> anyhow::Result<AttackerDetail> {
        let topology = match topology {
            Some(key) => Some(self.resolve(key).await?),
            None => None,
        };
        let (topology, attacker) = self.engine(false).await?.attacker(id, topology).await?;
        Ok(AttackerDetail::new(topology, &attacker))
    }

    async fn events(&self, args: &EventsArgs, after: Option<i64>, limit: i64) -> anyhow::Result<Vec<EventRow>> {
        let topology_id = match &args.topology {
            Some(key) => Some(self.resolve(key).await?),
            None => None,
        };
        let filter = decnet_store::EventFilter {
            topology_id,
            decky: args.decky.clone(),
            service: args.service.clone(),
            source_ip: args.source_ip.clone(),
            kind: args.kind.clone(),
            since: None,
            after,
            limit,
        };
        Ok(self.store.events(&filter).await?.iter().map(EventRow::from).collect())
    }
}
