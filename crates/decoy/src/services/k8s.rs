//! `k8s` (6443): a Kubernetes API server as an unauthenticated client meets it, over TLS
//! with the API server's certificate (CN `kube-apiserver`, the in-cluster service names).
//!
//! What the default RBAC lets `system:anonymous` read is answered (`/version`, `/healthz`,
//! `/livez`, `/readyz`); everything else is the API server's 403 Status naming the verb,
//! resource and namespace asked for. A bearer token or basic credentials are an
//! `auth_attempt` and get 401. Requests for secrets, exec, attach, port-forward and writes
//! are also `command` events (the moves of a cluster takeover). Plain HTTP to the port gets
//! Go's "Client sent an HTTP request to an HTTPS server".

use serde_json::{Value, json};

use crate::config::Config;
use crate::event::{Fields, Kind, Secret};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End};
use crate::services::http::{self, Head, Incoming, Request};

/// The release the server reports (`/version`).
const GIT_VERSION: &str = "v1.28.2";
const GIT_COMMIT: &str = "89a4ea3e1e4ddd7f7572286090359983e0387b2f";
const BUILD_DATE: &str = "2023-09-13T09:29:07Z";
const GO_VERSION: &str = "go1.20.8";
/// Longest token kept in an event.
const MAX_TOKEN: usize = 512;

/// The k8s decoy.
pub struct K8s {
    tls: crate::tls::Acceptor,
}

impl K8s {
    /// The API server of `persona`.
    pub fn new(persona: &Persona, _config: &Config) -> Result<Self, crate::tls::TlsError> {
        let mut alt_names: Vec<String> =
            ["kubernetes", "kubernetes.default", "kubernetes.default.svc"].iter().map(|s| (*s).to_owned()).collect();
        alt_names.push("kubernetes.default.svc.cluster.local".into());
        alt_names.push(persona.hostname.clone());
        let subject = crate::tls::Subject { common_name: "kube-apiserver".into(), alt_names, valid_days: 365 };
        Ok(Self { tls: crate::tls::acceptor(persona, &subject, None, &[b"http/1.1"])? })
    }
}

/// What a request path asks of the API: verb, resource, namespace, name, subresource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiRequest {
    /// The RBAC verb (get, list, create, delete, ...).
    pub verb: String,
    /// The resource (`pods`), empty for a non-resource path.
    pub resource: String,
    /// The API group (`""` for the core group).
    pub group: String,
    /// The namespace, if any.
    pub namespace: Option<String>,
    /// The object's name, if any.
    pub name: Option<String>,
    /// The subresource (`exec`, `log`, ...), if any.
    pub subresource: Option<String>,
}

/// Reads `method path` as the API server's request-info resolver does.
pub fn api_request(method: &str, path: &str) -> ApiRequest {
    let path = path.split('?').next().unwrap_or("");
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).take(12).collect();
    let (group, rest): (String, &[&str]) = match parts.as_slice() {
        ["api", _version, rest @ ..] => (String::new(), rest),
        ["apis", group, _version, rest @ ..] => ((*group).to_owned(), rest),
        _ => return ApiRequest { verb: method.to_ascii_lowercase(), ..ApiRequest::default() },
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_owned()), rest),
        _ => (None, rest),
    };
    let (resource, name, subresource) = match rest {
        [] => (String::new(), None, None),
        [resource] => ((*resource).to_owned(), None, None),
        [resource, name] => ((*resource).to_owned(), Some((*name).to_owned()), None),
        [resource, name, sub, ..] => ((*resource).to_owned(), Some((*name).to_owned()), Some((*sub).to_owned())),
    };
    let verb = match (method, name.is_some()) {
        ("GET" | "HEAD", false) => "list",
        ("GET" | "HEAD", true) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", false) => "deletecollection",
        ("DELETE", true) => "delete",
        _ => "unknown",
    };
    ApiRequest { verb: verb.into(), resource, group, namespace, name, subresource }
}

/// The API server's Status object.
fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code
    })
}

/// The 403 the API server gives `system:anonymous` for `request` on `path`.
fn forbidden(request: &ApiRequest, path: &str) -> Value {
    let user = "User \"system:anonymous\"";
    let message = if request.resource.is_empty() {
        format!("forbidden: {user} cannot {} path \"{}\"", request.verb, path.split('?').next().unwrap_or(""))
    } else {
        let resource = match &request.subresource {
            Some(sub) => format!("{}/{sub}", request.resource),
            None => request.resource.clone(),
        };
        let scope = match &request.namespace {
            Some(ns) => format!(" in the namespace \"{ns}\""),
            None => " at the cluster scope".to_owned(),
        };
        let subject = match &request.name {
            Some(name) => format!("{} \"{name}\"", request.resource),
            None => request.resource.clone(),
        };
        format!(
            "{subject} is forbidden: {user} cannot {} resource \"{resource}\" in API group \"{}\"{scope}",
            request.verb, request.group
        )
    };
    let mut details = json!({});
    if !request.resource.is_empty() {
        details["kind"] = json!(request.resource);
        if let Some(name) = &request.name {
            details["name"] = json!(name);
        }
    }
    let mut value = status(403, "Forbidden", &message);
    value["details"] = details;
    value
}

/// Whether a request is a move worth its own `command` event.
fn notable(request: &ApiRequest) -> bool {
    request.resource == "secrets"
        || request.resource == "serviceaccounts"
        || matches!(request.subresource.as_deref(), Some("exec" | "attach" | "portforward" | "proxy"))
        || matches!(request.verb.as_str(), "create" | "update" | "patch" | "delete" | "deletecollection")
}

impl K8s {
    /// Status code and body for `head`.
    fn route(&self, head: &Head) -> (u16, String) {
        let path = head.path.split('?').next().unwrap_or("");
        match (head.method.as_str(), path) {
            ("GET", "/version" | "/version/") => {
                let version = json!({
                    "major": "1", "minor": "28", "gitVersion": GIT_VERSION, "gitCommit": GIT_COMMIT,
                    "gitTreeState": "clean", "buildDate": BUILD_DATE, "goVersion": GO_VERSION,
                    "compiler": "gc", "platform": "linux/amd64"
                });
                (200, serde_json::to_string_pretty(&version).unwrap_or_default())
            }
            ("GET", "/healthz" | "/livez" | "/readyz") => (200, "ok".into()),
            _ => {
                let request = api_request(&head.method, &head.path);
                (403, forbidden(&request, &head.path).to_string())
            }
        }
    }
}

/// An answer as the API server (Go's net/http) writes it.
fn response(head: &Head, code: u16, body: &str) -> Vec<u8> {
    // Random (version 4) UUIDs, as the API server's audit and flow-control ids are.
    let id = |mut bytes: [u8; 16]| {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let h: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
    };
    let content_type = if body == "ok" { "text/plain; charset=utf-8" } else { "application/json" };
    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT");
    let mut out = format!(
        "HTTP/1.1 {code} {}\r\nAudit-Id: {}\r\nCache-Control: no-cache, private\r\nContent-Type: {content_type}\r\n\
         X-Content-Type-Options: nosniff\r\nX-Kubernetes-Pf-Flowschema-Uid: {}\r\nX-Kubernetes-Pf-Prioritylevel-Uid: {}\r\n\
         Date: {date}\r\nContent-Length: {}\r\n\r\n",
        http::reason(code),
        id(crate::ntlm::random()),
        id(crate::ntlm::random()),
        id(crate::ntlm::random()),
        body.len()
    )
    .into_bytes();
    if head.method != "HEAD" {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

impl Decoy for K8s {
    fn name(&self) -> &'static str {
        "k8s"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        while conn.buffered().is_empty() {
            if let Err(end) = conn.fill().await {
                return end;
            }
        }
        if conn.buffered().first() != Some(&0x16) {
            // Go's TLS server answers a plain HTTP request so.
            conn.violation("plain HTTP to the TLS port").await;
            let _ =
                conn.write(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n").await;
            return End::Violation;
        }
        if let Err(end) = conn.start_tls(&self.tls).await {
            return end;
        }
        loop {
            let (head, close) = match http::next_request(conn).await {
                Ok(Incoming::Request(Request { head, close, .. })) => (head, close),
                Ok(Incoming::Refused(head, code)) => {
                    let body = status(code, "BadRequest", http::reason(code)).to_string();
                    let _ = conn.write(&response(&head, code, &body)).await;
                    return End::Done;
                }
                Ok(Incoming::Malformed) => return End::Violation,
                Err(end) => return end,
            };
            let (code, body) = match head.header_str("authorization") {
                Some(credentials) => {
                    let (scheme, token) = credentials.split_once(' ').unwrap_or(("", credentials.as_str()));
                    let token: String = token.trim().chars().take(MAX_TOKEN).collect();
                    let fields = Fields::default()
                        .principal(scheme.to_ascii_lowercase().as_bytes())
                        .secret(Secret::password(token.as_bytes()))
                        .detail("method", "authorization header")
                        .detail("outcome", "failure");
                    conn.log.record(Kind::AuthAttempt, fields).await;
                    (401, status(401, "Unauthorized", "Unauthorized").to_string())
                }
                None => self.route(&head),
            };
            let request = api_request(&head.method, &head.path);
            if notable(&request) {
                let mut fields = Fields::default()
                    .command(format!("{} {}", head.method, head.path))
                    .detail("verb", request.verb.as_str())
                    .detail("resource", request.resource.as_str());
                if let Some(ns) = &request.namespace {
                    fields = fields.detail("namespace", ns.as_str());
                }
                if let Some(sub) = &request.subresource {
                    fields = fields.detail("subresource", sub.as_str());
                }
                conn.log.record(Kind::Command, fields).await;
            }
            if conn.write(&response(&head, code, &body)).await.is_err() {
                return End::Io;
            }
            if close {
                return End::Done;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_verbs_resources_and_namespaces() {
        let r = api_request("GET", "/api/v1/namespaces/kube-system/secrets?limit=500");
        assert_eq!(
            (r.verb.as_str(), r.resource.as_str(), r.namespace.as_deref()),
            ("list", "secrets", Some("kube-system"))
        );
        let r = api_request("POST", "/api/v1/namespaces/default/pods/web-0/exec?command=id");
        assert_eq!(
            (r.verb.as_str(), r.name.as_deref(), r.subresource.as_deref()),
            ("create", Some("web-0"), Some("exec"))
        );
        let r = api_request("GET", "/apis/apps/v1/deployments");
        assert_eq!((r.group.as_str(), r.resource.as_str(), r.namespace), ("apps", "deployments", None));
        assert_eq!(api_request("GET", "/").resource, "");
        assert_eq!(api_request("GET", &"/x".repeat(10_000)).resource, "");
    }

    #[test]
    fn the_403_reads_as_the_api_servers() {
        let r = api_request("GET", "/api/v1/namespaces/kube-system/secrets");
        let message =
            forbidden(&r, "/api/v1/namespaces/kube-system/secrets")["message"].as_str().unwrap_or("").to_owned();
        assert_eq!(
            message,
            "secrets is forbidden: User \"system:anonymous\" cannot list resource \"secrets\" in API group \"\" in the namespace \"kube-system\""
        );
        let root = forbidden(&api_request("GET", "/"), "/");
        assert_eq!(root["message"], "forbidden: User \"system:anonymous\" cannot get path \"/\"");
    }
}
