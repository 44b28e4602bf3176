//! Each transport against a real receiver on loopback: the file (rotation and retention),
//! the webhook (signature, a failure answered then retried), the bulk endpoint (its
//! format and ECS fields, a repeated batch not doubled).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::path::Path;

use decnet_sinks::{Config, SinkConfig};
use serde_json::Value;

fn sink(yaml: &str) -> SinkConfig {
    Config::parse(Path::new("test.yaml"), &format!("sinks:\n  - name: under-test\n{yaml}")).unwrap().sinks.remove(0)
}

#[tokio::test]
async fn the_file_sink_writes_json_lines_rotates_by_size_and_keeps_only_keep_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs/events.jsonl");
    let config = sink(&format!("    file: {{ path: {:?}, max_bytes: 4096, keep: 2 }}\n", path.display().to_string()));
    let mut file = decnet_sinks::open(&config).unwrap();
    let events: Vec<_> = (1..=200).map(common::event).collect();
    for batch in events.chunks(7) {
        file.deliver(batch).await.unwrap();
    }
    let rotated = |n: u32| dir.path().join(format!("logs/events.jsonl.{n}"));
    assert!(rotated(1).exists() && rotated(2).exists(), "rotated twice at least");
    assert!(!rotated(3).exists(), "only two rotated files are kept");
    let mut ids = Vec::new();
    for file in [rotated(2), rotated(1), path.clone()] {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.len() <= 4096, "{} is {} bytes, over its bound", file.display(), text.len());
        for line in text.lines() {
            let event: Value = serde_json::from_str(line).unwrap();
            ids.push(event["id"].as_i64().unwrap());
        }
    }
    let newest: Vec<i64> = (201 - ids.len() as i64..=200).collect();
    assert_eq!(ids, newest, "the newest events, in order, none cut");
}

#[tokio::test]
async fn the_webhook_is_signed_and_a_failed_batch_is_delivered_again() {
    let receiver = common::Receiver::start((200, "{}")).await;
    receiver.script.lock().unwrap().push_back((500, "{}".into()));
    let config = sink(&format!("    webhook: {{ url: {:?}, secret: s3cret }}\n", receiver.url("/hook")));
    let mut hook = decnet_sinks::open(&config).unwrap();
    let batch: Vec<_> = (1..=3).map(common::event).collect();
    let refused = hook.deliver(&batch).await.unwrap_err().to_string();
    assert!(refused.contains("500"), "{refused}");
    hook.deliver(&batch).await.unwrap();
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2, "the failed attempt, then the one that succeeded");
    for request in &requests {
        assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/hook"));
        let timestamp = request.header("x-decnet-timestamp").unwrap();
        let expected = decnet_sinks::signature("s3cret", timestamp, &request.body);
        assert_eq!(request.header("x-decnet-signature"), Some(expected.as_str()));
        assert_ne!(decnet_sinks::signature("wrong", timestamp, &request.body), expected);
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let ids: Vec<i64> = body["events"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(body["events"][0]["payload"]["principal"], "user1");
    }
}

#[tokio::test]
async fn the_bulk_sink_sends_ecs_documents_created_once_by_log_id() {
    let ok = r#"{"errors":false,"items":[]}"#;
    let receiver = common::Receiver::start((200, ok)).await;
    let config = sink(&format!("    elasticsearch: {{ url: {:?}, index: decnet-test }}\n", receiver.url("")));
    let mut bulk = decnet_sinks::open(&config).unwrap();
    let batch: Vec<_> = (10..=11).map(common::event).collect();
    bulk.deliver(&batch).await.unwrap();
    let request = &receiver.requests()[0];
    assert_eq!(request.path, "/_bulk");
    assert_eq!(request.header("content-type"), Some("application/x-ndjson"));
    let text = String::from_utf8(request.body.clone()).unwrap();
    assert!(text.ends_with('\n'), "NDJSON ends with a newline");
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4, "an action and a document per event");
    assert_eq!(lines[0]["create"]["_index"], "decnet-test");
    assert_eq!(lines[0]["create"]["_id"], "decnet-10");
    let doc = &lines[1];
    for (field, value) in [
        ("/source/ip", "203.0.113.7"),
        ("/host/name", "web01"),
        ("/event/action", "auth_attempt"),
        ("/user/name", "user10"),
        ("/event/outcome", "failure"),
        ("/service/name", "ssh"),
    ] {
        assert_eq!(doc.pointer(field).and_then(Value::as_str), Some(value), "{field} in {doc}");
    }
    assert!(doc["@timestamp"].as_str().unwrap().ends_with('Z'));

    // A repeated batch answered with 409s is delivered; another error is retried.
    let conflict =
        r#"{"errors":true,"items":[{"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}}]}"#;
    receiver.script.lock().unwrap().push_back((200, conflict.into()));
    bulk.deliver(&batch).await.unwrap();
    let refused = r#"{"errors":true,"items":[{"create":{"status":400,"error":{"type":"mapper_parsing_exception"}}}]}"#;
    receiver.script.lock().unwrap().push_back((200, refused.into()));
    let err = bulk.deliver(&batch).await.unwrap_err().to_string();
    assert!(err.contains("mapper_parsing_exception"), "{err}");
    assert_eq!(receiver.requests().len(), 3);
}
