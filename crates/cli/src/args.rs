//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An embedded SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database, by URL (the password, if any, is in it).
    Postgres(String),
}

impl Database {
    /// A PostgreSQL URL (`postgres://` or `postgresql://`), else a SQLite path
    /// (`sqlite://` is accepted before the path).
    pub fn parse(text: &str) -> Result<Database, String> {
        if text.trim().is_empty() {
            return Err("empty database location".into());
        }
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(Database::Postgres(text.to_owned()));
        }
        if lower.contains("://") && !lower.starts_with("sqlite://") {
            let scheme = text.split("://").next().unwrap_or_default();
            return Err(format!("unknown database scheme {scheme:?}: use a SQLite file path or a postgres:// URL"));
        }
        Ok(Database::Sqlite(PathBuf::from(text.strip_prefix("sqlite://").unwrap_or(text))))
    }
}

/// DECNET: design, deploy and live-edit deception networks.
#[derive(Debug, Parser)]
#[command(name = "decnet", version, about, after_help = crate::exit::help())]
pub struct Cli {
    /// The database: a SQLite file (the embedded default), or a PostgreSQL URL
    /// (`postgres://user:password@host/db`, or `postgres:///db?host=/run/postgresql`) that
    /// several `decnet serve` and `decnet engine run` replicas share. Without it,
    /// `DATABASE_URL` is used when set, else ~/.local/share/decnet/decnet.db.
    #[arg(long, global = true, env = "DECNET_DB", value_name = "PATH|URL", value_parser = Database::parse)]
    pub db: Option<Database>,

    /// Container runtime: `docker` runs real containers (the daemon must answer);
    /// `swarm` spreads deckies over a Docker Swarm's nodes (see --swarm-manager);
    /// `memory` simulates them in-process.
    #[arg(long, global = true, env = "DECNET_RUNTIME", value_enum, default_value_t = RuntimeKind::Docker)]
    pub runtime: RuntimeKind,

    /// The swarm (with `--runtime swarm`).
    #[command(flatten)]
    pub swarm: SwarmArgs,

    /// A statically linked decoy binary for the Docker runtime's image
    /// (`scripts/build-decoy.sh` prints its path); default: the one built into `decnet`.
    /// A dynamically linked binary is refused before anything is created.
    #[arg(long, global = true, env = "DECNET_DECOY_BIN", value_name = "PATH")]
    pub decoy_bin: Option<PathBuf>,

    /// Talk to a running `decnet serve` at this URL instead of opening the database.
    #[arg(long, global = true, env = "DECNET_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// Bearer token for --server (default: the one `decnet login` saved for that server).
    #[arg(long, global = true, env = "DECNET_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<String>,

    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Runtime implementations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKind {
    /// In-process simulation.
    Memory,
    /// The Docker Engine.
    Docker,
    /// Docker Swarm: LANs are overlay networks, deckies are placed on the swarm's nodes.
    Swarm,
}

/// Where the swarm is and how deckies are placed on it (`--runtime swarm`).
#[derive(Debug, Clone, Args)]
pub struct SwarmArgs {
    /// The swarm manager's Engine API: `unix:///PATH` or `tcp://HOST:PORT` (TLS). Every
    /// node's own Engine API is the `decnet.engine` label of the node
    /// (`docker node update --label-add decnet.engine=tcp://HOST:2376 NODE`), else
    /// tcp://<node address>:2376.
    #[arg(
        long,
        global = true,
        env = "DECNET_SWARM_MANAGER",
        value_name = "URL",
        default_value = "unix:///var/run/docker.sock"
    )]
    pub swarm_manager: String,
    /// Directory with ca.pem, cert.pem and key.pem for tcp:// Engine APIs.
    #[arg(long, global = true, env = "DECNET_SWARM_TLS", value_name = "DIR")]
    pub swarm_tls: Option<PathBuf>,
    /// Where new deckies of topologies that set no policy go (`topology place`): `spread`
    /// (the node with the fewest; deckies of a lost node are re-created on the others) or
    /// `pack` (the first ready node).
    #[arg(long, global = true, env = "DECNET_PLACEMENT", value_enum, default_value_t = PlacementPolicy::Spread)]
    pub placement: PlacementPolicy,
}

/// `NAME=NODE`, both non-empty.
fn parse_pin(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, node)) if !name.is_empty() && !node.is_empty() => Ok((name.to_owned(), node.to_owned())),
        _ => Err(format!("{text:?}: expected NAME=NODE")),
    }
}

/// `--placement`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlacementPolicy {
    /// The node with the fewest deckies.
    Spread,
    /// The first ready node.
    Pack,
}

impl From<PlacementPolicy> for decnet_domain::placement::Policy {
    fn from(policy: PlacementPolicy) -> Self {
        match policy {
            PlacementPolicy::Spread => Self::Spread,
            PlacementPolicy::Pack => Self::Pack,
        }
    }
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, inspect, deploy and edit topologies.
    #[command(subcommand)]
    Topology(TopologyCommand),
    /// List the decoy services.
    Services,
    /// List the decky archetypes.
    Archetypes,
    /// Serve the HTTP API and run the engine (reconciler, healer) in one process.
    ///
    /// At first start it creates the user `admin` with the password in
    /// DECNET_ADMIN_PASSWORD or, when that is unset, a generated one printed once.
    Serve(ServeArgs),
    /// Log in to a running server (--server) and save the token for later commands.
    Login(LoginArgs),
    /// Run the engine.
    #[command(subcommand)]
    Engine(EngineCommand),
    /// Remove labelled containers and networks whose topology no longer exists.
    ReapOrphans,
    /// The swarm's nodes (`--runtime swarm`).
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Show recorded events (what attackers did, and the engine's own), oldest first.
    Events(EventsArgs),
    /// List the attackers seen in the mazes, or show one's path (`attackers show ID`).
    Attackers(AttackersArgs),
    /// List the open incidents: what the alert rules made of attackers' actions (a login
    /// that worked, a lure used, a pivot, a burst of guesses, ...), latest first.
    Incidents(IncidentsArgs),
    /// Show what the event log, the sinks' spools and their files use on disk, against
    /// their limits.
    Status(StatusArgs),
}

/// `decnet status` (here, on the database; with --server, the server's own view).
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The configuration file whose sinks to show (as `serve --config`).
    #[arg(long, env = "DECNET_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Days events are kept (as `serve`).
    #[arg(long, env = "DECNET_EVENTS_MAX_AGE_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub events_max_age_days: u64,
    /// Most events kept (as `serve`).
    #[arg(long, env = "DECNET_EVENTS_MAX_ROWS", default_value_t = 5_000_000,
          value_parser = clap::value_parser!(i64).range(1000..))]
    pub events_max_rows: i64,
}

/// `decnet incidents`.
#[derive(Debug, Args)]
pub struct IncidentsArgs {
    /// Only this topology's (id or name).
    #[arg(long)]
    pub topology: Option<String>,
    /// Only at least this severe.
    #[arg(long, value_parser = ["low", "medium", "high", "critical"])]
    pub severity: Option<String>,
    /// How many to show.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=1000))]
    pub limit: i64,
}

/// `decnet cluster …`.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The swarm's nodes: state, Engine API, and the deckies each runs.
    Nodes,
}

/// `decnet attackers`.
#[derive(Debug, Args)]
pub struct AttackersArgs {
    /// Only this topology's (id or name).
    #[arg(long, global = true)]
    pub topology: Option<String>,
    /// Show one attacker instead of listing them.
    #[command(subcommand)]
    pub action: Option<AttackersAction>,
}

/// `decnet attackers show`.
#[derive(Debug, Subcommand)]
pub enum AttackersAction {
    /// One attacker's path, hop by hop, drawn as text.
    Show {
        /// The attacker's id: its outside source address.
        id: String,
    },
}

/// `decnet events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only this topology's (id or name).
    #[arg(long)]
    pub topology: Option<String>,
    /// Only this decky's.
    #[arg(long)]
    pub decky: Option<String>,
    /// Only this service's.
    #[arg(long)]
    pub service: Option<String>,
    /// Only this event type (e.g. auth_attempt, command, mutation.applied).
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Only from this source address.
    #[arg(long)]
    pub source_ip: Option<String>,
    /// How many of the most recent to show first.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1000))]
    pub limit: i64,
    /// Keep printing new events as they are recorded (Ctrl-C stops).
    #[arg(long, short)]
    pub follow: bool,
}

/// `decnet login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// User name.
    #[arg(long, default_value = "admin")]
    pub username: String,
    /// Read the password from the first line of standard input instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `decnet serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "DECNET_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Seconds an access token stays valid.
    #[arg(long, env = "DECNET_TOKEN_TTL", default_value_t = 43_200,
          value_parser = clap::value_parser!(u64).range(60..=2_592_000))]
    pub token_ttl: u64,
    /// Seconds between full passes that heal degraded topologies.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub tick: u64,
    /// Milliseconds between checks for mutations queued by other processes.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub poll_ms: u64,
    /// Days events are kept (older ones are deleted).
    #[arg(long, env = "DECNET_EVENTS_MAX_AGE_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub events_max_age_days: u64,
    /// Most events kept (the oldest go first).
    #[arg(long, env = "DECNET_EVENTS_MAX_ROWS", default_value_t = 5_000_000,
          value_parser = clap::value_parser!(i64).range(1000..))]
    pub events_max_rows: i64,
    /// The configuration file (YAML or JSON): where events go besides the store (`sinks`,
    /// see docs/operations.md). Checked whole at start; a bad key stops it with its name.
    #[arg(long, env = "DECNET_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `decnet engine …`.
#[derive(Debug, Subcommand)]
pub enum EngineCommand {
    /// Run the reconciler: apply queued mutations and heal deployed topologies.
    Run {
        /// Apply everything queued, then exit.
        #[arg(long)]
        once: bool,
        /// Seconds between full passes that heal degraded topologies.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        tick: u64,
        /// Milliseconds between checks for mutations queued by other processes (with
        /// PostgreSQL, enqueues are also announced at once; this is the fallback).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
        poll_ms: u64,
        /// Seconds a claim or a topology lease of this engine lasts unrenewed: when this
        /// engine dies, another takes its work over after at most this long.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3_600))]
        lease: u64,
        /// Most mutations of one topology claimed and committed together.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1_000))]
        batch: u64,
        /// The configuration file (as `serve --config`): this engine also delivers its
        /// sinks (with replicas, one engine per sink at a time).
        #[arg(long, env = "DECNET_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// `decnet topology …`.
#[derive(Debug, Subcommand)]
pub enum TopologyCommand {
    /// Generate a random topology (stored as pending).
    Generate(GenerateArgs),
    /// Create a topology from a JSON or YAML document.
    Create {
        /// The document (`-` for standard input).
        #[arg(long = "from", value_name = "FILE")]
        from: PathBuf,
    },
    /// List topologies, newest first.
    List {
        /// Only topologies in this status.
        #[arg(long)]
        status: Option<String>,
    },
    /// Show a topology's LANs and deckies.
    Show {
        /// Topology id or name.
        topology: String,
    },
    /// Run every validation rule; exits 3 when there are errors.
    Validate {
        /// Topology id or name.
        topology: String,
    },
    /// Deploy a pending topology.
    Deploy {
        /// Topology id or name.
        topology: String,
    },
    /// Remove a topology's networks and containers (retry if interrupted).
    Teardown {
        /// Topology id or name.
        topology: String,
    },
    /// Delete a pending, failed or torn-down topology.
    Delete {
        /// Topology id or name.
        topology: String,
    },
    /// Print a topology's design (names, subnets, IPs, edges, services).
    Export {
        /// Topology id or name.
        topology: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
    },
    /// Queue a live change on an active or degraded topology.
    Mutate {
        /// Topology id or name.
        topology: String,
        /// add_lan, remove_lan, add_decky, attach_decky, detach_decky, remove_decky, update_decky, update_lan.
        op: String,
        /// The op's payload as a JSON object.
        #[arg(long, default_value = "{}")]
        payload: String,
        /// Refuse (exit 4) unless the topology is at this version.
        #[arg(long)]
        expected_version: Option<i64>,
        /// Only show what the mutation would change (or why it would be refused).
        #[arg(long)]
        dry_run: bool,
    },
    /// List a topology's queued and finished mutations, newest first.
    Mutations {
        /// Topology id or name.
        topology: String,
        /// Only mutations in this state (pending, applying, applied, failed).
        #[arg(long)]
        state: Option<String>,
    },
    /// Show a topology's lures: the breadcrumbs on its deckies, where each leads and the
    /// login it carries.
    Lures {
        /// Topology id or name.
        topology: String,
    },
    /// Show where a topology's deckies run on a swarm: its policy and pins.
    Placement {
        /// Topology id or name.
        topology: String,
    },
    /// Replace a topology's placement on a swarm, whole (what is not given is cleared). It
    /// applies to deckies placed from then on: new ones, and those re-created after their
    /// node is lost; running deckies stay where they are.
    Place {
        /// Topology id or name.
        topology: String,
        /// Where its unpinned deckies go (default: the engine's --placement).
        #[arg(long, value_enum)]
        policy: Option<PlacementPolicy>,
        /// Pin a decky to a swarm node (id or host name); repeatable. A pinned decky waits
        /// for its node rather than move when the node is lost.
        #[arg(long = "pin", value_name = "DECKY=NODE", value_parser = parse_pin)]
        pins: Vec<(String, String)>,
        /// Pin the deckies whose home LAN this is (those not pinned themselves); repeatable.
        #[arg(long = "pin-lan", value_name = "LAN=NODE", value_parser = parse_pin)]
        lan_pins: Vec<(String, String)>,
    },
    /// Show a topology's status changes, newest first.
    History {
        /// Topology id or name.
        topology: String,
        /// How many to show.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// JSON.
    Json,
    /// YAML.
    Yaml,
    /// An equivalent Docker Compose file (for people who want one; the engine never uses
    /// Compose). Its image is the decoy image `deploy` would build.
    Compose,
}

fn probability(text: &str) -> Result<f64, String> {
    let p: f64 = text.parse().map_err(|_| format!("{text:?} is not a number"))?;
    if (0.0..=1.0).contains(&p) { Ok(p) } else { Err(format!("{p} is not between 0 and 1")) }
}

fn range(text: &str) -> Result<(u32, u32), String> {
    let (min, max) = text.split_once('-').ok_or_else(|| format!("{text:?} is not MIN-MAX"))?;
    let parse = |s: &str| s.trim().parse::<u32>().map_err(|_| format!("{s:?} is not a whole number"));
    let (min, max) = (parse(min)?, parse(max)?);
    if min > 32 || !(1..=32).contains(&max) || min > max {
        return Err(format!("{text}: need 0 <= MIN <= MAX, 1 <= MAX <= 32"));
    }
    Ok((min, max))
}

/// `topology generate` flags.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Topology name (a-z, 0-9, '-', starting with a letter).
    #[arg(long)]
    pub name: String,
    /// Levels of LANs below the DMZ.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub depth: u32,
    /// Most child LANs per LAN.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub branching: u32,
    /// Deckies per internal LAN, MIN-MAX.
    #[arg(long, default_value = "1-3", value_parser = range)]
    pub deckies_per_lan: (u32, u32),
    /// Probability that a bridge decky routes between its LANs.
    #[arg(long, default_value_t = 1.0, value_parser = probability)]
    pub bridge_forward_p: f64,
    /// Probability of an extra cross edge per LAN.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub cross_edge_p: f64,
    /// Services for every decky (comma-separated); random 1-3 per decky when absent.
    #[arg(long, value_delimiter = ',')]
    pub services: Option<Vec<String>>,
    /// RNG seed; random (and recorded) when absent.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Base from which /24 subnets are allocated.
    #[arg(long, default_value = decnet_domain::alloc::DEFAULT_SUBNET_BASE)]
    pub subnet_base: ipnet::Ipv4Net,
    /// Do not make the DMZ decky a gateway (no host ports published).
    #[arg(long)]
    pub no_gateway: bool,
    /// How many lures (breadcrumbs into the maze) the deckies get: none, sparse or rich.
    #[arg(long, default_value = "sparse")]
    pub lures: decnet_domain::lures::Density,
    /// How the DMZ meets this host's network: bridge (behind the host, the gateway's ports
    /// published on it), or macvlan / ipvlan on --dmz-interface, where every DMZ decky is
    /// a host of that network with its own address (and with macvlan its own MAC).
    #[arg(long, value_enum, default_value_t = DmzMode::Bridge)]
    pub dmz: DmzMode,
    /// The host interface a macvlan/ipvlan DMZ sits on.
    #[arg(long, value_name = "IFACE")]
    pub dmz_interface: Option<String>,
    /// That network's subnet (the DMZ's).
    #[arg(long, value_name = "CIDR")]
    pub dmz_subnet: Option<ipnet::Ipv4Net>,
    /// That network's router.
    #[arg(long, value_name = "IP")]
    pub dmz_gateway: Option<std::net::Ipv4Addr>,
    /// The addresses the maze may take there; its last usable one is this host's own
    /// (the shim through which the host reaches its deckies).
    #[arg(long, value_name = "CIDR")]
    pub dmz_range: Option<ipnet::Ipv4Net>,
}

/// How the DMZ meets the host's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DmzMode {
    /// A Docker bridge behind the host.
    Bridge,
    /// MACVLAN on a host interface.
    Macvlan,
    /// IPvlan L2 on a host interface (one MAC, e.g. Wi-Fi).
    Ipvlan,
}
