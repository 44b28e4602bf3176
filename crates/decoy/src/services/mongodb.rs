//! `mongodb`: a mongod 7.0 without access control, the kind ransom bots wipe.
//!
//! Speaks the wire protocol's OP_MSG and the legacy OP_QUERY/OP_REPLY (drivers' first
//! handshake, nmap's probe), with BSON from the `bson` crate. It advertises MongoDB's
//! 48 MB message size but reads no frame past the decoy's own limit. Answers `hello` /
//! `isMaster`, `buildInfo`, `ping`, `serverStatus`, `listDatabases` and `listCollections`
//! over a few bait databases, `find` / `count` / `getMore` on their bait collections (a
//! customers table, users with bcrypt hashes), writes (insert, update, delete, drop,
//! createUser, ...) as acknowledged and never applied, and SCRAM-SHA-1/SCRAM-SHA-256
//! `saslStart` (and legacy `authenticate`) with AuthenticationFailed, as mongod answers a
//! user that does not exist.
//!
//! Recorded: every command as a `command` event (name, database, collection, a bounded
//! rendering of its filter or documents); logins as `auth_attempt` (user, mechanism,
//! client nonce); undecodable messages as `protocol_error`.

use std::time::Duration;

use bson::{Binary, Document, RawBsonRef, RawDocument, doc, oid::ObjectId, spec::BinarySubtype};
use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::event::{Fields, Kind, printable};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End, Parse};

/// The message size mongod advertises (`maxMessageSizeBytes`); larger is a violation.
pub const MAX_MESSAGE_SIZE: usize = 48_000_000;
const OP_REPLY: i32 = 1;
const OP_QUERY: i32 = 2004;
const OP_MSG: i32 = 2013;
/// OP_MSG flag: a CRC-32C follows the sections.
const CHECKSUM_PRESENT: u32 = 1;
/// Longest wait of an awaitable `hello` (drivers' monitors ask for 10 s).
const MAX_AWAIT: Duration = Duration::from_secs(10);
/// Depth and breadth of BSON rendered into an event.
const RENDER_DEPTH: usize = 6;
const RENDER_ITEMS: usize = 16;

/// The release (version, git commit) the persona runs.
const VERSION: &str = "7.0.2";
const GIT_VERSION: &str = "02b3c655e1302209ef046da6ba3ef6749dd0b62a";
const MAX_WIRE_VERSION: i32 = 21;

/// One request.
#[derive(Debug, PartialEq, Eq)]
pub struct Message {
    /// The client's request id (the reply's `responseTo`).
    pub request_id: i32,
    /// What it carries.
    pub op: Op,
}

/// The operations the decoy reads.
#[derive(Debug, PartialEq, Eq)]
pub enum Op {
    /// OP_MSG: the body document and the document sequences (identifier, documents).
    Msg {
        /// Flag bits.
        flags: u32,
        /// The kind-0 section.
        body: Vec<u8>,
        /// Kind-1 sections.
        sequences: Vec<(String, Vec<Vec<u8>>)>,
    },
    /// OP_QUERY: `db.collection` and the query document.
    Query {
        /// `fullCollectionName`.
        collection: String,
        /// The query (for `db.$cmd`, the command).
        query: Vec<u8>,
    },
    /// Any other opcode (OP_COMPRESSED, the removed legacy writes, ...).
    Other(i32),
}

fn le_i32(buf: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_le_bytes(buf.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// The BSON document at the start of `buf`: its bytes, checked for a sane length prefix
/// and terminator (its contents are checked when read).
fn document(buf: &[u8]) -> Result<&[u8], String> {
    let len = le_i32(buf, 0).ok_or("truncated document")?;
    let len = usize::try_from(len).map_err(|_| "negative document length")?;
    if len < 5 || len > buf.len() {
        return Err(format!("document length {len} outside its message"));
    }
    let bytes = buf.get(..len).ok_or("truncated document")?;
    RawDocument::from_bytes(bytes).map_err(|e| format!("bad document: {e}"))?;
    Ok(bytes)
}

fn cstring(buf: &[u8]) -> Result<(String, usize), String> {
    let end = buf.iter().position(|&b| b == 0).ok_or("unterminated string")?;
    Ok((String::from_utf8_lossy(buf.get(..end).unwrap_or_default()).into_owned(), end + 1))
}

fn decode(op_code: i32, payload: &[u8]) -> Result<Op, String> {
    match op_code {
        OP_MSG => {
            let flags = u32::from_le_bytes(payload.get(..4).ok_or("no flag bits")?.try_into().map_err(|_| "flags")?);
            let mut sections = payload.get(4..).unwrap_or_default();
            if flags & CHECKSUM_PRESENT != 0 {
                sections = sections.get(..sections.len().saturating_sub(4)).unwrap_or_default();
            }
            let (mut body, mut sequences) = (None, Vec::new());
            while let Some((&kind, rest)) = sections.split_first() {
                match kind {
                    0 => {
                        let bytes = document(rest)?;
                        body = Some(bytes.to_vec());
                        sections = rest.get(bytes.len()..).unwrap_or_default();
                    }
                    1 => {
                        let size = usize::try_from(le_i32(rest, 0).ok_or("truncated sequence")?)
                            .map_err(|_| "negative sequence size")?;
                        let section = rest.get(..size).filter(|_| size >= 4).ok_or("sequence outside its message")?;
                        let (identifier, used) = cstring(section.get(4..).unwrap_or_default())?;
                        let mut docs = section.get(4 + used..).unwrap_or_default();
                        let mut list = Vec::new();
                        while !docs.is_empty() {
                            let bytes = document(docs)?;
                            list.push(bytes.to_vec());
                            docs = docs.get(bytes.len()..).unwrap_or_default();
                        }
                        sequences.push((identifier, list));
                        sections = rest.get(size..).unwrap_or_default();
                    }
                    other => return Err(format!("unknown section kind {other}")),
                }
            }
            let body = body.ok_or("no body section")?;
            Ok(Op::Msg { flags, body, sequences })
        }
        OP_QUERY => {
            let (collection, used) = cstring(payload.get(4..).ok_or("truncated query")?)?;
            let query = document(payload.get(4 + used + 8..).ok_or("truncated query")?)?;
            Ok(Op::Query { collection, query: query.to_vec() })
        }
        other => Ok(Op::Other(other)),
    }
}

/// Frames one message: the 16-byte header (length, request id, response to, opcode),
/// then the body of its opcode.
pub fn parse(buf: &[u8]) -> Parse<Message> {
    let Some(length) = le_i32(buf, 0) else { return Parse::Incomplete };
    let length = match usize::try_from(length) {
        Ok(n) if (16..=MAX_MESSAGE_SIZE).contains(&n) => n,
        _ => return Parse::Invalid(format!("message length {length}")),
    };
    let Some(message) = buf.get(..length) else { return Parse::Incomplete };
    let request_id = le_i32(message, 4).unwrap_or(0);
    let op_code = le_i32(message, 12).unwrap_or(0);
    match decode(op_code, message.get(16..).unwrap_or_default()) {
        Ok(op) => Parse::Done(Message { request_id, op }, length),
        Err(reason) => Parse::Invalid(reason),
    }
}

/// A bounded JSON rendering of a BSON value for an event.
fn render(value: RawBsonRef<'_>, depth: usize) -> Value {
    match value {
        RawBsonRef::Document(doc) if depth < RENDER_DEPTH => {
            let mut map = Map::new();
            for item in doc.into_iter().take(RENDER_ITEMS) {
                match item {
                    Ok((key, value)) => {
                        map.insert(key.as_str().to_owned(), render(value, depth + 1));
                    }
                    Err(_) => break,
                }
            }
            Value::Object(map)
        }
        RawBsonRef::Array(items) if depth < RENDER_DEPTH => Value::Array(
            items.into_iter().take(RENDER_ITEMS).map_while(Result::ok).map(|v| render(v, depth + 1)).collect(),
        ),
        RawBsonRef::Document(_) | RawBsonRef::Array(_) => json!("…"),
        RawBsonRef::String(s) | RawBsonRef::JavaScriptCode(s) | RawBsonRef::Symbol(s) => json!(printable(s.as_bytes())),
        RawBsonRef::Double(f) => json!(f),
        RawBsonRef::Int32(i) => json!(i),
        RawBsonRef::Int64(i) => json!(i),
        RawBsonRef::Boolean(b) => json!(b),
        RawBsonRef::Null => Value::Null,
        RawBsonRef::ObjectId(oid) => json!(oid.to_hex()),
        RawBsonRef::Binary(b) => json!(format!("<binary {} bytes>", b.bytes.len())),
        RawBsonRef::RegularExpression(r) => json!(format!("/{}/{}", r.pattern.as_str(), r.options.as_str())),
        other => json!(format!("{:?}", other.element_type())),
    }
}

/// `n=user,r=nonce` of a SCRAM client-first message (after the `n,,` GS2 header).
pub fn scram_first(payload: &[u8]) -> (Option<String>, Option<String>) {
    let text = String::from_utf8_lossy(payload);
    let bare = text.splitn(3, ',').nth(2).unwrap_or(&text);
    let field = |name: &str| {
        bare.split(',').find_map(|part| part.strip_prefix(name)).map(|v| v.replace("=2C", ",").replace("=3D", "="))
    };
    (field("n="), field("r="))
}

/// A bait collection and its documents.
#[derive(Debug)]
struct Collection {
    db: &'static str,
    name: &'static str,
    docs: Vec<Document>,
}

/// The mongodb decoy.
#[derive(Debug)]
pub struct Mongodb {
    hostname: String,
    distmod: &'static str,
    process_id: ObjectId,
    pid: i64,
    uptime_at_start: u64,
    started: std::time::Instant,
    collections: Vec<Collection>,
    connections: std::sync::atomic::AtomicI32,
}

impl Mongodb {
    /// The decoy for `persona` with `config` (no keys).
    pub fn new(persona: &Persona, _config: &Config) -> Self {
        let key = persona.derive_key("mongodb process id");
        let mut oid = [0u8; 12];
        oid.copy_from_slice(&key[..12]);
        let oid_of = |purpose: &str| {
            let key = persona.derive_key(purpose);
            let mut bytes = [0u8; 12];
            bytes.copy_from_slice(&key[..12]);
            // A plausible creation time (2023) in the first four bytes.
            bytes[..4]
                .copy_from_slice(&(1_680_000_000u32 + (persona.derive(purpose) % 20_000_000) as u32).to_be_bytes());
            ObjectId::from_bytes(bytes)
        };
        let first = ["James", "Maria", "Robert", "Linda", "Michael", "Sarah", "David", "Emma"];
        let last = ["Smith", "Garcia", "Johnson", "Brown", "Miller", "Davis", "Wilson", "Moore"];
        let customers = (0..5u64)
            .map(|i| {
                let n = persona.derive(&format!("mongo customer {i}"));
                let f = first.get(n as usize % first.len()).copied().unwrap_or("James");
                let l = last.get((n >> 8) as usize % last.len()).copied().unwrap_or("Smith");
                let city =
                    ["Austin", "Denver", "Columbus", "Tampa"].get((n >> 20) as usize % 4).copied().unwrap_or("Austin");
                doc! {
                    "_id": oid_of(&format!("mongo customer id {i}")),
                    "name": format!("{f} {l}"),
                    "email": format!("{}.{}{}@gmail.com", f.to_lowercase(), l.to_lowercase(), n % 90 + 10),
                    "phone": format!("+1-{}-555-{:04}", 200 + n % 700, n % 10_000),
                    "address": {"city": city, "zip": format!("{:05}", (n >> 24) % 99_999)},
                    "orders": (n % 40) as i32 + 1,
                }
            })
            .collect();
        const HASH: &[u8] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let users = ["admin", "ops", "m.garcia", "api-service"]
            .iter()
            .enumerate()
            .map(|(i, user)| {
                let key = persona.derive_key(&format!("mongo user hash {user}"));
                let more = persona.derive_key(&format!("mongo user hash2 {user}"));
                let body: String = key
                    .iter()
                    .chain(more.iter())
                    .take(53)
                    .map(|b| char::from(HASH.get(usize::from(*b) % 64).copied().unwrap_or(b'.')))
                    .collect();
                doc! {
                    "_id": oid_of(&format!("mongo user id {user}")),
                    "username": *user,
                    "password": format!("$2b$12${body}"),
                    "role": if i == 0 { "admin" } else { "staff" },
                    "mfa": false,
                }
            })
            .collect();
        let distmod = match persona.distro.id {
            "ubuntu" => "ubuntu2204",
            "rocky" => "rhel90",
            _ => "debian12",
        };
        Self {
            hostname: persona.hostname.clone(),
            distmod,
            process_id: ObjectId::from_bytes(oid),
            pid: 900 + (persona.derive("mongo pid") % 3000) as i64,
            uptime_at_start: persona.uptime_at_start,
            started: std::time::Instant::now(),
            collections: vec![
                Collection { db: "shop", name: "customers", docs: customers },
                Collection { db: "shop", name: "users", docs: users },
                Collection { db: "crm", name: "leads", docs: Vec::new() },
            ],
            connections: std::sync::atomic::AtomicI32::new(0),
        }
    }

    fn uptime(&self) -> u64 {
        self.uptime_at_start.min(86_400 * 30) + self.started.elapsed().as_secs()
    }

    fn hello(&self, legacy: bool, connection_id: i32) -> Document {
        let mut reply = doc! { "helloOk": true };
        reply.insert(if legacy { "ismaster" } else { "isWritablePrimary" }, true);
        reply.insert("topologyVersion", doc! { "processId": self.process_id, "counter": 0i64 });
        reply.insert("maxBsonObjectSize", 16_777_216i32);
        reply.insert("maxMessageSizeBytes", MAX_MESSAGE_SIZE as i32);
        reply.insert("maxWriteBatchSize", 100_000i32);
        reply.insert("localTime", bson::DateTime::now());
        reply.insert("logicalSessionTimeoutMinutes", 30i32);
        reply.insert("connectionId", connection_id);
        reply.insert("minWireVersion", 0i32);
        reply.insert("maxWireVersion", MAX_WIRE_VERSION);
        reply.insert("readOnly", false);
        reply.insert("ok", 1.0);
        reply
    }

    fn build_info(&self) -> Document {
        doc! {
            "version": VERSION, "gitVersion": GIT_VERSION, "modules": [], "allocator": "tcmalloc",
            "javascriptEngine": "mozjs", "sysInfo": "deprecated", "versionArray": [7i32, 0i32, 2i32, 0i32],
            "openssl": {"running": "OpenSSL 3.0.2 15 Mar 2022", "compiled": "OpenSSL 3.0.2 15 Mar 2022"},
            "buildEnvironment": {"distmod": self.distmod, "distarch": "x86_64", "cc": "/opt/mongodbtoolchain/v4/bin/gcc: gcc (GCC) 11.3.0",
                "target_arch": "x86_64", "target_os": "linux"},
            "bits": 64i32, "debug": false, "maxBsonObjectSize": 16_777_216i32,
            "storageEngines": ["devnull", "inMemory", "wiredTiger"], "ok": 1.0,
        }
    }

    fn server_status(&self) -> Document {
        let uptime = self.uptime();
        let current = self.connections.load(std::sync::atomic::Ordering::Relaxed);
        // "version" appears once: nmap's match takes the last one it finds.
        doc! {
            "host": self.hostname.as_str(), "version": VERSION, "process": "mongod", "pid": self.pid,
            "uptime": uptime as f64, "uptimeMillis": (uptime * 1000) as i64, "uptimeEstimate": uptime as i64,
            "localTime": bson::DateTime::now(),
            "connections": {"current": current.max(1), "available": 838_860i32 - current.max(1), "totalCreated": current.max(1)},
            "ok": 1.0,
        }
    }

    fn databases(&self) -> Vec<(&'static str, i64)> {
        vec![("admin", 40_960), ("config", 110_592), ("crm", 73_728), ("local", 73_728), ("shop", 245_760)]
    }

    fn collection(&self, db: &str, name: &str) -> Option<&Collection> {
        self.collections.iter().find(|c| c.db == db && c.name == name)
    }

    fn cursor(ns: String, batch: Vec<Document>) -> Document {
        doc! { "cursor": {"firstBatch": batch, "id": 0i64, "ns": ns}, "ok": 1.0 }
    }

    /// The answer to `command` (its first key) of `body` on database `db`, and the event
    /// fields it adds.
    fn command(&self, name: &str, body: &RawDocument, db: &str, connection_id: i32, peer: &str) -> Document {
        let target = body.get(name).ok().flatten();
        let target_str = match target {
            Some(RawBsonRef::String(s)) => s.to_owned(),
            _ => String::new(),
        };
        match name.to_ascii_lowercase().as_str() {
            "hello" => self.hello(false, connection_id),
            "ismaster" => self.hello(true, connection_id),
            "buildinfo" => self.build_info(),
            "ping" => doc! { "ok": 1.0 },
            "serverstatus" => self.server_status(),
            "whatsmyuri" => doc! { "you": peer, "ok": 1.0 },
            "connectionstatus" => {
                doc! { "authInfo": {"authenticatedUsers": [], "authenticatedUserRoles": []}, "ok": 1.0 }
            }
            "getlog" => doc! { "totalLinesWritten": 0i32, "log": [], "ok": 1.0 },
            "getcmdlineopts" => doc! {
                "argv": ["/usr/bin/mongod", "--config", "/etc/mongod.conf"],
                "parsed": {"config": "/etc/mongod.conf", "net": {"bindIp": "0.0.0.0", "port": 27017i32},
                    "storage": {"dbPath": "/var/lib/mongodb"}, "systemLog": {"destination": "file", "logAppend": true, "path": "/var/log/mongodb/mongod.log"}},
                "ok": 1.0,
            },
            "hostinfo" => doc! {
                "system": {"currentTime": bson::DateTime::now(), "hostname": format!("{}:27017", self.hostname), "cpuAddrSize": 64i32,
                    "memSizeMB": 7_944i64, "numCores": 2i32, "cpuArch": "x86_64", "numaEnabled": false},
                "os": {"type": "Linux", "name": "", "version": ""}, "extra": {}, "ok": 1.0,
            },
            "listdatabases" => {
                let list: Vec<Document> = self
                    .databases()
                    .into_iter()
                    .map(|(name, size)| doc! { "name": name, "sizeOnDisk": size, "empty": false })
                    .collect();
                let total: i64 = self.databases().iter().map(|(_, s)| s).sum();
                doc! { "databases": list, "totalSize": total, "totalSizeMb": total / (1024 * 1024), "ok": 1.0 }
            }
            "listcollections" => {
                let batch: Vec<Document> = self
                    .collections
                    .iter()
                    .filter(|c| c.db == db)
                    .map(|c| {
                        let uuid = Binary { subtype: BinarySubtype::Uuid, bytes: self.uuid(c.name) };
                        doc! { "name": c.name, "type": "collection", "options": {}, "info": {"readOnly": false, "uuid": uuid},
                            "idIndex": {"v": 2i32, "key": {"_id": 1i32}, "name": "_id_"} }
                    })
                    .collect();
                Self::cursor(format!("{db}.$cmd.listCollections"), batch)
            }
            "find" => {
                let limit = match body.get("limit").ok().flatten() {
                    Some(RawBsonRef::Int32(n)) => usize::try_from(n).unwrap_or(0),
                    Some(RawBsonRef::Int64(n)) => usize::try_from(n).unwrap_or(0),
                    _ => 0,
                };
                let docs: Vec<Document> = self
                    .collection(db, &target_str)
                    .map(|c| c.docs.iter().take(if limit == 0 { usize::MAX } else { limit }).cloned().collect())
                    .unwrap_or_default();
                Self::cursor(format!("{db}.{target_str}"), docs)
            }
            "aggregate" => {
                let docs = self.collection(db, &target_str).map(|c| c.docs.len()).unwrap_or(0);
                Self::cursor(format!("{db}.{target_str}"), vec![doc! { "_id": 1i32, "n": docs as i32 }])
            }
            "count" => {
                let n = self.collection(db, &target_str).map(|c| c.docs.len()).unwrap_or(0);
                doc! { "n": n as i32, "ok": 1.0 }
            }
            "getmore" => {
                let collection = match body.get("collection").ok().flatten() {
                    Some(RawBsonRef::String(s)) => s.to_owned(),
                    _ => String::new(),
                };
                doc! { "cursor": {"nextBatch": [], "id": 0i64, "ns": format!("{db}.{collection}")}, "ok": 1.0 }
            }
            "killcursors" => {
                doc! { "cursorsKilled": [], "cursorsNotFound": [], "cursorsAlive": [], "cursorsUnknown": [], "ok": 1.0 }
            }
            "endsessions" | "createindexes" | "create" | "createuser" | "grantrolestouser" | "dropuser" => {
                doc! { "ok": 1.0 }
            }
            "insert" | "delete" | "update" => doc! { "n": 1i32, "ok": 1.0 },
            "drop" => doc! { "nIndexesWas": 1i32, "ns": format!("{db}.{target_str}"), "ok": 1.0 },
            "dropdatabase" => doc! { "dropped": db, "ok": 1.0 },
            "getparameter" => doc! { "featureCompatibilityVersion": {"version": "7.0"}, "ok": 1.0 },
            "saslstart" | "saslcontinue" | "authenticate" => auth_failed(),
            _ => doc! {
                "ok": 0.0, "errmsg": format!("no such command: '{}'", printable(name.as_bytes())),
                "code": 59i32, "codeName": "CommandNotFound",
            },
        }
    }

    fn uuid(&self, name: &str) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(16);
        bytes.extend_from_slice(&self.process_id.bytes());
        bytes.extend_from_slice(name.as_bytes());
        bytes.resize(16, 0x42);
        bytes
    }
}

fn auth_failed() -> Document {
    doc! { "ok": 0.0, "errmsg": "Authentication failed.", "code": 18i32, "codeName": "AuthenticationFailed" }
}

/// Commands that change data: recorded as such (the ransom bots' drop-and-note).
const WRITES: &[&str] = &[
    "insert",
    "update",
    "delete",
    "drop",
    "dropdatabase",
    "create",
    "createindexes",
    "createuser",
    "dropuser",
    "grantrolestouser",
    "findandmodify",
    "renamecollection",
];

/// The reply message to `request_id`: OP_MSG for OP_MSG, OP_REPLY for OP_QUERY.
fn reply(request_id: i32, response_to: i32, legacy: bool, body: &Document) -> Vec<u8> {
    let doc_bytes = body.to_vec().unwrap_or_else(|_| vec![5, 0, 0, 0, 0]);
    let mut payload = Vec::with_capacity(doc_bytes.len() + 24);
    let op = if legacy {
        payload.extend_from_slice(&8i32.to_le_bytes()); // AwaitCapable
        payload.extend_from_slice(&0i64.to_le_bytes());
        payload.extend_from_slice(&0i32.to_le_bytes());
        payload.extend_from_slice(&1i32.to_le_bytes());
        OP_REPLY
    } else {
        payload.extend_from_slice(&0u32.to_le_bytes());
        payload.push(0);
        OP_MSG
    };
    payload.extend_from_slice(&doc_bytes);
    let length = i32::try_from(payload.len() + 16).unwrap_or(i32::MAX);
    let mut out = Vec::with_capacity(payload.len() + 16);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&request_id.to_le_bytes());
    out.extend_from_slice(&response_to.to_le_bytes());
    out.extend_from_slice(&op.to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

impl Decoy for Mongodb {
    fn name(&self) -> &'static str {
        "mongodb"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        let connection_id = self.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let peer = conn.log.peer().to_string();
        let mut next_id = 1000 + connection_id.wrapping_mul(7919);
        loop {
            let message = match conn.frame(parse).await {
                Ok(message) => message,
                Err(end) => return end,
            };
            let (legacy, body_bytes, db, sequences) = match message.op {
                Op::Msg { body, sequences, .. } => {
                    let db = RawDocument::from_bytes(&body)
                        .ok()
                        .and_then(|d| d.get_str("$db").ok().map(str::to_owned))
                        .unwrap_or_else(|| "admin".to_owned());
                    (false, body, db, sequences)
                }
                Op::Query { collection, query } => {
                    let db = collection.split('.').next().unwrap_or("admin").to_owned();
                    // A query may wrap its command in `$query` (mongo shell) or not.
                    let inner = RawDocument::from_bytes(&query)
                        .ok()
                        .and_then(|d| match d.get("$query").ok().flatten() {
                            Some(RawBsonRef::Document(inner)) => Some(inner.as_bytes().to_vec()),
                            _ => None,
                        })
                        .unwrap_or(query);
                    (true, inner, db, Vec::new())
                }
                Op::Other(op_code) => {
                    conn.violation(&format!("unsupported opcode {op_code}")).await;
                    return End::Violation;
                }
            };
            let Ok(body) = RawDocument::from_bytes(&body_bytes) else {
                conn.violation_in("bad command document", &body_bytes).await;
                return End::Violation;
            };
            let name = match body.into_iter().next() {
                Some(Ok((key, _))) => key.as_str().to_owned(),
                _ => {
                    conn.violation_in("empty or broken command document", &body_bytes).await;
                    return End::Violation;
                }
            };
            let lower = name.to_ascii_lowercase();
            let target = match body.get(&name).ok().flatten() {
                Some(RawBsonRef::String(s)) => Some(printable(s.as_bytes())),
                _ => None,
            };
            if matches!(lower.as_str(), "saslstart" | "authenticate") {
                let mechanism = body.get_str("mechanism").unwrap_or("MONGODB-X509").to_owned();
                let (user, nonce) = match body.get("payload").ok().flatten() {
                    Some(RawBsonRef::Binary(b)) => scram_first(b.bytes),
                    Some(RawBsonRef::String(s)) => scram_first(s.as_bytes()),
                    _ => (body.get_str("user").ok().map(str::to_owned), None),
                };
                let mut fields = Fields::default()
                    .principal(user.unwrap_or_default())
                    .detail("mechanism", mechanism)
                    .detail("db", db.as_str())
                    .detail("outcome", "failure");
                if let Some(nonce) = nonce {
                    fields = fields.detail("client_nonce", nonce);
                }
                conn.log.record(Kind::AuthAttempt, fields).await;
            } else if lower != "saslcontinue" {
                let mut fields = Fields::default().command(&name).detail("db", db.as_str());
                if let Some(target) = &target {
                    fields = fields.detail("collection", target.as_str());
                }
                for key in ["filter", "query", "pipeline", "documents", "updates", "deletes", "q", "u", "pwd", "roles"]
                {
                    if let Ok(Some(value)) = body.get(key) {
                        fields = fields.detail(key, render(value, 0));
                    }
                }
                for (identifier, docs) in &sequences {
                    let first = docs
                        .first()
                        .and_then(|d| RawDocument::from_bytes(d).ok())
                        .map(|d| render(RawBsonRef::Document(d), 0))
                        .unwrap_or(Value::Null);
                    fields = fields.detail(identifier, json!({"count": docs.len(), "first": first}));
                }
                if WRITES.contains(&lower.as_str()) {
                    fields = fields.detail("write", true);
                }
                conn.log.record(Kind::Command, fields).await;
            }
            // An awaitable hello (a driver's monitor) waits as mongod does when nothing changed.
            if matches!(lower.as_str(), "hello" | "ismaster")
                && body.get("topologyVersion").ok().flatten().is_some()
                && let Some(wait) = match body.get("maxAwaitTimeMS").ok().flatten() {
                    Some(RawBsonRef::Int32(ms)) => u64::try_from(ms).ok(),
                    Some(RawBsonRef::Int64(ms)) => u64::try_from(ms).ok(),
                    _ => None,
                }
            {
                tokio::time::sleep(Duration::from_millis(wait).min(MAX_AWAIT)).await;
            }
            let answer = self.command(&name, body, &db, connection_id, &peer);
            next_id = next_id.wrapping_add(1);
            if conn.write(&reply(next_id, message.request_id, legacy, &answer)).await.is_err() {
                return End::Io;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn op_msg(request_id: i32, body: &Document) -> Vec<u8> {
        reply(request_id, 0, false, body)
    }

    #[test]
    fn op_msg_and_op_query_frame_and_truncation_asks_for_more() {
        let msg = op_msg(7, &doc! { "hello": 1i32, "$db": "admin" });
        let Parse::Done(message, used) = parse(&msg) else { panic!("a message") };
        assert_eq!((message.request_id, used), (7, msg.len()));
        let Op::Msg { body, .. } = message.op else { panic!("OP_MSG") };
        assert_eq!(RawDocument::from_bytes(&body).unwrap().get_str("$db").unwrap(), "admin");
        for cut in 0..msg.len() {
            assert_eq!(parse(&msg[..cut]), Parse::Incomplete, "cut at {cut}");
        }
        // nmap's probe: OP_QUERY of serverStatus on test.$cmd.
        let probe = b"\x41\0\0\0\x3a\x30\0\0\xff\xff\xff\xff\xd4\x07\0\0\0\0\0\0test.$cmd\0\0\0\0\0\xff\xff\xff\xff\x1b\0\0\0\x01serverStatus\0\0\0\0\0\0\0\xf0\x3f\0";
        let Parse::Done(Message { op: Op::Query { collection, query }, .. }, _) = parse(probe) else {
            panic!("a query")
        };
        assert_eq!(collection, "test.$cmd");
        assert!(RawDocument::from_bytes(&query).unwrap().get("serverStatus").unwrap().is_some());
    }

    #[test]
    fn lengths_are_checked_before_anything_is_allocated() {
        assert!(matches!(parse(b"\xff\xff\xff\x7f\0\0\0\0\0\0\0\0\xdd\x07\0\0"), Parse::Invalid(_)));
        assert!(matches!(parse(b"\x08\0\0\0\0\0\0\0"), Parse::Invalid(_)));
        // A body document claiming more than its message.
        let mut msg = op_msg(1, &doc! { "ping": 1i32 });
        msg[21] = 0xff;
        assert!(matches!(parse(&msg), Parse::Invalid(_)));
    }

    #[test]
    fn scram_client_first_messages_give_the_user_and_nonce() {
        assert_eq!(
            scram_first(b"n,,n=admin,r=fyko+d2lbbFgONRv9qkxdawL"),
            (Some("admin".into()), Some("fyko+d2lbbFgONRv9qkxdawL".into()))
        );
        assert_eq!(scram_first(b"n,,n=a=2Cb=3Dc,r=x").0.as_deref(), Some("a,b=c"));
        assert_eq!(scram_first(b"garbage"), (None, None));
    }

    #[test]
    fn the_server_status_names_the_version_where_nmap_looks() {
        let mongo = Mongodb::new(&Persona::new("t", "d", Some("db-01"), None, None), &Config::default());
        let bytes = mongo.server_status().to_vec().unwrap();
        let at = bytes.windows(7).rposition(|w| w == b"version").unwrap();
        assert_eq!(&bytes[at + 12..at + 17], VERSION.as_bytes());
    }

    proptest! {
        #[test]
        fn any_bytes_frame_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn mutated_messages_frame_or_fail_cleanly(flips in proptest::collection::vec((0usize..64, any::<u8>()), 1..6)) {
            let mut msg = op_msg(3, &doc! { "find": "users", "filter": {"a": {"$gt": 1i32}}, "$db": "shop" });
            for (at, byte) in flips {
                let i = at % msg.len();
                msg[i] ^= byte;
            }
            if let Parse::Done(Message { op: Op::Msg { body, .. }, .. }, _) = parse(&msg)
                && let Ok(doc) = RawDocument::from_bytes(&body)
            {
                let _ = render(RawBsonRef::Document(doc), 0);
            }
        }
    }
}
