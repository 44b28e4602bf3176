//! `redis`: RESP2 (arrays of bulk strings, and inline commands) over a fake keyspace.
//!
//! PING, ECHO, AUTH (recorded; accepted only with the configured `password`), INFO with
//! the persona's version and OS, CONFIG GET/SET over a plausible redis.conf, KEYS, GET,
//! SET, DEL, EXISTS, TYPE, TTL, DBSIZE, SELECT, SAVE, SLAVEOF/REPLICAOF, FLUSHALL, TIME,
//! CLIENT, COMMAND, QUIT. Every command is an event; writes go to a bounded overlay shared
//! by all sessions, so an attacker's `SET` is there for their next `GET`, while the bait
//! keys never change.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::config::Config;
use crate::event::{Fields, Kind, Secret};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End, Parse};

/// Most keys an attacker can add.
const MAX_OVERLAY_KEYS: usize = 1024;
/// Largest value an attacker can store.
const MAX_VALUE: usize = 4096;
/// Most arguments in one command.
const MAX_ARGS: usize = 1024;

/// The redis decoy.
#[derive(Debug)]
pub struct Redis {
    version: String,
    os: String,
    password: Option<String>,
    run_id: String,
    pid: u32,
    uptime_at_start: u64,
    started: std::time::Instant,
    bait: BTreeMap<String, String>,
    overlay: Mutex<BTreeMap<String, String>>,
}

impl Redis {
    /// The decoy for `persona` with `config`.
    pub fn new(persona: &Persona, config: &Config) -> Self {
        let run_id: String = persona.derive_key("redis run_id").iter().take(20).map(|b| format!("{b:02x}")).collect();
        let token = |purpose: &str| format!("{:016x}", persona.derive(purpose));
        let mut bait = BTreeMap::new();
        bait.insert(
            format!("session:{}", token("s1")),
            format!("{{\"uid\":1001,\"user\":\"deploy\",\"exp\":{}}}", 1_767_225_600),
        );
        bait.insert(
            format!("session:{}", token("s2")),
            "{\"uid\":1002,\"user\":\"jenkins\",\"role\":\"admin\"}".into(),
        );
        bait.insert("config:db:primary".into(), format!("postgres://app:{}@10.0.3.12:5432/app", &token("db")[..12]));
        bait.insert("cache:app:feed:1".into(), "[]".into());
        bait.insert("stats:app:prod:requests".into(), format!("{}", persona.derive("requests") % 900_000 + 10_000));
        bait.insert("queue:mail:pending".into(), "3".into());
        Self {
            version: config.string("version").unwrap_or(persona.redis_version).to_owned(),
            os: config
                .string("os_string")
                .map_or_else(|| format!("Linux {} x86_64", persona.kernel_release), str::to_owned),
            password: config.string("password").map(str::to_owned),
            run_id,
            pid: 600 + (persona.derive("redis pid") % 3000) as u32,
            uptime_at_start: persona.uptime_at_start,
            started: std::time::Instant::now(),
            bait,
            overlay: Mutex::default(),
        }
    }

    fn uptime(&self) -> u64 {
        self.uptime_at_start.saturating_sub(30) + self.started.elapsed().as_secs()
    }

    fn value(&self, key: &str) -> Option<String> {
        let overlay = self.overlay.lock().unwrap_or_else(|p| p.into_inner());
        overlay.get(key).cloned().or_else(|| self.bait.get(key).cloned())
    }

    fn keys(&self) -> Vec<String> {
        let overlay = self.overlay.lock().unwrap_or_else(|p| p.into_inner());
        let mut keys: Vec<String> = self.bait.keys().chain(overlay.keys()).cloned().collect();
        keys.sort();
        keys.dedup();
        keys
    }

    fn info(&self, section: Option<&str>) -> String {
        let uptime = self.uptime();
        let sections = [
            (
                "server",
                format!(
                    "redis_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:{}\r\n\
                     redis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\n\
                     gcc_version:11.4.0\r\nprocess_id:{}\r\nprocess_supervised:systemd\r\nrun_id:{}\r\ntcp_port:6379\r\n\
                     uptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:10\r\nconfigured_hz:10\r\nexecutable:/usr/bin/redis-server\r\n\
                     config_file:/etc/redis/redis.conf\r\n",
                    self.version,
                    &self.run_id[..16],
                    self.os,
                    self.pid,
                    self.run_id,
                    uptime / 86_400
                ),
            ),
            ("clients", "connected_clients:1\r\nblocked_clients:0\r\ntracking_clients:0\r\n".to_owned()),
            (
                "memory",
                "used_memory:1038432\r\nused_memory_human:1014.09K\r\nused_memory_peak:1201336\r\nmaxmemory:0\r\n\
                 maxmemory_human:0B\r\nmaxmemory_policy:noeviction\r\nmem_allocator:jemalloc-5.2.1\r\n"
                    .to_owned(),
            ),
            ("persistence", "loading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\n".to_owned()),
            ("stats", format!("total_connections_received:{}\r\ntotal_commands_processed:{}\r\nrejected_connections:0\r\n", 40 + uptime / 600, 900 + uptime / 30)),
            ("replication", format!("role:master\r\nconnected_slaves:0\r\nmaster_replid:{}\r\nmaster_repl_offset:0\r\n", self.run_id)),
            ("keyspace", format!("db0:keys={},expires=0,avg_ttl=0\r\n", self.keys().len())),
        ];
        let wanted = section.map(str::to_ascii_lowercase);
        sections
            .iter()
            .filter(|(name, _)| {
                matches!(wanted.as_deref(), None | Some("all" | "default" | "everything"))
                    || wanted.as_deref() == Some(*name)
            })
            .map(|(name, body)| format!("# {}{}\r\n{body}", name[..1].to_ascii_uppercase(), &name[1..]))
            .collect::<Vec<_>>()
            .join("\r\n")
    }
}

/// A fake redis.conf for CONFIG GET.
const CONFIG: &[(&str, &str)] = &[
    ("appendonly", "no"),
    ("bind", "127.0.0.1 -::1"),
    ("daemonize", "yes"),
    ("databases", "16"),
    ("dbfilename", "dump.rdb"),
    ("dir", "/var/lib/redis"),
    ("logfile", "/var/log/redis/redis-server.log"),
    ("maxclients", "10000"),
    ("maxmemory", "0"),
    ("port", "6379"),
    ("protected-mode", "no"),
    ("requirepass", ""),
    ("save", "3600 1 300 100 60 10000"),
    ("timeout", "0"),
];

/// Parses one command: a RESP array of bulk strings, or an inline line.
pub fn parse(buf: &[u8]) -> Parse<Vec<Vec<u8>>> {
    if buf.is_empty() {
        return Parse::Incomplete;
    }
    if buf[0] != b'*' {
        // Inline command: one line of space-separated words.
        let Some(end) = buf.iter().position(|&b| b == b'\n') else { return Parse::Incomplete };
        let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
        let args: Vec<Vec<u8>> =
            line.split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty()).map(<[u8]>::to_vec).collect();
        if args.len() > MAX_ARGS {
            return Parse::Invalid("too many arguments".into());
        }
        return Parse::Done(args, end + 1);
    }
    let mut at = 0;
    let count = match header(buf, &mut at, b'*') {
        Parse::Done(n, _) => n,
        Parse::Incomplete => return Parse::Incomplete,
        Parse::Invalid(e) => return Parse::Invalid(e),
    };
    if count > MAX_ARGS {
        return Parse::Invalid(format!("multibulk length {count} too large"));
    }
    let mut args = Vec::with_capacity(count);
    for _ in 0..count {
        let len = match header(buf, &mut at, b'$') {
            Parse::Done(n, _) => n,
            Parse::Incomplete => return Parse::Incomplete,
            Parse::Invalid(e) => return Parse::Invalid(e),
        };
        if buf.len() < at + len + 2 {
            return Parse::Incomplete;
        }
        if &buf[at + len..at + len + 2] != b"\r\n" {
            return Parse::Invalid("bulk string not followed by CRLF".into());
        }
        args.push(buf[at..at + len].to_vec());
        at += len + 2;
    }
    Parse::Done(args, at)
}

/// Reads `<marker><decimal>\r\n` at `*at`.
fn header(buf: &[u8], at: &mut usize, marker: u8) -> Parse<usize> {
    let Some(&first) = buf.get(*at) else { return Parse::Incomplete };
    if first != marker {
        return Parse::Invalid(format!("expected '{}', got byte {first:#04x}", marker as char));
    }
    let Some(end) = buf[*at..].iter().position(|&b| b == b'\n') else {
        return if buf.len() - *at > 32 { Parse::Invalid("length line too long".into()) } else { Parse::Incomplete };
    };
    let line = &buf[*at + 1..*at + end];
    let digits = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(n) = std::str::from_utf8(digits).ok().and_then(|d| d.parse::<i64>().ok()) else {
        return Parse::Invalid("invalid length".into());
    };
    if !(0..=512 * 1024 * 1024).contains(&n) {
        return Parse::Invalid(format!("invalid length {n}"));
    }
    *at += end + 1;
    Parse::Done(n as usize, 0)
}

/// Redis's arity of a command: exact when positive, a minimum when negative.
fn arity(command: &str) -> Option<isize> {
    Some(match command {
        "ping" | "info" | "flushall" | "flushdb" | "bgsave" | "command" | "hello" => -1,
        "auth" | "config" | "del" | "unlink" | "exists" | "client" | "module" => -2,
        "set" => -3,
        "echo" | "keys" | "get" | "type" | "ttl" | "pttl" | "select" => 2,
        "slaveof" | "replicaof" => 3,
        "quit" | "dbsize" | "save" | "time" => 1,
        _ => return None,
    })
}

fn bulk(value: &str) -> Vec<u8> {
    format!("${}\r\n{value}\r\n", value.len()).into_bytes()
}

fn array(items: &[String]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for item in items {
        out.extend(bulk(item));
    }
    out
}

/// Redis-style glob: `*`, `?` and literal characters.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&pattern[1..], text) || (!text.is_empty() && glob(pattern, &text[1..])),
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => glob(&pattern[1..], &text[1..]),
        _ => false,
    }
}

impl Decoy for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        let mut authenticated = self.password.is_none();
        loop {
            let args = match conn.frame(parse).await {
                Ok(args) => args,
                Err(End::Violation) => {
                    let _ = conn.write(b"-ERR Protocol error: invalid multibulk length\r\n").await;
                    return End::Violation;
                }
                Err(end) => return end,
            };
            let Some(name) = args.first() else { continue };
            let command = String::from_utf8_lossy(name).to_ascii_lowercase();
            let text = |i: usize| args.get(i).map(|a| String::from_utf8_lossy(a).into_owned());
            let line = args.iter().take(16).map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>().join(" ");
            if command != "auth" {
                conn.log.record(Kind::Command, Fields::default().command(&line).detail("cmd", command.as_str())).await;
            }
            // Like Redis, treat HTTP sent to it as a cross-protocol attack and hang up.
            if command == "post" || command == "host:" {
                return End::Done;
            }
            if let Some(arity) = arity(&command)
                && (if arity < 0 { args.len() < arity.unsigned_abs() } else { args.len() != arity.unsigned_abs() })
            {
                let reply = format!("-ERR wrong number of arguments for '{command}' command\r\n");
                if conn.write(reply.as_bytes()).await.is_err() {
                    return End::Io;
                }
                continue;
            }
            if !authenticated && !matches!(command.as_str(), "auth" | "quit" | "hello") {
                if conn.write(b"-NOAUTH Authentication required.\r\n").await.is_err() {
                    return End::Io;
                }
                continue;
            }
            let reply: Vec<u8> = match command.as_str() {
                "auth" => {
                    let (user, pass) = match args.len() {
                        2 => ("default".to_owned(), args[1].clone()),
                        3 => (text(1).unwrap_or_default(), args[2].clone()),
                        _ => (String::new(), Vec::new()),
                    };
                    if args.len() < 2 || args.len() > 3 {
                        b"-ERR wrong number of arguments for 'auth' command\r\n".to_vec()
                    } else {
                        let fields = Fields::default().principal(&user).secret(Secret::password(&pass));
                        conn.log
                            .record(
                                Kind::AuthAttempt,
                                fields.detail(
                                    "outcome",
                                    match &self.password {
                                        Some(p) if p.as_bytes() == pass.as_slice() => "success",
                                        _ => "failure",
                                    },
                                ),
                            )
                            .await;
                        match &self.password {
                            None => b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n".to_vec(),
                            Some(p) if p.as_bytes() == pass.as_slice() && user == "default" => {
                                authenticated = true;
                                b"+OK\r\n".to_vec()
                            }
                            Some(_) => b"-WRONGPASS invalid username-password pair or user is disabled.\r\n".to_vec(),
                        }
                    }
                }
                "ping" => text(1).map_or_else(|| b"+PONG\r\n".to_vec(), |m| bulk(&m)),
                "echo" => text(1)
                    .map_or_else(|| b"-ERR wrong number of arguments for 'echo' command\r\n".to_vec(), |m| bulk(&m)),
                "quit" => {
                    let _ = conn.write(b"+OK\r\n").await;
                    return End::Quit;
                }
                "info" => bulk(&self.info(text(1).as_deref())),
                "config" => match text(1).map(|s| s.to_ascii_lowercase()).as_deref() {
                    Some("get") => {
                        let pattern = args.get(2).cloned().unwrap_or_default();
                        let items: Vec<String> = CONFIG
                            .iter()
                            .filter(|(k, _)| glob(&pattern, k.as_bytes()))
                            .flat_map(|(k, v)| [(*k).to_owned(), (*v).to_owned()])
                            .collect();
                        array(&items)
                    }
                    Some("set" | "resetstat" | "rewrite") => b"+OK\r\n".to_vec(),
                    _ => b"-ERR unknown subcommand or wrong number of arguments for 'config' command\r\n".to_vec(),
                },
                "keys" => {
                    let pattern = args.get(1).cloned().unwrap_or_else(|| b"*".to_vec());
                    array(&self.keys().into_iter().filter(|k| glob(&pattern, k.as_bytes())).collect::<Vec<_>>())
                }
                "get" => match text(1).and_then(|k| self.value(&k)) {
                    Some(value) => bulk(&value),
                    None => b"$-1\r\n".to_vec(),
                },
                "set" => match (text(1), args.get(2)) {
                    (Some(key), Some(value)) if value.len() <= MAX_VALUE => {
                        let mut overlay = self.overlay.lock().unwrap_or_else(|p| p.into_inner());
                        if overlay.len() < MAX_OVERLAY_KEYS || overlay.contains_key(&key) {
                            overlay.insert(key, String::from_utf8_lossy(value).into_owned());
                            b"+OK\r\n".to_vec()
                        } else {
                            b"-OOM command not allowed when used memory > 'maxmemory'.\r\n".to_vec()
                        }
                    }
                    (Some(_), Some(_)) => b"-ERR string exceeds maximum allowed size\r\n".to_vec(),
                    _ => b"-ERR wrong number of arguments for 'set' command\r\n".to_vec(),
                },
                "del" | "unlink" => {
                    let mut overlay = self.overlay.lock().unwrap_or_else(|p| p.into_inner());
                    let removed =
                        args[1..].iter().filter(|k| overlay.remove(&*String::from_utf8_lossy(k)).is_some()).count();
                    format!(":{removed}\r\n").into_bytes()
                }
                "exists" => {
                    let found = args[1..].iter().filter(|k| self.value(&String::from_utf8_lossy(k)).is_some()).count();
                    format!(":{found}\r\n").into_bytes()
                }
                "type" => {
                    if text(1).and_then(|k| self.value(&k)).is_some() {
                        b"+string\r\n".to_vec()
                    } else {
                        b"+none\r\n".to_vec()
                    }
                }
                "ttl" | "pttl" => {
                    if text(1).and_then(|k| self.value(&k)).is_some() {
                        b":-1\r\n".to_vec()
                    } else {
                        b":-2\r\n".to_vec()
                    }
                }
                "dbsize" => format!(":{}\r\n", self.keys().len()).into_bytes(),
                "select" => match text(1).and_then(|d| d.parse::<u32>().ok()) {
                    Some(db) if db < 16 => b"+OK\r\n".to_vec(),
                    _ => b"-ERR DB index is out of range\r\n".to_vec(),
                },
                "save" | "flushall" | "flushdb" | "slaveof" | "replicaof" => b"+OK\r\n".to_vec(),
                "bgsave" => b"+Background saving started\r\n".to_vec(),
                "time" => {
                    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                    array(&[now.as_secs().to_string(), now.subsec_micros().to_string()])
                }
                "client" => match text(1).map(|s| s.to_ascii_lowercase()).as_deref() {
                    Some("setname" | "setinfo" | "no-evict" | "no-touch") => b"+OK\r\n".to_vec(),
                    Some("getname") => b"$-1\r\n".to_vec(),
                    Some("id") => b":7\r\n".to_vec(),
                    Some("list") => bulk(&format!(
                        "id=7 addr={} laddr={} fd=8 name= age=0 idle=0 flags=N db=0 cmd=client|list\n",
                        conn.log.peer(),
                        conn.log.local()
                    )),
                    _ => b"-ERR unknown subcommand\r\n".to_vec(),
                },
                "command" => b"*0\r\n".to_vec(),
                "hello" => b"-NOPROTO unsupported protocol version\r\n".to_vec(),
                "module" => b"-ERR Error loading the extension. Please check the server logs.\r\n".to_vec(),
                _ => {
                    let rest: String =
                        args[1..].iter().take(4).map(|a| format!("'{}' ", String::from_utf8_lossy(a))).collect();
                    format!(
                        "-ERR unknown command '{}', with args beginning with: {rest}\r\n",
                        String::from_utf8_lossy(name)
                    )
                    .into_bytes()
                }
            };
            if conn.write(&reply).await.is_err() {
                return End::Io;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn resp_arrays_and_inline_commands_parse_and_truncation_asks_for_more() {
        let full = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
        assert_eq!(parse(full), Parse::Done(vec![b"GET".to_vec(), b"key".to_vec()], full.len()));
        for cut in 0..full.len() {
            assert_eq!(parse(&full[..cut]), Parse::Incomplete, "cut at {cut}");
        }
        assert_eq!(parse(b"PING\r\n"), Parse::Done(vec![b"PING".to_vec()], 6));
        assert!(matches!(parse(b"*x\r\n"), Parse::Invalid(_)));
        assert!(matches!(parse(b"*1\r\n$-5\r\n"), Parse::Invalid(_)));
        assert!(matches!(parse(b"*1\r\n$3\r\nabcXY"), Parse::Invalid(_)));
        assert!(matches!(parse(b"*99999999\r\n"), Parse::Invalid(_)));
    }

    #[test]
    fn globs_match_like_redis() {
        assert!(glob(b"*", b"anything"));
        assert!(glob(b"session:*", b"session:abc"));
        assert!(!glob(b"session:*", b"cache:x"));
        assert!(glob(b"d?r", b"dir"));
    }
}
