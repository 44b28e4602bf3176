//! `--server`: the same commands over a running `decnet serve`'s HTTP API instead of the
//! database, and `decnet login`, which stores a token per server.
//!
//! Answers are printed as the API gives them (pretty JSON; compact with `--json`), except
//! `topology list`, which keeps its table. HTTP errors map to the documented exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::UsageError;
use crate::args::{Command, TopologyCommand};

/// An API error as the server described it; its exit code follows the status.
#[derive(Debug, thiserror::Error)]
#[error("{detail} (HTTP {status})")]
pub struct RemoteError {
    /// HTTP status.
    pub status: u16,
    /// The API's machine code.
    pub code: String,
    /// The API's message.
    pub detail: String,
    /// Validation issues, when any.
    pub issues: Vec<Value>,
}

impl RemoteError {
    /// The documented exit code of this failure.
    pub fn exit_code(&self) -> u8 {
        match self.status {
            404 => 5,
            409 => 4,
            400 | 413 | 422 => 3,
            _ => 1,
        }
    }
}

/// Tokens saved by `decnet login`, one per server.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Credentials {
    tokens: std::collections::BTreeMap<String, String>,
}

fn credentials_path() -> PathBuf {
    dirs::config_dir().unwrap_or_else(std::env::temp_dir).join("decnet").join("credentials.json")
}

fn load_credentials() -> Credentials {
    std::fs::read(credentials_path()).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default()
}

fn normalise(server: &str) -> String {
    server.trim_end_matches('/').to_owned()
}

/// An API client.
pub struct Remote {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Remote {
    /// A client of `server` with `token`, else the token `decnet login` stored for it.
    pub fn new(server: &str, token: Option<String>) -> anyhow::Result<Self> {
        let base = normalise(server);
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(UsageError(format!("--server {server}: expected http://HOST:PORT")).into());
        }
        let token = token.or_else(|| load_credentials().tokens.get(&base).cloned());
        Ok(Self { base, token, http: reqwest::Client::new() })
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| format!("cannot reach {}", self.base))?;
        let status = response.status();
        let bytes = response.bytes().await.with_context(|| format!("reading the answer of {}", self.base))?;
        let value: Value =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        if status.is_success() {
            return Ok(value);
        }
        let mut detail = value["detail"].as_str().unwrap_or("request failed").to_owned();
        if status == StatusCode::UNAUTHORIZED {
            detail.push_str(&format!("; log in with: decnet login --server {}", self.base));
        }
        Err(RemoteError {
            status: status.as_u16(),
            code: value["error"].as_str().unwrap_or("http").to_owned(),
            detail,
            issues: value["issues"].as_array().cloned().unwrap_or_default(),
        }
        .into())
    }
}

/// `decnet login`: asks for a token and stores it for `server`.
pub async fn login(server: &str, username: &str, password: &str, json_output: bool) -> anyhow::Result<ExitCode> {
    let remote = Remote::new(server, None)?;
    let answer = remote
        .call(Method::POST, "/api/v1/auth/login", Some(json!({ "username": username, "password": password })))
        .await?;
    let token = answer["access_token"].as_str().context("the server answered without a token")?;
    let mut credentials = load_credentials();
    credentials.tokens.insert(remote.base.clone(), token.to_owned());
    let path = credentials_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_private(&path, &serde_json::to_vec_pretty(&credentials)?)?;
    if json_output {
        println!(
            "{}",
            json!({ "server": remote.base, "username": username, "role": answer["role"], "saved_to": path })
        );
    } else {
        println!("logged in to {} as {username} ({}); token saved to {}", remote.base, answer["role"], path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a file only its owner can read (it holds bearer tokens).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Runs `command` against the server; the exit code, or an error.
pub async fn run(remote: &Remote, command: &Command, json_output: bool) -> anyhow::Result<ExitCode> {
    let topologies = "/api/v1/topologies";
    let (method, path, body) = match command {
        Command::Services => (Method::GET, format!("{topologies}/services"), None),
        Command::Archetypes => (Method::GET, format!("{topologies}/archetypes"), None),
        Command::ReapOrphans => (Method::POST, format!("{topologies}/reap-orphans"), None),
        Command::Topology(command) => match command {
            TopologyCommand::List { status } => {
                let query = status.as_deref().map(|s| format!("&status={}", encode(s))).unwrap_or_default();
                let page = remote.call(Method::GET, &format!("{topologies}?limit=500{query}"), None).await?;
                print_list(&page, json_output);
                return Ok(ExitCode::SUCCESS);
            }
            TopologyCommand::Show { topology } => (Method::GET, format!("{topologies}/{}", encode(topology)), None),
            TopologyCommand::Deploy { topology } => {
                (Method::POST, format!("{topologies}/{}/deploy", encode(topology)), None)
            }
            TopologyCommand::Teardown { topology } => {
                (Method::POST, format!("{topologies}/{}/teardown", encode(topology)), None)
            }
            TopologyCommand::Delete { topology } => {
                (Method::DELETE, format!("{topologies}/{}", encode(topology)), None)
            }
            TopologyCommand::Mutations { topology, state } => {
                let query = state.as_deref().map(|s| format!("?state={}", encode(s))).unwrap_or_default();
                (Method::GET, format!("{topologies}/{}/mutations{query}", encode(topology)), None)
            }
            TopologyCommand::History { topology, limit } => {
                (Method::GET, format!("{topologies}/{}/status-events?limit={limit}", encode(topology)), None)
            }
            TopologyCommand::Mutate { topology, op, payload, expected_version, dry_run } => {
                let payload: Value =
                    serde_json::from_str(payload).map_err(|e| UsageError(format!("--payload is not JSON: {e}")))?;
                let suffix = if *dry_run { "mutations:plan" } else { "mutations" };
                let body = json!({ "op": op, "payload": payload, "expected_version": expected_version });
                (Method::POST, format!("{topologies}/{}/{suffix}", encode(topology)), Some(body))
            }
            TopologyCommand::Generate(args) => {
                let body = json!({
                    "name": args.name,
                    "depth": args.depth,
                    "branching_factor": args.branching,
                    "deckies_per_lan_min": args.deckies_per_lan.0,
                    "deckies_per_lan_max": args.deckies_per_lan.1,
                    "bridge_forward_probability": args.bridge_forward_p,
                    "cross_edge_probability": args.cross_edge_p,
                    "services_explicit": args.services,
                    "seed": args.seed,
                });
                (Method::POST, topologies.to_owned(), Some(body))
            }
            other => {
                return Err(UsageError(format!(
                    "{} is not available with --server yet; run it where the database is",
                    command_name(other)
                ))
                .into());
            }
        },
        Command::Serve(_) | Command::Engine(_) | Command::Login(_) => {
            return Err(UsageError("this command does not take --server".into()).into());
        }
    };
    let answer = remote.call(method, &path, body).await?;
    if json_output {
        println!("{answer}");
    } else if !answer.is_null() {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn command_name(command: &TopologyCommand) -> &'static str {
    match command {
        TopologyCommand::Create { .. } => "topology create",
        TopologyCommand::Validate { .. } => "topology validate",
        TopologyCommand::Export { .. } => "topology export",
        _ => "this command",
    }
}

fn print_list(page: &Value, json_output: bool) {
    if json_output {
        println!("{page}");
        return;
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING).set_header(["NAME", "STATUS", "VERSION", "CREATED", "ID"]);
    for row in page["data"].as_array().into_iter().flatten() {
        let text = |key: &str| row[key].as_str().map_or_else(|| row[key].to_string(), str::to_owned);
        table.add_row([text("name"), text("status"), text("version"), text("created_at"), text("id")]);
    }
    println!("{table}");
}
