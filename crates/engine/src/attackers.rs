//! Each attacker's path through a maze, linked from the decoys' stored events.
//!
//! A decoy session is one connection to one decky (`session` in its events). When an
//! ssh decoy opens a tunnel, it records the address and port the connection leaves from
//! (`details.from`); the next decky's session sees exactly that as its source. So a
//! session whose source address and port are some tunnel's `from` continues the attacker
//! of the session that opened the tunnel, one hop deeper; any other session starts from
//! outside, and its source address identifies the attacker. Pure: the engine reads the
//! events and the design, this module links them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use decnet_domain::Design;
use decnet_domain::TopologyId;
use decnet_store::{EventFilter, StoredEvent};
use serde_json::Value;

use crate::{Engine, EngineError};

/// Most events read to link one topology's attackers (the oldest: paths begin there).
pub const MAX_EVENTS: i64 = 200_000;

/// One hop: a session on a decky.
#[derive(Debug, Clone, PartialEq)]
pub struct Hop {
    /// The decoy's session id.
    pub session: String,
    /// The decky reached.
    pub decky: String,
    /// The LAN the session arrived on (by the decky's address it was made to).
    pub lan: Option<String>,
    /// The service.
    pub service: String,
    /// Where the connection came from (`ip:port`).
    pub source: String,
    /// The session it came through (`None` for the first hop, from outside).
    pub via: Option<String>,
    /// Hops from outside: 0 for the first.
    pub depth: usize,
    /// First and last event of the session.
    pub first_seen: DateTime<Utc>,
    /// Last event of the session.
    pub last_seen: DateTime<Utc>,
    /// Credentials that logged in (`user:secret`) or were tried, in order.
    pub credentials: Vec<Credential>,
    /// Commands run, in order.
    pub commands: Vec<String>,
}

/// A credential presented in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The user name.
    pub user: String,
    /// The password, or the key's fingerprint.
    pub secret: String,
    /// Whether it logged in.
    pub accepted: bool,
}

/// One attacker: everything linked to one outside source address.
#[derive(Debug, Clone, PartialEq)]
pub struct Attacker {
    /// The outside source address (the attacker's id).
    pub id: String,
    /// First event of any of its hops.
    pub first_seen: DateTime<Utc>,
    /// Last event of any of its hops.
    pub last_seen: DateTime<Utc>,
    /// Its hops, in the order they began.
    pub hops: Vec<Hop>,
}

impl Attacker {
    /// The deckies it reached, by name.
    pub fn deckies(&self) -> BTreeSet<&str> {
        self.hops.iter().map(|h| h.decky.as_str()).collect()
    }

    /// The LANs it reached.
    pub fn lans(&self) -> BTreeSet<&str> {
        self.hops.iter().filter_map(|h| h.lan.as_deref()).collect()
    }

    /// Its deepest hop (hops from outside).
    pub fn deepest(&self) -> usize {
        self.hops.iter().map(|h| h.depth).max().unwrap_or(0)
    }
}

fn text<'a>(payload: &'a Value, key: &str) -> Option<&'a str> {
    payload.get(key).and_then(Value::as_str)
}

/// The LAN of `design` whose subnet holds `ip`.
fn lan_of(design: &Design, ip: Option<&str>) -> Option<String> {
    let ip: Ipv4Addr = ip?.parse().ok()?;
    design.lans.values().find(|l| l.subnet.contains(&ip)).map(|l| l.name.to_string())
}

/// Links `events` (any order; decoy events of one topology) into attackers, each with its
/// hops ordered as they began; attackers by first appearance.
pub fn link(design: &Design, events: &[StoredEvent]) -> Vec<Attacker> {
    let mut ordered: Vec<&StoredEvent> = events.iter().collect();
    ordered.sort_by_key(|e| (e.at, e.id));
    // Sessions as they first appear, and which tunnel source each tunnel session opened.
    let mut sessions: BTreeMap<String, Hop> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut tunnel_from: HashMap<String, String> = HashMap::new();
    // Decoy events only: the engine's own (`attacker.hop`, `decoy.bad_line`, ...) have a dot.
    for event in ordered.iter().filter(|e| !e.kind.contains('.')) {
        let payload = &event.payload;
        let Some(session) = text(payload, "session") else { continue };
        let hop = sessions.entry(session.to_owned()).or_insert_with(|| {
            order.push(session.to_owned());
            let port = payload.get("src_port").and_then(Value::as_u64).unwrap_or(0);
            Hop {
                session: session.to_owned(),
                decky: event.decky.clone().unwrap_or_default(),
                lan: lan_of(design, text(payload, "dst_ip")),
                service: event.service.clone().unwrap_or_default(),
                source: format!("{}:{port}", text(payload, "src_ip").unwrap_or("?")),
                via: None,
                depth: 0,
                first_seen: event.at,
                last_seen: event.at,
                credentials: Vec::new(),
                commands: Vec::new(),
            }
        });
        hop.last_seen = hop.last_seen.max(event.at);
        let details = payload.get("details").cloned().unwrap_or(Value::Null);
        match event.kind.as_str() {
            "auth_attempt" => {
                let secret = payload.get("secret").and_then(|s| s.get("value")).and_then(Value::as_str);
                hop.credentials.push(Credential {
                    user: text(payload, "principal").unwrap_or_default().to_owned(),
                    secret: secret.unwrap_or_default().to_owned(),
                    accepted: details.get("outcome").and_then(Value::as_str) == Some("success"),
                });
            }
            "command" => hop.commands.extend(text(payload, "command").map(str::to_owned)),
            "tunnel" => {
                if let Some(from) = details.get("from").and_then(Value::as_str).filter(|f| !f.is_empty()) {
                    tunnel_from.insert(from.to_owned(), session.to_owned());
                }
            }
            _ => {}
        }
    }
    // Each session continues the one whose tunnel it came from; the rest start from outside.
    let mut attackers: Vec<Attacker> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut attacker_of: HashMap<String, usize> = HashMap::new();
    for session in &order {
        let Some(mut hop) = sessions.remove(session) else { continue };
        let parent = tunnel_from.get(&hop.source).filter(|p| *p != session).cloned();
        let at = match parent.as_ref().and_then(|p| attacker_of.get(p).map(|a| (p, *a))) {
            Some((parent, at)) => {
                let depth = attackers[at].hops.iter().find(|h| &h.session == parent).map_or(0, |h| h.depth + 1);
                hop.via = Some(parent.clone());
                hop.depth = depth;
                at
            }
            None => {
                let id = hop.source.rsplit_once(':').map_or(hop.source.clone(), |(ip, _)| ip.to_owned());
                *index.entry(id.clone()).or_insert_with(|| {
                    attackers.push(Attacker {
                        id,
                        first_seen: hop.first_seen,
                        last_seen: hop.last_seen,
                        hops: Vec::new(),
                    });
                    attackers.len() - 1
                })
            }
        };
        let attacker = &mut attackers[at];
        attacker.first_seen = attacker.first_seen.min(hop.first_seen);
        attacker.last_seen = attacker.last_seen.max(hop.last_seen);
        attacker_of.insert(session.clone(), at);
        attacker.hops.push(hop);
    }
    attackers
}

/// A hop seen as its events arrive: a session on `to` that came through a tunnel opened
/// by session `via` on `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopSeen {
    /// The topology.
    pub topology: TopologyId,
    /// The decky the tunnel was opened on.
    pub from: String,
    /// The session that opened it.
    pub via: String,
    /// The decky reached.
    pub to: String,
    /// The session there.
    pub session: String,
    /// The source address the reached decky saw.
    pub source: String,
}

/// One side of a hop waiting for the other (the tunnel's record and the next decky's first
/// event come from different containers, in either order).
#[derive(Debug, Clone)]
struct Side {
    topology: TopologyId,
    decky: String,
    session: String,
}

/// Most unmatched sides kept per kind (the oldest are forgotten first).
const WATCH_CAPACITY: usize = 4096;

/// Matches tunnels with the sessions they lead to as events arrive (the live `attacker.hop`
/// announcement; [`link`] is the complete, stored view).
#[derive(Debug, Default)]
pub struct HopWatch {
    tunnels: std::collections::VecDeque<(String, Side)>,
    arrivals: std::collections::VecDeque<(String, Side)>,
}

impl HopWatch {
    /// Takes one stored event; the hop it completes, if any.
    pub fn observe(&mut self, topology: TopologyId, decky: &str, kind: &str, payload: &Value) -> Option<HopSeen> {
        let session = text(payload, "session")?;
        let side = Side { topology, decky: decky.to_owned(), session: session.to_owned() };
        let (key, tunnel) = match kind {
            "tunnel" => (payload.get("details").and_then(|d| d.get("from")).and_then(Value::as_str)?.to_owned(), true),
            "connect" => {
                let port = payload.get("src_port").and_then(Value::as_u64)?;
                (format!("{}:{port}", text(payload, "src_ip")?), false)
            }
            _ => return None,
        };
        let (mine, theirs) =
            if tunnel { (&mut self.tunnels, &mut self.arrivals) } else { (&mut self.arrivals, &mut self.tunnels) };
        if let Some(at) = theirs.iter().position(|(k, s)| *k == key && s.topology == topology) {
            let (_, other) = theirs.remove(at)?;
            let (opener, reached) = if tunnel { (side, other) } else { (other, side) };
            return Some(HopSeen {
                topology,
                from: opener.decky,
                via: opener.session,
                to: reached.decky,
                session: reached.session,
                source: key,
            });
        }
        if mine.iter().any(|(k, _)| *k == key) {
            return None;
        }
        if mine.len() >= WATCH_CAPACITY {
            mine.pop_front();
        }
        mine.push_back((key, side));
        None
    }
}

impl Engine {
    /// The attackers of `topology`, linked from its stored decoy events.
    pub async fn attackers(&self, topology: TopologyId) -> Result<Vec<Attacker>, EngineError> {
        let design = self.store.topology(topology).await?.design.clone();
        let filter = EventFilter { topology_id: Some(topology), limit: MAX_EVENTS, ..EventFilter::default() };
        let events = self.store.events(&filter).await?;
        Ok(link(&design, &events))
    }

    /// The attackers of `topology`, or of every topology, each with its topology; most
    /// recently seen first.
    pub async fn attackers_of(&self, topology: Option<TopologyId>) -> Result<Vec<(TopologyId, Attacker)>, EngineError> {
        let ids = match topology {
            Some(id) => vec![id],
            None => {
                let page = self.store.list_topologies(&decnet_store::ListFilter::default()).await?;
                page.items.iter().map(|h| h.id).collect()
            }
        };
        let mut all = Vec::new();
        for id in ids {
            all.extend(self.attackers(id).await?.into_iter().map(|a| (id, a)));
        }
        all.sort_by_key(|(_, a)| std::cmp::Reverse(a.last_seen));
        Ok(all)
    }

    /// The attacker `id` (its source address), the most recently seen when it walked
    /// several topologies; not found is the store's `NotFound`.
    pub async fn attacker(
        &self,
        id: &str,
        topology: Option<TopologyId>,
    ) -> Result<(TopologyId, Attacker), EngineError> {
        let found = self.attackers_of(topology).await?.into_iter().find(|(_, a)| a.id == id);
        found.ok_or_else(|| decnet_store::StoreError::NotFound { what: "attacker", key: id.to_owned() }.into())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn design() -> Design {
        let doc: decnet_domain::document::TopologyDocument = serde_json::from_value(json!({
            "name": "t",
            "lans": [
                {"name": "dmz", "subnet": "10.9.0.0/24", "is_dmz": true},
                {"name": "lan-a", "subnet": "10.9.1.0/24"}
            ],
            "deckies": []
        }))
        .unwrap();
        decnet_domain::document::to_design(&doc, "10.9.0.0/16".parse().unwrap(), &[]).design
    }

    fn event(id: i64, decky: &str, kind: &str, payload: Value) -> StoredEvent {
        StoredEvent {
            id,
            at: DateTime::from_timestamp(1_800_000_000 + id, 0).unwrap(),
            topology_id: None,
            kind: kind.into(),
            decky: Some(decky.into()),
            service: Some("ssh".into()),
            source_ip: payload["src_ip"].as_str().map(str::to_owned),
            payload,
        }
    }

    fn base(session: &str, src: &str, port: u16, dst: &str) -> Value {
        json!({"session": session, "src_ip": src, "src_port": port, "dst_ip": dst})
    }

    #[test]
    fn a_session_from_a_tunnels_source_continues_that_attacker_one_hop_deeper() {
        let mut login = base("s1", "203.0.113.9", 50000, "10.9.0.5");
        login["principal"] = json!("root");
        login["secret"] = json!({"kind": "password", "value": "admin"});
        login["details"] = json!({"outcome": "success"});
        let mut tunnel = base("s1", "203.0.113.9", 50000, "10.9.0.5");
        tunnel["details"] = json!({"tunnel": "open", "outcome": "open", "from": "10.9.1.5:41000"});
        let mut command = base("s2", "10.9.1.5", 41000, "10.9.1.7");
        command["command"] = json!("hostname");
        let events = vec![
            event(1, "gw", "auth_attempt", login),
            event(2, "gw", "tunnel", tunnel),
            event(3, "db", "connect", base("s2", "10.9.1.5", 41000, "10.9.1.7")),
            event(4, "db", "command", command),
            // Someone else, from elsewhere.
            event(5, "gw", "connect", base("s3", "198.51.100.4", 40000, "10.9.0.5")),
        ];
        let attackers = link(&design(), &events);
        assert_eq!(attackers.len(), 2);
        let first = &attackers[0];
        assert_eq!(first.id, "203.0.113.9");
        assert_eq!(first.hops.len(), 2);
        assert_eq!((first.hops[1].decky.as_str(), first.hops[1].depth), ("db", 1));
        assert_eq!(first.hops[1].via.as_deref(), Some("s1"));
        assert_eq!(first.hops[1].lan.as_deref(), Some("lan-a"));
        assert_eq!(first.hops[1].commands, ["hostname"]);
        assert_eq!(first.hops[0].credentials[0].user, "root");
        assert!(first.hops[0].credentials[0].accepted);
        assert_eq!(first.lans(), BTreeSet::from(["dmz", "lan-a"]));
        assert_eq!(first.deepest(), 1);
        assert_eq!(attackers[1].id, "198.51.100.4");
    }

    #[test]
    fn the_watch_announces_a_hop_whichever_side_arrives_first() {
        let topology = TopologyId(uuid::Uuid::nil());
        let mut tunnel = base("s1", "203.0.113.9", 50000, "10.9.0.5");
        tunnel["details"] = json!({"tunnel": "open", "outcome": "open", "from": "10.9.1.5:41000"});
        let arrival = base("s2", "10.9.1.5", 41000, "10.9.1.7");
        for tunnel_first in [true, false] {
            let mut watch = HopWatch::default();
            let (first, second) = if tunnel_first {
                (("gw", "tunnel", &tunnel), ("db", "connect", &arrival))
            } else {
                (("db", "connect", &arrival), ("gw", "tunnel", &tunnel))
            };
            assert_eq!(watch.observe(topology, first.0, first.1, first.2), None);
            let hop = watch.observe(topology, second.0, second.1, second.2).unwrap();
            assert_eq!(
                (hop.from.as_str(), hop.via.as_str(), hop.to.as_str(), hop.session.as_str()),
                ("gw", "s1", "db", "s2")
            );
            assert_eq!(hop.source, "10.9.1.5:41000");
        }
        // A connection from outside matches nothing.
        let mut watch = HopWatch::default();
        assert_eq!(watch.observe(topology, "gw", "connect", &base("s3", "198.51.100.4", 40000, "10.9.0.5")), None);
    }
}
