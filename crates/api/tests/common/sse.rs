//! A reader of the API's server-sent event streams, for the tests.

use std::pin::Pin;
use std::time::Duration;

use axum::http::StatusCode;
use futures_util::{Stream, StreamExt};
use serde_json::Value;

use super::Server;

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct Frame {
    pub id: Option<i64>,
    pub event: String,
    pub data: Value,
}

/// A reader of one event stream.
pub struct SseClient {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>>,
    buffer: String,
}

impl SseClient {
    pub async fn open(
        server: &Server,
        topology: &str,
        last_event_id: Option<i64>,
    ) -> Result<Self, (StatusCode, Value)> {
        let request = server
            .client
            .get(format!("{}/api/v1/topologies/{topology}/events", server.base))
            .bearer_auth(&server.token);
        Self::send(request, last_event_id).await
    }

    /// A stream opened with a single-use ticket instead of a bearer token.
    pub async fn open_with_ticket(server: &Server, topology: &str, ticket: &str) -> Result<Self, (StatusCode, Value)> {
        let request = server.client.get(format!("{}/api/v1/topologies/{topology}/events?ticket={ticket}", server.base));
        Self::send(request, None).await
    }

    async fn send(
        mut request: reqwest::RequestBuilder,
        last_event_id: Option<i64>,
    ) -> Result<Self, (StatusCode, Value)> {
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        if status != StatusCode::OK {
            return Err((status, response.json().await.unwrap_or(Value::Null)));
        }
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Ok(Self { body: Box::pin(response.bytes_stream()), buffer: String::new() })
    }

    /// The next event (keep-alive comments skipped), within a bound.
    pub async fn next(&mut self) -> Frame {
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let (mut id, mut event, mut data) = (None, String::from("message"), String::new());
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("id:") {
                            id = Some(v.trim().parse().unwrap());
                        } else if let Some(v) = line.strip_prefix("event:") {
                            event = v.trim().to_owned();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.trim_start());
                        }
                    }
                    if data.is_empty() {
                        continue; // a comment (keep-alive)
                    }
                    return Frame { id, event, data: serde_json::from_str(&data).unwrap() };
                }
                let chunk = self.body.next().await.expect("the stream ended").unwrap();
                self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
            }
        })
        .await
        .expect("an event within 30 s")
    }

    /// Events until `stop` holds for one (included).
    pub async fn until(&mut self, stop: impl Fn(&Frame) -> bool) -> Vec<Frame> {
        let mut frames = Vec::new();
        loop {
            let frame = self.next().await;
            let last = stop(&frame);
            frames.push(frame);
            if last {
                return frames;
            }
        }
    }
}
