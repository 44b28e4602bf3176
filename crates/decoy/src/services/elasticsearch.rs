//! `elasticsearch`: the REST API of a single-node Elasticsearch 7.x cluster without
//! security, the kind found open on the internet.
//!
//! The persona is a real release (version, build hash and date, Lucene version) picked per
//! decky; the node is named after the host. It answers the root banner, `_cat` (indices,
//! health, nodes), `_cluster/health`, `_nodes`, index mappings, `_count`, `_search` and
//! document reads over two small bait indices (customers, and users with bcrypt password
//! hashes), and the `_security` endpoints as a cluster without security does. Writes and
//! deletes are acknowledged and never applied. Every request is a `request` event (through
//! the http decoy's reader); searches, writes, deletes, security probes and scripts
//! (`script` in a query: the old Groovy/Painless RCE) are also `command` events naming the
//! action and the index.

use serde_json::{Value, json};

use crate::config::Config;
use crate::event::{Fields, Kind};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End};
use crate::services::http::{self, Head, Incoming, Request};

/// A real release: the numbers `GET /` prints.
#[derive(Debug, Clone, Copy)]
struct Release {
    number: &'static str,
    flavor: &'static str,
    hash: &'static str,
    date: &'static str,
    lucene: &'static str,
}

/// Releases before 7.14, which added the `X-elastic-product` header and, in the default
/// flavour, a security warning on every answer: the common open clusters.
const RELEASES: &[Release] = &[
    Release {
        number: "7.10.2",
        flavor: "oss",
        hash: "747e1cc71def077253878a59143c1f785afa92b9",
        date: "2021-01-13T00:42:12.435326Z",
        lucene: "8.7.0",
    },
    Release {
        number: "7.10.2",
        flavor: "default",
        hash: "747e1cc71def077253878a59143c1f785afa92b9",
        date: "2021-01-13T00:42:12.435326Z",
        lucene: "8.7.0",
    },
    Release {
        number: "7.9.3",
        flavor: "default",
        hash: "c4138e51121ef06a6404866cddc601906fe5c868",
        date: "2020-10-16T10:36:16.141335Z",
        lucene: "8.6.2",
    },
];

/// Longest script or query kept in an event.
const SCRIPT_EXCERPT: usize = 512;

/// The elasticsearch decoy.
#[derive(Debug)]
pub struct Elasticsearch {
    release: Release,
    build_type: &'static str,
    node: String,
    node_id: String,
    cluster: String,
    cluster_uuid: String,
    indices: Vec<Index>,
}

/// A bait index.
#[derive(Debug)]
struct Index {
    name: &'static str,
    uuid: String,
    docs: Vec<Value>,
    size_kb: f64,
}

/// A URL-safe base64 id of 22 characters (ES's UUIDs), from the persona.
fn es_uuid(persona: &Persona, purpose: &str) -> String {
    use base64::Engine as _;
    let key = persona.derive_key(purpose);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&key[..16])
}

/// A bcrypt-shaped hash (cost 10) of the bait user `user`.
fn bcrypt_like(persona: &Persona, user: &str) -> String {
    const ALPHABET: &[u8] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = persona.derive_key(&format!("es bcrypt {user}")).to_vec();
    bytes.extend_from_slice(&persona.derive_key(&format!("es bcrypt2 {user}")));
    let body: String = bytes
        .iter()
        .take(53)
        .map(|b| char::from(ALPHABET.get(usize::from(*b) % 64).copied().unwrap_or(b'.')))
        .collect();
    format!("$2a$10${body}")
}

impl Elasticsearch {
    /// The decoy for `persona` with `config` (no keys).
    pub fn new(persona: &Persona, _config: &Config) -> Self {
        let release =
            RELEASES.get(persona.derive("es release") as usize % RELEASES.len()).copied().unwrap_or(Release {
                number: "7.10.2",
                flavor: "oss",
                hash: "747e1cc71def077253878a59143c1f785afa92b9",
                date: "2021-01-13T00:42:12.435326Z",
                lucene: "8.7.0",
            });
        let build_type = match persona.distro.id {
            "debian" | "ubuntu" => "deb",
            "rocky" => "rpm",
            _ => "docker",
        };
        let domain = ["acme-retail.com", "northwind-shop.com", "contoso-store.net"]
            .get(persona.derive("es domain") as usize % 3)
            .copied()
            .unwrap_or("acme-retail.com");
        let first = ["james", "maria", "robert", "linda", "michael", "sarah", "david", "emma"];
        let last = ["smith", "garcia", "johnson", "brown", "miller", "davis", "wilson", "moore"];
        let person = |i: u64| {
            let n = persona.derive(&format!("es person {i}"));
            let f = first.get(n as usize % first.len()).copied().unwrap_or("james");
            let l = last.get((n >> 8) as usize % last.len()).copied().unwrap_or("smith");
            (f, l, n)
        };
        let customers: Vec<Value> = (1..=4u64)
            .map(|i| {
                let (f, l, n) = person(i);
                json!({
                    "_id": format!("{}", 1000 + i),
                    "customer_id": 1000 + i,
                    "first_name": capitalize(f),
                    "last_name": capitalize(l),
                    "email": format!("{f}.{l}{}@gmail.com", n % 90 + 10),
                    "phone": format!("+1-{}-555-{:04}", 200 + n % 700, n % 10_000),
                    "card_last4": format!("{:04}", (n >> 16) % 10_000),
                    "created_at": format!("2023-{:02}-{:02}T{:02}:14:09Z", n % 12 + 1, (n >> 4) % 28 + 1, (n >> 9) % 24),
                })
            })
            .collect();
        let users: Vec<Value> = ["admin", "svc_backup", "j.miller", "reporting"]
            .iter()
            .enumerate()
            .map(|(i, user)| {
                json!({
                    "_id": format!("{}", i + 1),
                    "username": user,
                    "email": format!("{user}@{domain}"),
                    "password_hash": bcrypt_like(persona, user),
                    "role": if i == 0 { "superuser" } else if i == 1 { "service" } else { "user" },
                    "active": true,
                })
            })
            .collect();
        let size = |purpose: &str| (persona.derive(purpose) % 400) as f64 / 10.0 + 8.0;
        Self {
            release,
            build_type,
            node: persona.hostname.clone(),
            node_id: es_uuid(persona, "es node id"),
            cluster: "elasticsearch".to_owned(),
            cluster_uuid: es_uuid(persona, "es cluster uuid"),
            indices: vec![
                Index {
                    name: "customers",
                    uuid: es_uuid(persona, "es idx customers"),
                    docs: customers,
                    size_kb: size("c"),
                },
                Index { name: "users", uuid: es_uuid(persona, "es idx users"), docs: users, size_kb: size("u") },
            ],
        }
    }

    fn banner(&self) -> Value {
        json!({
            "name": self.node,
            "cluster_name": self.cluster,
            "cluster_uuid": self.cluster_uuid,
            "version": {
                "number": self.release.number,
                "build_flavor": self.release.flavor,
                "build_type": self.build_type,
                "build_hash": self.release.hash,
                "build_date": self.release.date,
                "build_snapshot": false,
                "lucene_version": self.release.lucene,
                "minimum_wire_compatibility_version": "6.8.0",
                "minimum_index_compatibility_version": "6.0.0-beta1",
            },
            "tagline": "You Know, for Search",
        })
    }

    fn index(&self, name: &str) -> Option<&Index> {
        self.indices.iter().find(|i| i.name == name)
    }

    fn cluster_health(&self) -> Value {
        json!({
            "cluster_name": self.cluster, "status": "yellow", "timed_out": false, "number_of_nodes": 1,
            "number_of_data_nodes": 1, "active_primary_shards": self.indices.len(),
            "active_shards": self.indices.len(), "relocating_shards": 0, "initializing_shards": 0,
            "unassigned_shards": self.indices.len(), "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0, "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": 50.0,
        })
    }

    fn nodes(&self) -> Value {
        let mut nodes = serde_json::Map::new();
        nodes.insert(
            self.node_id.clone(),
            json!({
                "name": self.node, "transport_address": "127.0.0.1:9300", "host": "127.0.0.1", "ip": "127.0.0.1",
                "version": self.release.number, "build_flavor": self.release.flavor, "build_type": self.build_type,
                "build_hash": self.release.hash, "total_indexing_buffer": 53_687_091,
                "roles": ["data", "ingest", "master", "remote_cluster_client"],
                "os": {"name": "Linux", "arch": "amd64", "available_processors": 2},
                "jvm": {"version": "15.0.1", "vm_name": "OpenJDK 64-Bit Server VM", "mem": {"heap_max_in_bytes": 536_870_912}},
            }),
        );
        json!({"_nodes": {"total": 1, "successful": 1, "failed": 0}, "cluster_name": self.cluster, "nodes": nodes})
    }

    fn cat_indices(&self, verbose: bool) -> String {
        let mut out = String::new();
        if verbose {
            out.push_str("health status index     uuid                   pri rep docs.count docs.deleted store.size pri.store.size\n");
        }
        for index in &self.indices {
            let size = format!("{:.1}kb", index.size_kb);
            out.push_str(&format!(
                "yellow open   {:<9} {} 1   1   {:<10} 0            {:<10} {}\n",
                index.name,
                index.uuid,
                index.docs.len(),
                size,
                size
            ));
        }
        out
    }

    /// `_cat/indices?format=json`, as dump tools ask for it.
    fn cat_indices_json(&self) -> Value {
        let rows: Vec<Value> = self
            .indices
            .iter()
            .map(|index| {
                let size = format!("{:.1}kb", index.size_kb);
                json!({
                    "health": "yellow", "status": "open", "index": index.name, "uuid": index.uuid, "pri": "1",
                    "rep": "1", "docs.count": index.docs.len().to_string(), "docs.deleted": "0",
                    "store.size": size, "pri.store.size": size,
                })
            })
            .collect();
        Value::Array(rows)
    }

    fn hit(&self, index: &Index, doc: &Value) -> Value {
        let mut source = doc.clone();
        let id = source.get("_id").cloned().unwrap_or(Value::Null);
        if let Some(map) = source.as_object_mut() {
            map.remove("_id");
        }
        json!({"_index": index.name, "_type": "_doc", "_id": id, "_score": 1.0, "_source": source})
    }

    fn search(&self, targets: &[&Index]) -> Value {
        let hits: Vec<Value> = targets.iter().flat_map(|i| i.docs.iter().map(move |d| self.hit(i, d))).collect();
        json!({
            "took": 3, "timed_out": false,
            "_shards": {"total": targets.len(), "successful": targets.len(), "skipped": 0, "failed": 0},
            "hits": {"total": {"value": hits.len(), "relation": "eq"}, "max_score": 1.0, "hits": hits},
        })
    }

    /// The answer to one request: status, content type, body.
    fn route(&self, head: &Head, body: &[u8]) -> (u16, &'static str, String, Option<Action>) {
        let (path, query) = head.path.split_once('?').unwrap_or((head.path.as_str(), ""));
        let pretty = query.split('&').any(|p| p == "pretty" || p.starts_with("pretty="));
        let verbose = query.split('&').any(|p| p == "v" || p == "v=true");
        let method = head.method.as_str();
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let json_answer = |status: u16, value: Value, action: Option<Action>| {
            let text = if pretty { jackson_pretty(&value) + "\n" } else { value.to_string() };
            (status, JSON, text, action)
        };
        let text = |body: String| (200, TEXT, body, None);
        let has_script = contains_script(body);
        let script_action = |index: &str| {
            has_script.then(|| Action { action: "script", index: index.to_owned(), excerpt: excerpt(body) })
        };
        match (method, parts.as_slice()) {
            ("GET" | "HEAD", []) => (200, JSON, jackson_pretty(&self.banner()) + "\n", None),
            ("GET", ["_cat"]) => text("=^.^=\n/_cat/allocation\n/_cat/shards\n/_cat/master\n/_cat/nodes\n/_cat/indices\n/_cat/health\n/_cat/count\n".into()),
            ("GET", ["_cat", "indices", ..]) if query.split('&').any(|p| p == "format=json") => {
                json_answer(200, self.cat_indices_json(), None)
            }
            ("GET", ["_cat", "indices", ..]) => text(self.cat_indices(verbose)),
            ("GET", ["_cat", "health"]) => text(format!(
                "{}{} {} {} yellow 1 1 {n} {n} 0 0 {n} 0 - 50.0%\n",
                if verbose { "epoch      timestamp cluster       status node.total node.data shards pri relo init unassign pending_tasks max_task_wait_time active_shards_percent\n" } else { "" },
                chrono::Utc::now().timestamp(),
                chrono::Utc::now().format("%H:%M:%S"),
                self.cluster,
                n = self.indices.len()
            )),
            ("GET", ["_cat", "nodes"]) => text(format!("127.0.0.1 23 96 2 0.08 0.05 0.01 dimr * {}\n", self.node)),
            ("GET", ["_cluster", "health", ..]) => json_answer(200, self.cluster_health(), None),
            ("GET", ["_nodes", ..]) => json_answer(200, self.nodes(), None),
            (_, ["_security" | "_xpack", ..]) => {
                let action = Some(Action { action: "security_probe", index: String::new(), excerpt: excerpt(body) });
                if self.release.flavor == "oss" {
                    json_answer(400, no_handler(method, path), action)
                } else {
                    let reason = "Security must be explicitly enabled when using a [basic] license. Enable security by setting \
                                  [xpack.security.enabled] to [true] in the elasticsearch.yml file and restart the node.";
                    json_answer(500, error("exception", reason, None, 500), action)
                }
            }
            ("GET" | "POST", ["_search"]) | ("GET" | "POST", ["_all", "_search"]) => {
                let targets: Vec<&Index> = self.indices.iter().collect();
                let action = script_action("_all")
                    .or_else(|| Some(Action { action: "search", index: "_all".into(), excerpt: excerpt(body) }));
                json_answer(200, self.search(&targets), action)
            }
            ("GET" | "POST", [name, "_search"]) => match self.index(name) {
                Some(index) => {
                    let action = script_action(name)
                        .or_else(|| Some(Action { action: "search", index: (*name).into(), excerpt: excerpt(body) }));
                    json_answer(200, self.search(&[index]), action)
                }
                None => json_answer(404, not_found(name), script_action(name)),
            },
            ("GET", [name, "_count"]) => match self.index(name) {
                Some(index) => json_answer(
                    200,
                    json!({"count": index.docs.len(), "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0}}),
                    None,
                ),
                None => json_answer(404, not_found(name), None),
            },
            ("GET", [name, "_doc", id]) => match self.index(name) {
                Some(index) => match index.docs.iter().find(|d| d.get("_id").and_then(Value::as_str) == Some(*id)) {
                    Some(doc) => {
                        let mut hit = self.hit(index, doc);
                        if let Some(map) = hit.as_object_mut() {
                            map.remove("_score");
                            map.insert("_version".into(), json!(1));
                            map.insert("_seq_no".into(), json!(0));
                            map.insert("_primary_term".into(), json!(1));
                            map.insert("found".into(), json!(true));
                        }
                        json_answer(200, hit, None)
                    }
                    None => json_answer(
                        404,
                        json!({"_index": name, "_type": "_doc", "_id": id, "found": false}),
                        None,
                    ),
                },
                None => json_answer(404, not_found(name), None),
            },
            ("GET", [name]) if !name.starts_with('_') => match self.index(name) {
                Some(index) => {
                    let mut properties = serde_json::Map::new();
                    if let Some(Value::Object(first)) = index.docs.first() {
                        for (key, value) in first.iter().filter(|(k, _)| k.as_str() != "_id") {
                            let ty = match value {
                                Value::Number(_) => json!({"type": "long"}),
                                Value::Bool(_) => json!({"type": "boolean"}),
                                _ => json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}),
                            };
                            properties.insert(key.clone(), ty);
                        }
                    }
                    let mut answer = serde_json::Map::new();
                    answer.insert(
                        index.name.to_owned(),
                        json!({
                            "aliases": {}, "mappings": {"properties": properties},
                            "settings": {"index": {"number_of_shards": "1", "number_of_replicas": "1",
                                "uuid": index.uuid, "provided_name": index.name, "creation_date": "1698838449123",
                                "version": {"created": "7100299"}}},
                        }),
                    );
                    json_answer(200, Value::Object(answer), None)
                }
                None => json_answer(404, not_found(name), None),
            },
            ("DELETE", [name, ..]) => {
                let action = Some(Action { action: "delete", index: (*name).into(), excerpt: path.to_owned() });
                match parts.as_slice() {
                    [_] if self.index(name).is_some() || name.contains('*') || *name == "_all" => {
                        json_answer(200, json!({"acknowledged": true}), action)
                    }
                    [_] => json_answer(404, not_found(name), action),
                    [_, "_doc", id] => json_answer(200, write_result(name, id, "deleted"), action),
                    _ => json_answer(200, json!({"acknowledged": true}), action),
                }
            }
            ("PUT" | "POST", [name, rest @ ..]) if !name.starts_with('_') || rest.is_empty() => {
                let action = script_action(name)
                    .or_else(|| Some(Action { action: "write", index: (*name).into(), excerpt: excerpt(body) }));
                match rest {
                    [] if method == "PUT" => {
                        json_answer(200, json!({"acknowledged": true, "shards_acknowledged": true, "index": name}), action)
                    }
                    ["_doc" | "_create", id] => json_answer(201, write_result(name, id, "created"), action),
                    ["_doc"] => json_answer(201, write_result(name, &es_id(body), "created"), action),
                    ["_update", id] => json_answer(200, write_result(name, id, "updated"), action),
                    _ => json_answer(400, no_handler(method, path), action),
                }
            }
            ("POST", ["_bulk"]) => {
                let action = Some(Action { action: "write", index: "_bulk".into(), excerpt: excerpt(body) });
                json_answer(200, json!({"took": 4, "errors": false, "items": []}), action)
            }
            ("GET", [name, ..]) if !name.starts_with('_') => json_answer(404, not_found(name), None),
            _ => json_answer(400, no_handler(method, path), script_action("")),
        }
    }
}

/// An attacker's move beyond reading: what it was, on which index, an excerpt of it.
#[derive(Debug, PartialEq, Eq)]
struct Action {
    action: &'static str,
    index: String,
    excerpt: String,
}

const JSON: &str = "application/json; charset=UTF-8";
const TEXT: &str = "text/plain; charset=UTF-8";

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

fn excerpt(body: &[u8]) -> String {
    crate::event::printable(&body[..body.len().min(SCRIPT_EXCERPT)])
}

/// Whether a request body carries a script: a `script` key anywhere in its JSON (search
/// scripts, script fields, `_update` scripts), or the word in a body that is not JSON.
pub fn contains_script(body: &[u8]) -> bool {
    fn walk(value: &Value, depth: usize) -> bool {
        if depth > 64 {
            return false;
        }
        match value {
            Value::Object(map) => map.iter().any(|(k, v)| k == "script" || k == "script_fields" || walk(v, depth + 1)),
            Value::Array(items) => items.iter().any(|v| walk(v, depth + 1)),
            _ => false,
        }
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => walk(&value, 0),
        Err(_) => body.windows(8).any(|w| w.eq_ignore_ascii_case(b"\"script\"")),
    }
}

/// A random-looking 20-character document id, from the body it stores.
fn es_id(body: &[u8]) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::new().chain_update(body).chain_update(chrono::Utc::now().to_rfc3339()).finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..15])
}

fn write_result(index: &str, id: &str, result: &str) -> Value {
    json!({
        "_index": index, "_type": "_doc", "_id": id, "_version": 1, "result": result,
        "_shards": {"total": 2, "successful": 1, "failed": 0}, "_seq_no": 0, "_primary_term": 1,
    })
}

fn error(kind: &str, reason: &str, index: Option<&str>, status: u16) -> Value {
    let mut cause = json!({"type": kind, "reason": reason});
    if let (Some(index), Some(map)) = (index, cause.as_object_mut()) {
        map.insert("resource.type".into(), json!("index_or_alias"));
        map.insert("resource.id".into(), json!(index));
        map.insert("index_uuid".into(), json!("_na_"));
        map.insert("index".into(), json!(index));
    }
    let mut top = cause.clone();
    if let Some(map) = top.as_object_mut() {
        map.insert("root_cause".into(), json!([cause]));
    }
    json!({"error": top, "status": status})
}

fn not_found(index: &str) -> Value {
    error("index_not_found_exception", &format!("no such index [{index}]"), Some(index), 404)
}

fn no_handler(method: &str, path: &str) -> Value {
    json!({"error": format!("no handler found for uri [{path}] and method [{method}]"), "status": 400})
}

/// JSON as Elasticsearch's `?pretty` (Jackson) writes it: `"key" : value`, two spaces
/// of indentation, `[ a, b ]` arrays. nmap's probes match this shape of the banner.
pub fn jackson_pretty(value: &Value) -> String {
    fn write(value: &Value, indent: usize, out: &mut String) {
        match value {
            Value::Object(map) if map.is_empty() => out.push_str("{ }"),
            Value::Object(map) => {
                out.push_str("{\n");
                for (i, (key, item)) in map.iter().enumerate() {
                    out.push_str(&"  ".repeat(indent + 1));
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push_str(" : ");
                    write(item, indent + 1, out);
                    out.push_str(if i + 1 < map.len() { ",\n" } else { "\n" });
                }
                out.push_str(&"  ".repeat(indent));
                out.push('}');
            }
            Value::Array(items) if items.is_empty() => out.push_str("[ ]"),
            Value::Array(items) => {
                out.push_str("[ ");
                for (i, item) in items.iter().enumerate() {
                    write(item, indent, out);
                    if i + 1 < items.len() {
                        out.push_str(", ");
                    }
                }
                out.push_str(" ]");
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, 0, &mut out);
    out
}

impl Decoy for Elasticsearch {
    fn name(&self) -> &'static str {
        "elasticsearch"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        loop {
            let (head, status, content_type, body, close) = match http::next_request(conn).await {
                Ok(Incoming::Request(Request { head, body, close })) => {
                    http::record_credentials(conn, &head, &body).await;
                    let (status, content_type, answer, action) = self.route(&head, &body);
                    if let Some(Action { action, index, excerpt }) = action {
                        let mut fields = Fields::default()
                            .command(format!("{} {}", head.method, head.path))
                            .detail("action", action)
                            .detail("index", index);
                        if !excerpt.is_empty() {
                            fields = fields.detail("payload", excerpt);
                        }
                        conn.log.record(Kind::Command, fields).await;
                    }
                    (head, status, content_type, answer, close)
                }
                Ok(Incoming::Refused(head, status)) => {
                    let answer = error("illegal_argument_exception", http::reason(status), None, status).to_string();
                    (head, status, JSON, answer, true)
                }
                Ok(Incoming::Malformed) => {
                    let head = Head { method: "GET".into(), path: "/".into(), minor: 1, headers: Vec::new() };
                    let answer = error("illegal_argument_exception", "invalid HTTP request", None, 400).to_string();
                    let _ = conn.write(&response(&head, 400, JSON, &answer)).await;
                    return End::Violation;
                }
                Err(end) => return end,
            };
            if conn.write(&response(&head, status, content_type, &body)).await.is_err() {
                return End::Io;
            }
            if close {
                return End::Done;
            }
        }
    }
}

/// An answer as Elasticsearch's Netty transport writes it: lower-case headers, no
/// `Server` or `Date`, the version of the request.
fn response(head: &Head, status: u16, content_type: &str, body: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.{} {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
        head.minor.min(1),
        http::reason(status),
        body.len()
    )
    .into_bytes();
    if head.method != "HEAD" {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn decoy() -> Elasticsearch {
        Elasticsearch::new(&Persona::new("t", "d", Some("search-01"), None, Some("debian")), &Config::default())
    }

    fn head(method: &str, path: &str) -> Head {
        Head { method: method.into(), path: path.into(), minor: 1, headers: Vec::new() }
    }

    #[test]
    fn the_banner_is_pretty_printed_as_jackson_does_and_names_the_host() {
        let text = jackson_pretty(&decoy().banner());
        assert!(
            text.starts_with("{\n  \"name\" : \"search-01\",\n  \"cluster_name\" : \"elasticsearch\",\n"),
            "{text}"
        );
        assert!(text.contains("\n    \"number\" : \"7."), "{text}");
        assert!(text.ends_with("  \"tagline\" : \"You Know, for Search\"\n}"), "{text}");
        assert_eq!(
            jackson_pretty(&json!({"a": [], "b": {}, "c": [1, 2]})),
            "{\n  \"a\" : [ ],\n  \"b\" : { },\n  \"c\" : [ 1, 2 ]\n}"
        );
    }

    #[test]
    fn searches_reads_writes_and_scripts_are_told_apart() {
        let es = decoy();
        let (status, _, body, action) = es.route(&head("GET", "/users/_search"), b"");
        assert_eq!((status, action.unwrap().action), (200, "search"));
        assert!(body.contains("password_hash") && body.contains("$2a$10$"), "{body}");
        let script =
            br#"{"query":{"bool":{"filter":{"script":{"script":"java.lang.Runtime.getRuntime().exec('id')"}}}}}"#;
        let (_, _, _, action) = es.route(&head("POST", "/_search"), script);
        assert_eq!(action.unwrap().action, "script");
        let (status, _, _, action) = es.route(&head("DELETE", "/customers"), b"");
        assert_eq!((status, action.unwrap().action), (200, "delete"));
        let (status, _, _, action) = es.route(&head("PUT", "/pwned/_doc/1"), b"{\"a\":1}");
        assert_eq!((status, action.unwrap().action), (201, "write"));
        let (status, _, body, action) = es.route(&head("GET", "/nope/_search"), b"");
        assert!(status == 404 && body.contains("index_not_found_exception") && action.is_none());
        let (_, _, body, _) = es.route(&head("GET", "/_cat/indices?v"), b"");
        assert!(body.starts_with("health status index") && body.contains("customers"), "{body}");
        let (_, content_type, body, _) = es.route(&head("GET", "/_cat/indices?format=json"), b"");
        let rows: Value = serde_json::from_str(&body).unwrap();
        assert_eq!((content_type, rows[1]["index"].as_str()), (JSON, Some("users")));
        assert!(!contains_script(b"{\"query\":{\"match_all\":{}}}") && contains_script(b"not json \"script\""));
    }
}
