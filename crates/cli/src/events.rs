//! `decnet events`: the recorded events (from whichever backend), with `--follow`
//! printing new ones as they are recorded.
//!
//! The listing and the follow loop share one cursor (the last event id shown), so
//! nothing is shown twice and nothing recorded in between is skipped.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use crate::args::EventsArgs;
use crate::backend::Backend;

/// How often `--follow` looks for new events.
const FOLLOW_POLL: Duration = Duration::from_millis(500);

/// One line per event: time, kind, where, who, what.
fn line(event: &Value) -> String {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let payload = &event["payload"];
    let place = match (text(&event["decky"]), text(&event["service"])) {
        (Some(d), Some(s)) => format!("{d}/{s}"),
        (Some(d), None) => d,
        _ => text(&event["topology_id"]).map(|t| t.chars().take(8).collect()).unwrap_or_default(),
    };
    let mut what = Vec::new();
    if let Some(src) = text(&event["source_ip"]) {
        what.push(format!("from {src}"));
    }
    if let Some(principal) = text(&payload["principal"]) {
        what.push(format!("as {principal}"));
    }
    if let Some(secret) = payload["secret"]["value"].as_str() {
        what.push(format!("secret {secret:?}"));
    }
    if let Some(command) = text(&payload["command"]) {
        what.push(format!("{command:?}"));
    }
    for key in ["op", "to", "state", "reason"] {
        if let Some(value) = text(&payload[key]) {
            what.push(format!("{key}={value}"));
        }
    }
    let at = text(&event["at"]).unwrap_or_default();
    format!(
        "{:<27} {:<18} {:<28} {}",
        at.get(..26).unwrap_or(&at),
        text(&event["kind"]).unwrap_or_default(),
        place,
        what.join(" ")
    )
}

async fn page(backend: &dyn Backend, args: &EventsArgs, after: Option<i64>, limit: i64) -> anyhow::Result<Vec<Value>> {
    let events = backend.events(args, after, limit).await?;
    Ok(events.iter().map(|e| serde_json::to_value(e).unwrap_or(Value::Null)).collect())
}

/// The newest `limit` events (oldest first), then, with `--follow`, every new one.
pub async fn run(backend: &dyn Backend, args: &EventsArgs, json: bool) -> anyhow::Result<ExitCode> {
    // The newest `limit`: walk forward in pages and keep the tail.
    let mut shown: std::collections::VecDeque<Value> = std::collections::VecDeque::new();
    let mut cursor = None;
    loop {
        let events = page(backend, args, cursor, 1000).await?;
        let full = events.len() == 1000;
        for event in events {
            cursor = event["id"].as_i64().or(cursor);
            shown.push_back(event);
            if shown.len() > args.limit as usize {
                shown.pop_front();
            }
        }
        if !full {
            break;
        }
    }
    let print = |event: &Value| {
        if json {
            println!("{event}");
        } else {
            println!("{}", line(event));
        }
    };
    shown.iter().for_each(print);
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(ExitCode::SUCCESS),
            () = tokio::time::sleep(FOLLOW_POLL) => {}
        }
        for event in page(backend, args, cursor, 1000).await? {
            cursor = event["id"].as_i64().or(cursor);
            print(&event);
        }
    }
}
