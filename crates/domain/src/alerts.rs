//! Alerts on intent: rules that turn the events of what an attacker *did* (a login that
//! worked, a planted lure used, a command, a file touched, a tunnel, a hop deeper into the
//! maze, a burst of guesses) into incidents, and leave alone what only scanners do
//! (connects, handshakes, single requests). Repeated events from one source under one rule
//! fold into one incident with a count; ignored sources make none.
//!
//! Pure: the engine reads the events, asks [`AlertConfig::rule_for`], and folds the result
//! into the stored incidents.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// How loud an incident is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// An attacker is trying.
    Medium,
    /// An attacker got somewhere: page someone.
    High,
    /// An attacker used what only the maze gave them.
    Critical,
}

impl Severity {
    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            other => Err(format!("unknown severity {other:?} (expected low, medium, high or critical)")),
        }
    }
}

/// The `alerts` section of the configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// The rules, first match wins; [`default_rules`] when absent.
    #[serde(default = "default_rules")]
    pub rules: Vec<Rule>,
    /// Events from these are never alerted on.
    #[serde(default)]
    pub ignore: Ignore,
    /// Events of one rule from one source fold into its incident while they come within
    /// this many seconds of its last one.
    #[serde(default = "default_fold_window")]
    pub fold_window_secs: u64,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self { rules: default_rules(), ignore: Ignore::default(), fold_window_secs: default_fold_window() }
    }
}

fn default_fold_window() -> u64 {
    3600
}

/// What is never alerted on.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ignore {
    /// Source addresses or networks (`192.0.2.7`, `10.0.0.0/8`): a scanner of your own.
    #[serde(default)]
    pub sources: Vec<String>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique name: letters, digits, `-`, `_`.
    pub name: String,
    /// The severity of its incidents.
    pub severity: Severity,
    /// What an event must be.
    #[serde(default)]
    pub when: Match,
    /// Events from one source before its incident opens (a burst); the incident's count
    /// includes them.
    #[serde(default = "one")]
    pub threshold: u32,
}

fn one() -> u32 {
    1
}

/// Conditions on an event; each given one must hold.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// Event types (`auth_attempt`, or a prefix as `file_*`).
    #[serde(default)]
    pub types: Option<Vec<String>>,
    /// Decoy services.
    #[serde(default)]
    pub services: Option<Vec<String>>,
    /// Deckies by name.
    #[serde(default)]
    pub deckies: Option<Vec<String>>,
    /// LANs by name.
    #[serde(default)]
    pub lans: Option<Vec<String>>,
    /// Source addresses or networks.
    #[serde(default)]
    pub sources: Option<Vec<String>>,
    /// The decoy's verdict on a login: `success` or `failure`.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Whether the credentials tried are a planted lure's.
    #[serde(default)]
    pub lure: Option<bool>,
}

/// What the rules look at in one event.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts<'a> {
    /// Its type.
    pub kind: &'a str,
    /// Its decoy service.
    pub service: Option<&'a str>,
    /// Its decky.
    pub decky: Option<&'a str>,
    /// Its decky's LAN.
    pub lan: Option<&'a str>,
    /// Where it came from.
    pub source: Option<IpAddr>,
    /// The decoy's verdict on a login.
    pub outcome: Option<&'a str>,
    /// Whether the credentials tried are a planted lure's.
    pub lure: bool,
}

fn rule(name: &str, severity: Severity, when: Match, threshold: u32) -> Rule {
    Rule { name: name.into(), severity, when, threshold }
}

fn types(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|t| (*t).to_owned()).collect())
}

/// The rules used when the configuration gives none: an incident only when an attacker
/// does something.
pub fn default_rules() -> Vec<Rule> {
    let login = types(&["auth_attempt"]);
    vec![
        rule("lure-used", Severity::Critical, Match { types: login.clone(), lure: Some(true), ..Match::default() }, 1),
        rule(
            "login-success",
            Severity::High,
            Match { types: login.clone(), outcome: Some("success".into()), ..Match::default() },
            1,
        ),
        rule("pivot", Severity::High, Match { types: types(&["attacker.hop"]), ..Match::default() }, 1),
        rule("tunnel", Severity::High, Match { types: types(&["tunnel"]), ..Match::default() }, 1),
        rule("command", Severity::Medium, Match { types: types(&["command"]), ..Match::default() }, 1),
        rule(
            "file-access",
            Severity::Medium,
            Match { types: types(&["file_download", "file_upload"]), ..Match::default() },
            1,
        ),
        rule(
            "brute-force",
            Severity::Medium,
            Match { types: login, outcome: Some("failure".into()), ..Match::default() },
            5,
        ),
    ]
}

/// A source address or network.
fn network(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not an address or a network"))
}

fn listed(list: &Option<Vec<String>>, value: Option<&str>) -> bool {
    list.as_ref().is_none_or(|list| {
        value.is_some_and(|value| {
            list.iter().any(|item| match item.strip_suffix('*') {
                Some(prefix) => value.starts_with(prefix),
                None => item == value,
            })
        })
    })
}

fn within(networks: &[String], source: Option<IpAddr>) -> bool {
    source.is_some_and(|ip| networks.iter().filter_map(|n| network(n).ok()).any(|n| n.contains(&ip)))
}

impl Match {
    /// Whether `facts` meet every condition given.
    pub fn matches(&self, facts: &Facts<'_>) -> bool {
        listed(&self.types, Some(facts.kind))
            && listed(&self.services, facts.service)
            && listed(&self.deckies, facts.decky)
            && listed(&self.lans, facts.lan)
            && self.sources.as_ref().is_none_or(|sources| within(sources, facts.source))
            && self.outcome.as_ref().is_none_or(|o| facts.outcome == Some(o.as_str()))
            && self.lure.is_none_or(|lure| lure == facts.lure)
    }
}

impl AlertConfig {
    /// The rule an event with `facts` falls under, if any (never for ignored sources or
    /// the incidents' own events).
    pub fn rule_for(&self, facts: &Facts<'_>) -> Option<&Rule> {
        if facts.kind.starts_with("incident.") || within(&self.ignore.sources, facts.source) {
            return None;
        }
        self.rules.iter().find(|rule| rule.when.matches(facts))
    }

    /// Checks the section; the error names the key (`alerts.rules[2].when.sources`).
    pub fn check(&self) -> Result<(), (String, String)> {
        let mut names = std::collections::BTreeSet::new();
        for (n, source) in self.ignore.sources.iter().enumerate() {
            network(source).map_err(|m| (format!("alerts.ignore.sources[{n}]"), m))?;
        }
        if !(1..=30 * 86_400).contains(&self.fold_window_secs) {
            return Err(("alerts.fold_window_secs".into(), "between 1 second and 30 days".into()));
        }
        for (n, rule) in self.rules.iter().enumerate() {
            let at = |key: &str| format!("alerts.rules[{n}].{key}");
            let valid = (1..=64).contains(&rule.name.len())
                && rule.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err((at("name"), "1 to 64 letters, digits, '-' or '_'".into()));
            }
            if !names.insert(rule.name.as_str()) {
                return Err((at("name"), format!("{:?} names two rules", rule.name)));
            }
            if !(1..=100_000).contains(&rule.threshold) {
                return Err((at("threshold"), "between 1 and 100000".into()));
            }
            for (m, source) in rule.when.sources.iter().flatten().enumerate() {
                network(source).map_err(|msg| (at(&format!("when.sources[{m}]")), msg))?;
            }
            if let Some(outcome) = &rule.when.outcome
                && !matches!(outcome.as_str(), "success" | "failure")
            {
                return Err((at("when.outcome"), "success or failure".into()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn login(outcome: &str) -> Facts<'static> {
        Facts {
            kind: "auth_attempt",
            service: Some("ssh"),
            decky: Some("web01"),
            lan: Some("dmz"),
            source: Some("203.0.113.9".parse().unwrap()),
            outcome: Some(if outcome == "success" { "success" } else { "failure" }),
            lure: false,
        }
    }

    #[test]
    fn the_defaults_alert_on_what_an_attacker_does_not_on_scans() {
        let config = AlertConfig::default();
        let name = |facts: &Facts<'_>| config.rule_for(facts).map(|r| r.name.clone());
        assert_eq!(name(&login("success")).as_deref(), Some("login-success"));
        assert_eq!(config.rule_for(&login("success")).unwrap().severity, Severity::High);
        let failure = config.rule_for(&login("failure")).unwrap();
        assert_eq!((failure.name.as_str(), failure.threshold), ("brute-force", 5));
        assert_eq!(name(&Facts { lure: true, ..login("failure") }).as_deref(), Some("lure-used"));
        for quiet in ["connect", "handshake", "request", "disconnect", "rejected", "protocol_error"] {
            assert_eq!(name(&Facts { kind: quiet, outcome: None, ..login("failure") }), None, "{quiet}");
        }
        assert_eq!(name(&Facts { kind: "attacker.hop", ..Facts::default() }).as_deref(), Some("pivot"));
        assert_eq!(name(&Facts { kind: "incident.opened", ..Facts::default() }), None, "never its own events");
    }

    #[test]
    fn ignored_sources_and_networks_make_no_incident() {
        let config = AlertConfig {
            ignore: Ignore { sources: vec!["203.0.113.0/24".into(), "198.51.100.4".into()] },
            ..AlertConfig::default()
        };
        assert!(config.rule_for(&login("success")).is_none());
        let other = Facts { source: Some("198.51.100.4".parse().unwrap()), ..login("success") };
        assert!(config.rule_for(&other).is_none());
        let outside = Facts { source: Some("198.51.100.5".parse().unwrap()), ..login("success") };
        assert!(config.rule_for(&outside).is_some());
    }

    #[test]
    fn conditions_on_service_decky_lan_and_prefixes_all_hold() {
        let when = Match {
            types: Some(vec!["file_*".into()]),
            services: Some(vec!["smb".into()]),
            lans: Some(vec!["finance".into()]),
            ..Match::default()
        };
        let facts = Facts { kind: "file_download", service: Some("smb"), lan: Some("finance"), ..Facts::default() };
        assert!(when.matches(&facts));
        assert!(!when.matches(&Facts { lan: Some("dmz"), ..facts }));
        assert!(!when.matches(&Facts { kind: "command", ..facts }));
        assert!(!when.matches(&Facts { service: None, ..facts }));
    }

    #[test]
    fn a_bad_section_names_the_key() {
        let mut config = AlertConfig::default();
        config.rules[1].when.sources = Some(vec!["nowhere".into()]);
        assert_eq!(config.check().unwrap_err().0, "alerts.rules[1].when.sources[0]");
        let mut config = AlertConfig::default();
        config.rules[2].name = config.rules[0].name.clone();
        assert_eq!(config.check().unwrap_err().0, "alerts.rules[2].name");
        let config = AlertConfig { ignore: Ignore { sources: vec!["x".into()] }, ..AlertConfig::default() };
        assert_eq!(config.check().unwrap_err().0, "alerts.ignore.sources[0]");
        assert!(AlertConfig::default().check().is_ok());
    }
}
