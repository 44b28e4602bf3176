//! The engine's own counters for `GET /metrics`: events stored per service and type,
//! sessions per service, mutations applied and refused with how long they waited, and
//! convergence and healing passes. Labels are the catalogue's service slugs and the
//! decoys' event types (checked when collected), so their number stays bounded.

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, exponential_buckets,
};

/// The engine's counters (clones share them).
#[derive(Debug, Clone)]
pub struct Metrics {
    events: IntCounterVec,
    sessions: IntCounterVec,
    mutations: IntCounterVec,
    mutation_latency: Histogram,
    converges: IntCounter,
    heals: IntCounter,
    decoy_memory: IntGaugeVec,
    decoy_memory_max: IntGaugeVec,
    decoys: IntGaugeVec,
}

// The names, help texts, labels and buckets below are constants that the unit test builds:
// they cannot be refused at run time.
fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| unreachable!("metric {name}: {e}"))
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| unreachable!("metric {name}: {e}"))
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).unwrap_or_else(|e| unreachable!("metric {name}: {e}"))
}

impl Default for Metrics {
    fn default() -> Self {
        // 1 ms to about 33 s.
        let buckets = exponential_buckets(0.001, 2.0, 16).unwrap_or_else(|e| unreachable!("buckets: {e}"));
        let latency =
            HistogramOpts::new("decnet_mutation_latency_seconds", "Time from queueing a mutation to settling it")
                .buckets(buckets);
        Self {
            events: counter_vec(
                "decnet_events_total",
                "Events stored, by decoy service and event type",
                &["service", "type"],
            ),
            sessions: counter_vec(
                "decnet_sessions_total",
                "Attacker sessions (connections) opened, by decoy service",
                &["service"],
            ),
            mutations: counter_vec("decnet_mutations_total", "Mutations settled, by outcome", &["outcome"]),
            mutation_latency: Histogram::with_opts(latency).unwrap_or_else(|e| unreachable!("histogram: {e}")),
            converges: counter("decnet_converge_passes_total", "Convergence passes of a topology"),
            heals: counter("decnet_heal_passes_total", "Healing passes over every deployed topology"),
            decoy_memory: gauge_vec(
                "decnet_decoy_memory_bytes",
                "Memory of the running decoy containers, summed by service",
                &["service"],
            ),
            decoy_memory_max: gauge_vec(
                "decnet_decoy_memory_max_bytes",
                "Memory of the largest running decoy container of a service",
                &["service"],
            ),
            decoys: gauge_vec(
                "decnet_decoy_containers",
                "Running decoy containers whose memory was read, by service",
                &["service"],
            ),
        }
    }
}

impl Metrics {
    /// An event of `kind` stored for `service` (`engine` for the engine's own).
    pub(crate) fn event(&self, service: Option<&str>, kind: &str) {
        let service = service.unwrap_or("engine");
        self.events.with_label_values(&[service, kind]).inc();
        if kind == "connect" {
            self.sessions.with_label_values(&[service]).inc();
        }
    }

    /// A mutation settled (`applied` or `refused`) `waited` seconds after it was queued.
    pub(crate) fn mutation(&self, outcome: &str, waited: f64) {
        self.mutations.with_label_values(&[outcome]).inc();
        self.mutation_latency.observe(waited.max(0.0));
    }

    /// A convergence pass of one topology.
    pub(crate) fn converged(&self) {
        self.converges.inc();
    }

    /// A healing pass over every deployed topology.
    pub(crate) fn healed(&self) {
        self.heals.inc();
    }

    /// Replaces the decoy memory gauges with a sample of (service, bytes) per container.
    pub(crate) fn decoy_memory(&self, sample: &[(String, u64)]) {
        let mut by_service: std::collections::BTreeMap<&str, (i64, i64, i64)> = std::collections::BTreeMap::new();
        for (service, bytes) in sample {
            let bytes = i64::try_from(*bytes).unwrap_or(i64::MAX);
            let entry = by_service.entry(service).or_default();
            *entry = (entry.0 + 1, entry.1.saturating_add(bytes), entry.2.max(bytes));
        }
        for gauge in [&self.decoy_memory, &self.decoy_memory_max, &self.decoys] {
            gauge.reset();
        }
        for (service, (count, total, max)) in by_service {
            self.decoys.with_label_values(&[service]).set(count);
            self.decoy_memory.with_label_values(&[service]).set(total);
            self.decoy_memory_max.with_label_values(&[service]).set(max);
        }
    }

    /// Registers every counter (shared, not copied) in `registry`.
    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.events.clone()))?;
        registry.register(Box::new(self.sessions.clone()))?;
        registry.register(Box::new(self.mutations.clone()))?;
        registry.register(Box::new(self.mutation_latency.clone()))?;
        registry.register(Box::new(self.converges.clone()))?;
        registry.register(Box::new(self.heals.clone()))?;
        registry.register(Box::new(self.decoy_memory.clone()))?;
        registry.register(Box::new(self.decoy_memory_max.clone()))?;
        registry.register(Box::new(self.decoys.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constant_metrics_build_and_register_once() {
        let metrics = Metrics::default();
        metrics.event(Some("ssh"), "connect");
        let registry = Registry::new();
        assert!(metrics.register(&registry).is_ok());
        assert!(metrics.register(&registry).is_err(), "a second registration is refused, not doubled");
        assert_eq!(metrics.sessions.with_label_values(&["ssh"]).get(), 1);
        metrics.decoy_memory(&[("ssh".into(), 4 << 20), ("ssh".into(), 5 << 20), ("http".into(), 3 << 20)]);
        assert_eq!(metrics.decoy_memory.with_label_values(&["ssh"]).get(), 9 << 20);
        assert_eq!(metrics.decoy_memory_max.with_label_values(&["ssh"]).get(), 5 << 20);
        assert_eq!(metrics.decoys.with_label_values(&["http"]).get(), 1);
    }
}
