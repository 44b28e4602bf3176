//! The wire formats: JSON lines, RFC 5424 syslog messages, ECS documents.
//!
//! Attacker-written strings (usernames, commands, paths, headers in payloads) are only
//! ever encoded: as JSON strings (control characters escaped, so no line or frame can be
//! forged) or as RFC 5424 parameter values (`"`, `\` and `]` escaped); every message is
//! bounded in size.

use chrono::SecondsFormat;
use serde_json::{Map, Value, json};

use crate::SinkEvent;

/// Largest syslog message, in bytes (rsyslog's default limit is 8 KiB).
pub const MAX_SYSLOG_BYTES: usize = 8000;

/// The private enterprise number of DECNET's structured data (RFC 5424 §7.2.2 reserves
/// 32473 for documentation; an operator with a number of their own may prefer it).
const SD_ID: &str = "decnet@32473";

/// The event as one JSON line (with its newline).
pub fn json_line(event: &SinkEvent) -> Vec<u8> {
    let mut line = serde_json::to_vec(event).unwrap_or_else(|_| b"{}".to_vec());
    line.push(b'\n');
    line
}

/// The event as an RFC 5424 message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID [SD] MSG`,
/// the MSGID its type, the structured data its topology, decky, service and source, the
/// message its JSON; cut to [`MAX_SYSLOG_BYTES`] (the JSON then ends with `…`).
pub fn rfc5424(event: &SinkEvent, facility: u8, hostname: &str, app_name: &str) -> Vec<u8> {
    // Severity: notice for what an attacker did, informational for the engine's own.
    let severity = if event.service.is_some() { 5 } else { 6 };
    let pri = u16::from(facility) * 8 + severity;
    let mut params = String::new();
    for (key, value) in [
        ("id", Some(event.id.to_string())),
        ("topology", event.topology_id.clone()),
        ("decky", event.decky.clone()),
        ("service", event.service.clone()),
        ("src", event.source_ip.clone()),
    ] {
        if let Some(value) = value {
            params.push_str(&format!(" {key}=\"{}\"", sd_escape(&value)));
        }
    }
    let header = format!(
        "<{pri}>1 {} {} {} - {} [{SD_ID}{params}] ",
        event.timestamp.to_rfc3339_opts(SecondsFormat::Micros, true),
        header_field(hostname),
        header_field(app_name),
        header_field(&event.kind),
    );
    let mut message = header.into_bytes();
    let body = serde_json::to_string(&event.payload).unwrap_or_default();
    let room = MAX_SYSLOG_BYTES.saturating_sub(message.len());
    if body.len() <= room {
        message.extend_from_slice(body.as_bytes());
    } else {
        let mut cut = room.saturating_sub('…'.len_utf8());
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        message.extend_from_slice(&body.as_bytes()[..cut]);
        message.extend_from_slice("…".as_bytes());
    }
    message
}

/// A header field: printable ASCII without spaces, at most 48 characters, `-` when empty.
fn header_field(text: &str) -> String {
    let field: String = text.chars().filter(|c| c.is_ascii_graphic()).take(48).collect();
    if field.is_empty() { "-".into() } else { field }
}

/// An SD-PARAM value: `"`, `\` and `]` escaped (RFC 5424 §6.3.3), control characters
/// dropped, at most 256 characters.
fn sd_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars().filter(|c| !c.is_control()).take(256) {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The event as an Elastic Common Schema document.
pub fn ecs(event: &SinkEvent) -> Value {
    let mut doc = Map::new();
    doc.insert("@timestamp".into(), json!(event.timestamp.to_rfc3339_opts(SecondsFormat::Micros, true)));
    let attacker = event.service.is_some();
    // The decoys' event types (version 2 of their schema), mapped to ECS categories.
    let category = match event.kind.as_str() {
        "auth_attempt" => "authentication",
        "connect" | "disconnect" | "rejected" | "tunnel" | "handshake" => "network",
        "command" => "process",
        "file_download" | "file_upload" => "file",
        "request" => "web",
        _ if attacker => "intrusion_detection",
        _ => "configuration",
    };
    let mut ecs_event = json!({
        "kind": if attacker { "alert" } else { "event" },
        "category": [category],
        "action": event.kind,
        "dataset": format!("decnet.{}", event.service.as_deref().unwrap_or("engine")),
        "module": "decnet",
        "id": event.id.to_string(),
    });
    let outcome = event.payload.pointer("/details/outcome").and_then(Value::as_str);
    if let Some(outcome) = outcome.filter(|o| matches!(*o, "success" | "failure")) {
        ecs_event["outcome"] = json!(outcome);
    }
    doc.insert("event".into(), ecs_event);
    let field = |name: &str| event.payload.get(name).and_then(Value::as_str);
    if let Some(ip) = &event.source_ip {
        let mut source = json!({ "ip": ip });
        if let Some(port) = event.payload.get("src_port").and_then(Value::as_u64) {
            source["port"] = json!(port);
        }
        doc.insert("source".into(), source);
    }
    if let (Some(ip), Some(port)) = (field("dst_ip"), event.payload.get("dst_port").and_then(Value::as_u64)) {
        doc.insert("destination".into(), json!({ "ip": ip, "port": port }));
    }
    if let Some(decky) = &event.decky {
        doc.insert("host".into(), json!({ "name": decky }));
    }
    if let Some(service) = &event.service {
        doc.insert("service".into(), json!({ "name": service }));
    }
    if let Some(user) = field("principal") {
        doc.insert("user".into(), json!({ "name": user }));
    }
    if let Some(command) = field("command") {
        doc.insert("process".into(), json!({ "command_line": command }));
    }
    doc.insert("observer".into(), json!({ "type": "honeypot", "product": "decnet", "vendor": "decnet" }));
    if let Some(topology) = &event.topology_id {
        doc.insert("labels".into(), json!({ "topology_id": topology }));
    }
    doc.insert("decnet".into(), json!({ "payload": event.payload }));
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn event(payload: Value) -> SinkEvent {
        SinkEvent {
            id: 42,
            timestamp: chrono::DateTime::parse_from_rfc3339("2026-12-07T10:00:00.5Z").unwrap().into(),
            kind: "ssh.login".into(),
            topology_id: Some("t-1".into()),
            decky: Some("web01".into()),
            service: Some("ssh".into()),
            source_ip: Some("203.0.113.9".into()),
            payload,
        }
    }

    #[test]
    fn a_syslog_message_has_the_rfc5424_header_and_escaped_structured_data() {
        let mut hostile = event(json!({ "username": "root\n<13>1 forged", "success": false }));
        hostile.decky = Some("we\"b]0\\1".into());
        let text = String::from_utf8(rfc5424(&hostile, 16, "sensor", "decnet")).unwrap();
        assert!(
            text.starts_with("<133>1 2026-12-07T10:00:00.500000Z sensor decnet - ssh.login [decnet@32473 id=\"42\""),
            "{text}"
        );
        assert!(text.contains(r#"decky="we\"b\]0\\1""#), "{text}");
        assert!(!text.contains('\n'), "an attacker's newline stays escaped: {text}");
        assert!(text.ends_with(r#"{"username":"root\n<13>1 forged","success":false}"#), "{text}");
    }

    #[test]
    fn a_syslog_message_is_cut_to_its_bound_on_a_character_boundary() {
        let text = rfc5424(&event(json!({ "command": "é".repeat(10_000) })), 16, "h", "a");
        assert!(text.len() <= MAX_SYSLOG_BYTES);
        assert!(String::from_utf8(text).unwrap().ends_with('…'));
    }

    #[test]
    fn an_ecs_document_names_source_host_user_and_outcome() {
        let mut login = event(json!({ "principal": "admin", "src_port": 40022, "details": { "outcome": "success" } }));
        login.kind = "auth_attempt".into();
        let doc = ecs(&login);
        assert_eq!(doc["source"]["ip"], "203.0.113.9");
        assert_eq!(doc["host"]["name"], "web01");
        assert_eq!(doc["user"]["name"], "admin");
        assert_eq!(doc["event"]["action"], "auth_attempt");
        assert_eq!(doc["source"]["port"], 40022);
        assert_eq!(doc["event"]["category"], json!(["authentication"]));
        assert_eq!(doc["event"]["outcome"], "success");
        assert_eq!(doc["@timestamp"], "2026-12-07T10:00:00.500000Z");
    }

    #[test]
    fn a_json_line_is_one_line() {
        let line = json_line(&event(json!({ "command": "a\nb" })));
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        let back: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(back["type"], "ssh.login");
    }
}
