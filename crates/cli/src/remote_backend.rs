//! [`Backend`] over the HTTP API (`--server`): each command is a request to a running
//! `decnet serve`, its answer read into the same wire types the local backend builds.

use anyhow::Context as _;
use async_trait::async_trait;
use decnet_api::wire::{
    ArchetypeList, AttackerDetail, AttackerList, DiskStatus, Enqueued, EventRow, IncidentList, LureList, MutationRow,
    PlacementRequest, PlacementView, PlanResult, ReapReport, ServiceList, StatusEventRow, TopologyDetail, TopologyPage,
    TopologySummary, ValidationReport,
};
use decnet_domain::document::TopologyDocument;
use serde_json::{Value, json};

use crate::args::{EventsArgs, GenerateArgs, IncidentsArgs, StatusArgs};
use crate::backend::{Backend, LIST_LIMIT, generator_config, parse_name, progress_line};
use crate::remote::{Remote, encode};

const TOPOLOGIES: &str = "/api/v1/topologies";

/// The path of the attackers (`suffix`: `/ID` for one), scoped to a topology if given.
fn attackers_path(suffix: &str, topology: Option<&str>) -> String {
    match topology {
        Some(key) => format!("/api/v1/attackers{suffix}?topology={}", encode(key)),
        None => format!("/api/v1/attackers{suffix}"),
    }
}

/// The path of one topology.
fn topology_path(key: &str) -> String {
    format!("{TOPOLOGIES}/{}", encode(key))
}

#[async_trait]
impl Backend for Remote {
    async fn services(&self) -> anyhow::Result<ServiceList> {
        self.get_as(&format!("{TOPOLOGIES}/services")).await
    }

    async fn archetypes(&self) -> anyhow::Result<ArchetypeList> {
        self.get_as(&format!("{TOPOLOGIES}/archetypes")).await
    }

    async fn list(&self, status: Option<&str>) -> anyhow::Result<TopologyPage> {
        let query = status.map(|s| format!("&status={}", encode(s))).unwrap_or_default();
        self.get_as(&format!("{TOPOLOGIES}?limit={LIST_LIMIT}{query}")).await
    }

    async fn show(&self, key: &str) -> anyhow::Result<TopologyDetail> {
        self.get_as(&topology_path(key)).await
    }

    async fn generate(&self, args: &GenerateArgs) -> anyhow::Result<TopologySummary> {
        let name = parse_name(&args.name)?;
        let config = generator_config(args)?;
        eprintln!("generating {name} (seed {})...", config.seed);
        let body = json!({
            "name": name,
            "depth": config.depth,
            "branching_factor": config.branching,
            "deckies_per_lan_min": config.deckies_per_lan_min,
            "deckies_per_lan_max": config.deckies_per_lan_max,
            "bridge_forward_probability": config.bridge_forward_p,
            "cross_edge_probability": config.cross_edge_p,
            "randomize_services": config.services.is_none(),
            "services_explicit": config.services,
            "seed": config.seed,
            "subnet_base": config.subnet_base.to_string(),
            "gateway": config.gateway,
            "lures": config.lures,
            "dmz_attachment": config.dmz_attachment,
            "dmz_subnet": config.dmz_subnet.map(|s| s.to_string()),
        });
        self.send_as(reqwest::Method::POST, TOPOLOGIES, Some(body)).await
    }

    async fn create(&self, document: TopologyDocument, _source: &str) -> anyhow::Result<TopologySummary> {
        let body = serde_json::to_value(document).context("encoding the document")?;
        self.send_as(reqwest::Method::POST, &format!("{TOPOLOGIES}/import"), Some(body)).await
    }

    async fn validate(&self, key: &str) -> anyhow::Result<ValidationReport> {
        self.get_as(&format!("{}/validate", topology_path(key))).await
    }

    async fn export(&self, key: &str) -> anyhow::Result<TopologyDocument> {
        self.get_as(&format!("{}/export", topology_path(key))).await
    }

    async fn delete(&self, key: &str) -> anyhow::Result<uuid::Uuid> {
        let id = self.show(key).await?.topology.id;
        self.send(reqwest::Method::DELETE, &topology_path(&id.to_string()), None).await?;
        Ok(id)
    }

    async fn mutations(&self, key: &str, state: Option<&str>) -> anyhow::Result<Vec<MutationRow>> {
        let query = state.map(|s| format!("?state={}", encode(s))).unwrap_or_default();
        self.get_as(&format!("{}/mutations{query}", topology_path(key))).await
    }

    async fn lures(&self, key: &str) -> anyhow::Result<LureList> {
        self.get_as(&format!("{}/lures", topology_path(key))).await
    }

    async fn placement(&self, key: &str) -> anyhow::Result<PlacementView> {
        self.get_as(&format!("{}/placement", topology_path(key))).await
    }

    async fn set_placement(&self, key: &str, placement: PlacementRequest) -> anyhow::Result<PlacementView> {
        let body = serde_json::to_value(placement).context("encoding the placement")?;
        self.send_as(reqwest::Method::PUT, &format!("{}/placement", topology_path(key)), Some(body)).await
    }

    async fn history(&self, key: &str, limit: i64) -> anyhow::Result<Vec<StatusEventRow>> {
        self.get_as(&format!("{}/status-events?limit={limit}", topology_path(key))).await
    }

    async fn enqueue(
        &self,
        key: &str,
        op: &str,
        payload: &Value,
        expected_version: Option<i64>,
    ) -> anyhow::Result<Enqueued> {
        let body = json!({ "op": op, "payload": payload, "expected_version": expected_version });
        self.send_as(reqwest::Method::POST, &format!("{}/mutations", topology_path(key)), Some(body)).await
    }

    async fn plan(&self, key: &str, op: &str, payload: &Value) -> anyhow::Result<PlanResult> {
        let body = json!({ "op": op, "payload": payload });
        self.send_as(reqwest::Method::POST, &format!("{}/mutations:plan", topology_path(key)), Some(body)).await
    }

    async fn deploy(&self, key: &str) -> anyhow::Result<TopologySummary> {
        self.follow(key, "deploy", &["active", "degraded", "failed"]).await
    }

    async fn teardown(&self, key: &str) -> anyhow::Result<TopologySummary> {
        self.follow(key, "teardown", &["torn_down", "failed"]).await
    }

    async fn reap_orphans(&self) -> anyhow::Result<ReapReport> {
        self.send_as(reqwest::Method::POST, &format!("{TOPOLOGIES}/reap-orphans"), None).await
    }

    async fn attackers(&self, topology: Option<&str>) -> anyhow::Result<AttackerList> {
        self.get_as(&attackers_path("", topology)).await
    }

    async fn status(&self, _args: &StatusArgs) -> anyhow::Result<DiskStatus> {
        self.get_as("/api/v1/status").await
    }

    async fn incidents(&self, args: &IncidentsArgs) -> anyhow::Result<IncidentList> {
        let mut query = format!("?limit={}", args.limit);
        if let Some(topology) = &args.topology {
            query.push_str(&format!("&topology={}", encode(topology)));
        }
        if let Some(severity) = &args.severity {
            query.push_str(&format!("&severity={}", encode(severity)));
        }
        self.get_as(&format!("/api/v1/incidents{query}")).await
    }

    async fn attacker(&self, id: &str, topology: Option<&str>) -> anyhow::Result<AttackerDetail> {
        self.get_as(&attackers_path(&format!("/{}", encode(id)), topology)).await
    }

    async fn events(&self, args: &EventsArgs, after: Option<i64>, limit: i64) -> anyhow::Result<Vec<EventRow>> {
        let mut query = vec![format!("limit={limit}")];
        for (key, value) in [
            ("topology", &args.topology),
            ("decky", &args.decky),
            ("service", &args.service),
            ("type", &args.kind),
            ("source_ip", &args.source_ip),
        ] {
            if let Some(value) = value {
                query.push(format!("{key}={}", encode(value)));
            }
        }
        if let Some(after) = after {
            query.push(format!("cursor={after}"));
        }
        let page: decnet_api::wire::EventPage = self.get_as(&format!("/api/v1/events?{}", query.join("&"))).await?;
        Ok(page.data)
    }
}

impl Remote {
    /// Starts a deploy or teardown and follows the topology's event stream until its
    /// status is one of `done`, printing each decky's progress; then the summary.
    async fn follow(&self, key: &str, action: &str, done: &[&str]) -> anyhow::Result<TopologySummary> {
        use futures_util::StreamExt as _;
        let path = topology_path(key);
        // Subscribe first, so no progress falls between the request and the stream.
        let response = self.open_stream(&format!("{path}/events")).await?;
        let started: TopologySummary = self.send_as(reqwest::Method::POST, &format!("{path}/{action}"), None).await?;
        eprintln!(
            "{action} of {} accepted; following its progress (Ctrl-C stops watching, not the {action})",
            started.name
        );
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        let mut status = String::new();
        while let Some(chunk) = body.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk.context("the event stream broke")?));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data:")) else { continue };
                let Ok(event) = serde_json::from_str::<Value>(data.trim()) else { continue };
                let payload = &event["payload"];
                match event["kind"].as_str() {
                    Some(decnet_store::events::kinds::DECKY_STATE) => progress_line(
                        payload["decky"].as_str().unwrap_or("?"),
                        payload["state"].as_str().unwrap_or("?"),
                        payload["last_error"].as_str(),
                    ),
                    Some(decnet_store::events::kinds::STATUS) => {
                        payload["to"].as_str().unwrap_or_default().clone_into(&mut status);
                        if done.contains(&status.as_str()) {
                            return Ok(self.show(&started.id.to_string()).await?.topology);
                        }
                    }
                    _ => {}
                }
            }
        }
        anyhow::bail!("the event stream ended before the {action} finished (last status: {status:?})")
    }
}
