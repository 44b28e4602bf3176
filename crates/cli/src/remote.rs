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

use decnet_domain::ErrorKind;

use crate::UsageError;
use crate::args::{Command, ExportFormat, TopologyCommand};

/// An API error as the server described it, with the kind it said (or, from a server
/// that does not say, the kind its status stands for).
#[derive(Debug, thiserror::Error)]
#[error("{detail} (HTTP {status})")]
pub struct RemoteError {
    /// HTTP status.
    pub status: u16,
    /// The kind of failure.
    pub kind: ErrorKind,
    /// The API's machine code.
    pub code: String,
    /// The API's message.
    pub detail: String,
    /// Validation issues, when any.
    pub issues: Vec<Value>,
}

/// The kind a status stands for, when the body does not say.
fn kind_of_status(status: u16) -> ErrorKind {
    match status {
        400 => ErrorKind::BadRequest,
        401 => ErrorKind::Unauthenticated,
        403 => ErrorKind::Forbidden,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        413 => ErrorKind::TooLarge,
        415 => ErrorKind::UnsupportedMediaType,
        422 => ErrorKind::Refused,
        429 => ErrorKind::RateLimited,
        503 => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
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

    /// A GET of `path`.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, path, None).await
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
        Err(self.failure(status, &value))
    }

    /// The error of a failed answer with body `value`.
    fn failure(&self, status: StatusCode, value: &Value) -> anyhow::Error {
        let mut detail = value["detail"].as_str().unwrap_or("request failed").to_owned();
        if status == StatusCode::UNAUTHORIZED {
            detail.push_str(&format!("; log in with: decnet login --server {}", self.base));
        }
        RemoteError {
            status: status.as_u16(),
            kind: value["kind"].as_str().and_then(ErrorKind::parse).unwrap_or_else(|| kind_of_status(status.as_u16())),
            code: value["error"].as_str().unwrap_or("http").to_owned(),
            detail,
            issues: value["issues"].as_array().cloned().unwrap_or_default(),
        }
        .into()
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

/// Percent-encodes a path segment or query value.
pub fn encode(segment: &str) -> String {
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
                let path = format!("{topologies}/{}", encode(topology));
                return follow(remote, &path, "deploy", &["active", "degraded", "failed"], json_output).await;
            }
            TopologyCommand::Teardown { topology } => {
                let path = format!("{topologies}/{}", encode(topology));
                return follow(remote, &path, "teardown", &["torn_down", "failed"], json_output).await;
            }
            TopologyCommand::Create { from } => {
                let (document, _) = crate::commands::read_document(from)?;
                (Method::POST, format!("{topologies}/import"), Some(serde_json::to_value(document)?))
            }
            TopologyCommand::Validate { topology } => {
                let report =
                    remote.call(Method::GET, &format!("{topologies}/{}/validate", encode(topology)), None).await?;
                if json_output {
                    println!("{report}");
                } else if report["issues"].as_array().is_none_or(Vec::is_empty) {
                    println!("valid: no issues");
                } else {
                    for issue in report["issues"].as_array().into_iter().flatten() {
                        let text = |k: &str| issue[k].as_str().unwrap_or("").to_owned();
                        println!("{:7} {}: {}", text("severity"), text("code"), text("message"));
                    }
                }
                return Ok(if report["valid"] == true {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(crate::exit::REFUSED)
                });
            }
            TopologyCommand::Export { topology, format } => {
                let path = format!("{topologies}/{}/export", encode(topology));
                let text = match format {
                    ExportFormat::Json => serde_json::to_string_pretty(&remote.call(Method::GET, &path, None).await?)?,
                    ExportFormat::Yaml => {
                        let document: decnet_domain::document::TopologyDocument =
                            serde_json::from_value(remote.call(Method::GET, &path, None).await?)
                                .context("the server's export is not a topology document")?;
                        serde_saphyr::to_string(&document).context("encoding the export")?
                    }
                    ExportFormat::Compose => {
                        return Err(UsageError(
                            "--format compose needs the decoy image, so it runs where the database is".into(),
                        )
                        .into());
                    }
                };
                println!("{}", text.trim_end());
                return Ok(ExitCode::SUCCESS);
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
        },
        Command::Events(args) => {
            return crate::events::run(crate::events::Source::Server(remote), args, json_output).await;
        }
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

/// Starts a deploy or teardown and follows the topology's event stream until its status
/// is one of `done`, printing each decky's progress.
async fn follow(
    remote: &Remote,
    path: &str,
    action: &str,
    done: &[&str],
    json_output: bool,
) -> anyhow::Result<ExitCode> {
    use futures_util::StreamExt as _;
    // Subscribe first, so no progress falls between the request and the stream.
    let mut request = remote.http.get(format!("{}{path}/events", remote.base));
    if let Some(token) = &remote.token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.with_context(|| format!("cannot reach {}", remote.base))?;
    if !response.status().is_success() {
        let status = response.status();
        let value = response.json::<Value>().await.unwrap_or(Value::Null);
        return Err(remote.failure(status, &value));
    }
    let started = remote.call(Method::POST, &format!("{path}/{action}"), None).await?;
    if !json_output {
        eprintln!(
            "{action} of {} accepted; following its progress (Ctrl-C stops watching, not the {action})",
            started["name"]
        );
    }
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut status = String::new();
    while let Some(chunk) = body.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk.context("the event stream broke")?));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data:")) else { continue };
            let Ok(event) = serde_json::from_str::<Value>(data.trim()) else { continue };
            match event["kind"].as_str() {
                Some("decky.state") if !json_output => {
                    let payload = &event["payload"];
                    let error = payload["last_error"].as_str().map(|e| format!(" ({e})")).unwrap_or_default();
                    eprintln!(
                        "  {:<24} {}{error}",
                        payload["decky"].as_str().unwrap_or("?"),
                        payload["state"].as_str().unwrap_or("?")
                    );
                }
                Some("topology.status") => {
                    status = event["payload"]["to"].as_str().unwrap_or_default().to_owned();
                    if !json_output {
                        eprintln!("status: {status}");
                    }
                    if done.contains(&status.as_str()) {
                        let summary = json!({ "topology": started["name"], "status": status });
                        if json_output {
                            println!("{summary}");
                        } else {
                            println!("{} {status}", started["name"].as_str().unwrap_or("topology"));
                        }
                        return Ok(if status == "failed" {
                            ExitCode::from(crate::exit::INTERNAL)
                        } else {
                            ExitCode::SUCCESS
                        });
                    }
                }
                _ => {}
            }
        }
    }
    anyhow::bail!("the event stream ended before the {action} finished (last status: {status:?})")
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
