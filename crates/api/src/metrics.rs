//! `GET /metrics`: Prometheus metrics in the text exposition format (0.0.4). The
//! engine's own counters (events, sessions, mutations and their latency, convergence and
//! healing), the queue's depth, every sink's delivered, retried, dropped and spooled
//! events, and HTTP requests by route and status. Counts only, never attacker data; like
//! `/healthz` it needs no token, so that a scraper can read it (bind the API to an
//! address only the scraper reaches).

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder as _, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::{ApiError, AppState};

/// HTTP requests answered, by method, route (the route's pattern, so its number is
/// bounded) and status.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        let opts = Opts::new("decnet_http_requests_total", "HTTP requests answered, by method, route and status");
        // A constant name and labels: never refused.
        let requests = IntCounterVec::new(opts, &["method", "route", "status"]).unwrap_or_else(|e| unreachable!("{e}"));
        Self { requests }
    }
}

/// Counts each request once answered.
pub(crate) async fn count(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    state.http.requests.with_label_values(&[method.as_str(), route.as_str(), status.as_str()]).inc();
    response
}

fn failed(err: prometheus::Error) -> ApiError {
    ApiError::internal(format!("metrics: {err}"))
}

/// Prometheus metrics.
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let registry = Registry::new();
    state.engine.metrics().register(&registry).map_err(failed)?;
    let depth = IntGauge::new("decnet_mutation_queue_depth", "Mutations queued or being applied").map_err(failed)?;
    depth.set(state.engine.store().open_mutations().await?);
    registry.register(Box::new(depth)).map_err(failed)?;
    let labels = ["sink", "kind"];
    let family = |name: &str, help: &str| IntGaugeVec::new(Opts::new(name, help), &labels).map_err(failed);
    let sink_counter = |name: &str, help: &str| IntCounterVec::new(Opts::new(name, help), &labels).map_err(failed);
    let delivered = sink_counter("decnet_sink_delivered_events_total", "Events a sink delivered (this process)")?;
    let retried = sink_counter("decnet_sink_retries_total", "Failed delivery attempts of a sink, each retried")?;
    let dropped =
        sink_counter("decnet_sink_dropped_events_total", "Events a sink skipped: spool full, or pruned first")?;
    let spooled = family("decnet_sink_spooled_events", "Events waiting for a sink")?;
    let healthy = family("decnet_sink_healthy", "1 when a sink's last attempt succeeded")?;
    for sink in state.sinks.statuses() {
        let values = [sink.name.as_str(), sink.kind.as_str()];
        delivered.with_label_values(&values).inc_by(sink.delivered);
        retried.with_label_values(&values).inc_by(sink.retried);
        dropped.with_label_values(&values).inc_by(sink.dropped);
        spooled.with_label_values(&values).set(i64::try_from(sink.spooled).unwrap_or(i64::MAX));
        healthy.with_label_values(&values).set(i64::from(sink.healthy));
    }
    for collector in [delivered, retried, dropped] {
        registry.register(Box::new(collector)).map_err(failed)?;
    }
    for collector in [spooled, healthy] {
        registry.register(Box::new(collector)).map_err(failed)?;
    }
    registry.register(Box::new(state.http.requests.clone())).map_err(failed)?;
    let encoder = TextEncoder::new();
    let text = encoder.encode_to_string(&registry.gather()).map_err(failed)?;
    Ok(([(CONTENT_TYPE, encoder.format_type().to_owned())], text).into_response())
}
