//! `--server`: the HTTP client of a running `decnet serve` (the commands themselves are
//! in [`crate::backend`]), and `decnet login`, which stores a token per server. HTTP
//! errors keep the server's error body and kind, so they exit with the documented codes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use decnet_domain::ErrorKind;

use crate::UsageError;

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
        501 => ErrorKind::NotImplemented,
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
        decnet_sinks::use_ring_for_tls();
        Ok(Self { base, token, http: reqwest::Client::new() })
    }

    /// A GET of `path`, decoded as `T`.
    pub async fn get_as<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send_as(Method::GET, path, None).await
    }

    /// A request whose answer is decoded as `T`.
    pub async fn send_as<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<T> {
        let value = self.send(method, path, body).await?;
        serde_json::from_value(value).with_context(|| format!("the answer of {path} is not what this client reads"))
    }

    /// Opens an event stream (`text/event-stream`) at `path`.
    pub async fn open_stream(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.with_context(|| format!("cannot reach {}", self.base))?;
        if !response.status().is_success() {
            let status = response.status();
            let value = response.json::<Value>().await.unwrap_or(Value::Null);
            return Err(self.failure(status, &value));
        }
        Ok(response)
    }

    /// A request; the answer's JSON (null when empty).
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
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
    let answer: decnet_api::wire::Token = remote
        .send_as(Method::POST, "/api/v1/auth/login", Some(json!({ "username": username, "password": password })))
        .await?;
    let token = answer.access_token.as_str();
    let mut credentials = load_credentials();
    credentials.tokens.insert(remote.base.clone(), token.to_owned());
    let path = credentials_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_private(&path, &serde_json::to_vec_pretty(&credentials)?)?;
    if json_output {
        println!("{}", json!({ "server": remote.base, "username": username, "role": answer.role, "saved_to": path }));
    } else {
        println!("logged in to {} as {username} ({}); token saved to {}", remote.base, answer.role, path.display());
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
