//! Convergence: make the runtime match the stored design.
//!
//! [`Engine::converge`] is level-triggered: it reads the design and what the runtime
//! reports (by labels), then creates what is missing, recreates what died or drifted
//! (spec hash), reconnects or disconnects bases whose LANs changed, and removes labelled
//! leftovers. Deploy, restart recovery and healing all use it. [`Engine::materialise`]
//! is the targeted fast path after a mutation: it performs exactly the plan's actions,
//! touching nothing else.

use std::collections::{BTreeMap, HashMap, HashSet};

use decnet_domain::{DeckyState, DeckyStatus, Design, Name, RuntimeAction, TopologyId, TopologyStatus};
use decnet_runtime::spec::{self, Role};
use decnet_runtime::{Observed, RuntimeError, labels};
use futures_util::StreamExt;
use serde_json::json;

use crate::bus::topics;
use crate::{Engine, EngineError};

/// Consecutive failures of one decky and when it may be tried again.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    failures: u32,
    retry_at: std::time::Instant,
    last_error: String,
}

/// What a convergence pass found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConvergeReport {
    /// Runtime operations performed.
    pub changes: usize,
    /// Networks that could not be created or removed.
    pub network_errors: Vec<String>,
    /// Deckies that could not be converged, with the runtime's error.
    pub decky_errors: BTreeMap<Name, String>,
}

impl ConvergeReport {
    /// Whether everything converged.
    pub fn converged(&self) -> bool {
        self.network_errors.is_empty() && self.decky_errors.is_empty()
    }

    /// One line naming what failed.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self.network_errors.clone();
        parts.extend(self.decky_errors.iter().take(8).map(|(d, e)| format!("{d}: {e}")));
        if self.decky_errors.len() > 8 {
            parts.push(format!("and {} more deckies", self.decky_errors.len() - 8));
        }
        if parts.is_empty() { "converged".into() } else { parts.join("; ") }
    }
}

fn hash_matches(observed: &Observed, spec: &decnet_runtime::ContainerSpec) -> bool {
    observed
        .containers
        .get(&spec.name)
        .is_some_and(|c| c.running && c.labels.get(labels::SPEC_HASH).map(String::as_str) == Some(spec.spec_hash()))
}

impl Engine {
    /// Records a decky's observed state (and publishes it) when it differs from the stored
    /// one, whichever engine stored that.
    pub(crate) async fn record_decky(
        &self,
        id: TopologyId,
        decky: &Name,
        status: DeckyStatus,
    ) -> Result<(), EngineError> {
        if self.store.set_decky_status(id, decky, &status).await? {
            self.bus.publish(
                topics::decky_state(decky),
                json!({ "topology_id": id, "decky": decky, "state": status.state, "last_error": status.last_error }),
            );
        }
        Ok(())
    }

    /// Records the outcome of an attempt at a decky: success clears its backoff; a failure
    /// schedules the next attempt (at once after the first, then doubling from the base).
    fn note_attempt(&self, id: TopologyId, decky: &Name, error: Option<String>) {
        let mut backoff = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        let key = (id, decky.clone());
        let Some(error) = error else {
            backoff.remove(&key);
            return;
        };
        let failures = backoff.get(&key).map_or(1, |b| b.failures + 1);
        let delay = if failures <= 1 {
            std::time::Duration::ZERO
        } else {
            let factor = 2u32.saturating_pow(failures.saturating_sub(2).min(16));
            self.config.backoff_base.saturating_mul(factor).min(self.config.backoff_cap)
        };
        backoff.insert(key, Backoff { failures, retry_at: std::time::Instant::now() + delay, last_error: error });
    }

    /// Converges a deployed (active or degraded) topology and moves it between active and
    /// degraded to match the outcome; any other status is left alone.
    pub async fn converge(&self, id: TopologyId) -> Result<ConvergeReport, EngineError> {
        // Another engine holding the topology converges it itself.
        let Some(held) = self.try_exclusive(id).await? else { return Ok(ConvergeReport::default()) };
        held.around(self.converge_locked(id)).await
    }

    /// [`Engine::converge`] for a caller that holds the topology's lock.
    pub(crate) async fn converge_locked(&self, id: TopologyId) -> Result<ConvergeReport, EngineError> {
        // Only deployed topologies are kept converged: a pending one has nothing to run
        // yet, and one being torn down must not be brought back.
        if !self.store.header(id).await?.status.accepts_mutations() {
            return Ok(ConvergeReport::default());
        }
        let report = self.converge_design(id).await?;
        let status = self.store.header(id).await?.status;
        match (status, report.converged()) {
            (TopologyStatus::Active, false) => {
                self.set_status(id, Some(&[TopologyStatus::Active]), TopologyStatus::Degraded, &report.summary())
                    .await?;
            }
            (TopologyStatus::Degraded, true) => {
                self.set_status(id, Some(&[TopologyStatus::Degraded]), TopologyStatus::Active, "converged").await?;
            }
            _ => {}
        }
        Ok(report)
    }

    /// One convergence pass; records decky states, leaves the topology status alone.
    pub(crate) async fn converge_design(&self, id: TopologyId) -> Result<ConvergeReport, EngineError> {
        self.metrics.converged();
        let topology = self.store.topology(id).await?;
        self.give_placement(&topology).await?;
        let observed = self.runtime.observe(id).await?;
        let design = &topology.design;
        let lures = decnet_domain::lures::density_of(&topology.header.config_snapshot);
        let mut report = ConvergeReport::default();
        let mut wanted_networks = HashSet::new();
        for lan in design.lans.values() {
            let net = spec::network(id, lan);
            wanted_networks.insert(net.name.clone());
            // A host link's shim lives outside Docker: ensured every pass, which also
            // repairs one removed by hand.
            if !observed.networks.contains_key(&net.name) || net.link.is_some() {
                report.changes += 1;
                if let Err(err) = self.runtime.ensure_network(&net).await {
                    report.network_errors.push(err.to_string());
                }
            }
        }
        // Cheap enough to load every pass (one iptables-restore), and it heals rules
        // removed by hand or by a Docker restart.
        if let Err(err) = self.runtime.ensure_firewall(&decnet_runtime::firewall::spec(id, design)).await {
            report.network_errors.push(err.to_string());
        }
        let mut wanted_containers = HashSet::new();
        for decky in design.deckies.values() {
            wanted_containers.extend(
                spec::decky_containers(id, design, decky, self.runtime.image(), lures).into_iter().map(|c| c.name),
            );
        }
        // Deckies are independent of each other: converge several at once. Their states
        // are recorded (and published, which is the progress a deploy reports) as each
        // one finishes.
        // A decky that keeps failing waits out its backoff; it stays failed meanwhile.
        let now = std::time::Instant::now();
        let waiting: HashMap<Name, String> = {
            let backoff = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
            design
                .deckies
                .keys()
                .filter_map(|name| {
                    let entry = backoff.get(&(id, name.clone()))?;
                    (entry.retry_at > now).then(|| (name.clone(), entry.last_error.clone()))
                })
                .collect()
        };
        for (name, error) in &waiting {
            report.decky_errors.insert(name.clone(), format!("{error} (retrying after a backoff)"));
        }
        // Deckies whose containers were on a host that is gone are failed, with the reason,
        // until this pass re-creates them (where the runtime's placement allows it).
        let mut lost = HashSet::new();
        for decky in design.deckies.values() {
            if let Some(reason) = observed.lost.get(&spec::base_name(id, &decky.name)) {
                lost.insert(decky.name.clone());
                let status = DeckyStatus { state: DeckyState::Failed, last_error: Some(reason.clone()) };
                self.record_decky(id, &decky.name, status).await?;
            }
        }
        let jobs: Vec<_> = design
            .deckies
            .values()
            .filter(|decky| !waiting.contains_key(&decky.name))
            .map(|decky| {
                let observed = &observed;
                let state = topology.decky_status.get(&decky.name).map(|s| s.state);
                async move { (decky, self.converge_decky(id, design, decky, observed, state, lures).await) }
            })
            .collect();
        let mut pending = futures_util::stream::iter(jobs).buffer_unordered(self.config.concurrency.max(1) * 2);
        while let Some((decky, outcome)) = pending.next().await {
            self.note_attempt(id, &decky.name, outcome.as_ref().err().map(ToString::to_string));
            let status = match outcome {
                Ok(changes) => {
                    report.changes += changes;
                    DeckyStatus { state: DeckyState::Running, last_error: None }
                }
                Err(err) => {
                    report.decky_errors.insert(decky.name.clone(), err.to_string());
                    DeckyStatus { state: DeckyState::Failed, last_error: Some(err.to_string()) }
                }
            };
            if lost.contains(&decky.name) || topology.decky_status.get(&decky.name) != Some(&status) {
                self.record_decky(id, &decky.name, status).await?;
            }
        }
        // Labelled leftovers: services first (they live in a base's namespace).
        let mut leftovers: Vec<_> =
            observed.containers.values().filter(|c| !wanted_containers.contains(&c.name)).collect();
        leftovers.sort_by_key(|c| c.labels.get(labels::ROLE).map(String::as_str) != Some("service"));
        for container in leftovers {
            report.changes += 1;
            if let Err(err) = self.runtime.remove_container(&container.name).await {
                report.network_errors.push(err.to_string());
            }
        }
        for name in observed.networks.keys().filter(|n| !wanted_networks.contains(*n)) {
            report.changes += 1;
            if let Err(err) = self.runtime.remove_network(name).await {
                report.network_errors.push(err.to_string());
            }
        }
        Ok(report)
    }

    async fn converge_decky(
        &self,
        id: TopologyId,
        design: &Design,
        decky: &decnet_domain::Decky,
        observed: &Observed,
        recorded: Option<DeckyState>,
        lures: decnet_domain::lures::Density,
    ) -> Result<usize, RuntimeError> {
        // A decky that failed may have missed a route change (`SetRoutes`).
        let refresh_routes = recorded == Some(DeckyState::Failed);
        // A decky that never ran had its address probed by its deploy or live add.
        let probe = recorded.is_some_and(|s| s != DeckyState::Pending);
        let base = spec::base(id, design, decky, self.runtime.image());
        let mut changes = 0;
        let base_recreated = if hash_matches(observed, &base) {
            changes += self.reattach(id, &base, observed).await?;
            if let (true, Role::Base { routes, .. }) = (refresh_routes, &base.role) {
                self.runtime.set_routes(&base.name, routes).await?;
            }
            false
        } else {
            if observed.containers.contains_key(&base.name) {
                self.runtime.remove_container(&base.name).await?;
            } else if probe {
                // Its address was free while the base held it; someone may have taken it.
                self.probe_decky(design, decky).await?;
            }
            self.runtime.ensure_container(&base).await?;
            changes += 1;
            true
        };
        for service in &decky.services {
            let spec = spec::service(id, design, decky, service, self.runtime.image(), lures);
            if !base_recreated && hash_matches(observed, &spec) {
                continue;
            }
            // A service joined the old base's namespace; it must be recreated with it.
            if observed.containers.contains_key(&spec.name) {
                self.runtime.remove_container(&spec.name).await?;
            }
            self.runtime.ensure_container(&spec).await?;
            changes += 1;
        }
        Ok(changes)
    }

    /// Connects a running base to the LANs it is missing and disconnects it from the
    /// topology's LANs it left, without restarting it.
    async fn reattach(
        &self,
        id: TopologyId,
        base: &decnet_runtime::ContainerSpec,
        observed: &Observed,
    ) -> Result<usize, RuntimeError> {
        let Role::Base { networks, .. } = &base.role else {
            return Ok(0);
        };
        let Some(current) = observed.containers.get(&base.name) else {
            return Ok(0);
        };
        let prefix = format!("decnet-{}-", id.simple());
        let mut changes = 0;
        for (net, ip) in networks {
            if current.networks.get(net) != Some(ip) {
                if current.networks.contains_key(net) {
                    self.runtime.disconnect(net, &base.name).await?;
                }
                self.runtime.connect(net, &base.name, *ip).await?;
                if let Some(link) = base.env.get(spec::LINK_MAC_ENV).filter(|l| l.starts_with(&format!("{ip}="))) {
                    self.runtime.set_link_mac(&base.name, link).await?;
                }
                changes += 1;
            }
        }
        for net in current.networks.keys().filter(|n| n.starts_with(&prefix) && !networks.contains_key(*n)) {
            self.runtime.disconnect(net, &base.name).await?;
            changes += 1;
        }
        Ok(changes)
    }

    /// Removes every labelled container (services first) and network of a topology.
    pub(crate) async fn remove_everything(&self, id: TopologyId) -> Result<(), EngineError> {
        let observed = self.runtime.observe(id).await?;
        let is_service =
            |c: &&decnet_runtime::ObservedContainer| c.labels.get(labels::ROLE).map(String::as_str) == Some("service");
        let (services, bases): (Vec<_>, Vec<_>) = observed.containers.values().partition(is_service);
        let width = self.config.concurrency.max(1) * 2;
        let mut first_error = None;
        // Services first (they live in a base's namespace), then bases, each phase in
        // parallel; networks last, once nothing is attached.
        for phase in [services, bases] {
            let removals: Vec<_> = phase.iter().map(|c| self.runtime.remove_container(&c.name)).collect();
            let mut results = futures_util::stream::iter(removals).buffer_unordered(width);
            while let Some(result) = results.next().await {
                if let Err(err) = result {
                    first_error.get_or_insert(err);
                }
            }
        }
        for network in observed.networks.keys() {
            if let Err(err) = self.runtime.remove_network(network).await {
                first_error.get_or_insert(err);
            }
        }
        if let Err(err) = self.runtime.remove_firewall(id).await {
            first_error.get_or_insert(err);
        }
        match first_error {
            Some(err) => Err(err.into()),
            None => Ok(()),
        }
    }

    /// Performs a committed plan's actions on a topology whose status was `status` at
    /// commit. Failures are recorded on the decky they concern and degrade the topology;
    /// a degraded topology is then re-converged, which returns it to active once
    /// everything runs again.
    pub(crate) async fn materialise(
        &self,
        id: TopologyId,
        design: &Design,
        actions: &[RuntimeAction],
        status: TopologyStatus,
        lures: decnet_domain::lures::Density,
    ) -> Result<(), EngineError> {
        let places =
            actions.iter().any(|a| matches!(a, RuntimeAction::StartDecky { .. } | RuntimeAction::RecreateBase { .. }));
        if places {
            self.give_placement(&*self.store.topology(id).await?).await?;
        }
        let mut touched: BTreeMap<Name, Option<String>> = BTreeMap::new();
        let mut other_errors = Vec::new();
        for action in actions {
            let result = self.perform(id, design, action, lures).await;
            match (action, result) {
                (RuntimeAction::RemoveDecky { decky, .. }, Ok(())) => {
                    touched.remove(decky);
                }
                (action, result) => match action.decky() {
                    Some(decky) => {
                        let entry = touched.entry(decky.clone()).or_default();
                        if let Err(err) = result {
                            entry.get_or_insert(err.to_string());
                        }
                    }
                    None => {
                        if let Err(err) = result {
                            other_errors.push(err.to_string());
                        }
                    }
                },
            }
        }
        // A LAN came or went: the firewall names every LAN's bridge and subnet.
        let lans_changed = actions
            .iter()
            .any(|a| matches!(a, RuntimeAction::CreateNetwork { .. } | RuntimeAction::RemoveNetwork { .. }));
        if lans_changed
            && let Err(err) = self.runtime.ensure_firewall(&decnet_runtime::firewall::spec(id, design)).await
        {
            other_errors.push(err.to_string());
        }
        let mut failures = other_errors;
        for (decky, error) in touched {
            let state = if error.is_some() { DeckyState::Failed } else { DeckyState::Running };
            if let Some(err) = &error {
                failures.push(format!("{decky}: {err}"));
            }
            self.record_decky(id, &decky, DeckyStatus { state, last_error: error }).await?;
        }
        if !failures.is_empty() && status == TopologyStatus::Active {
            let reason = format!("materialisation failed: {}", failures.join("; "));
            self.set_status(id, Some(&[TopologyStatus::Active]), TopologyStatus::Degraded, &reason).await?;
        } else if status == TopologyStatus::Degraded {
            self.converge_locked(id).await?;
        }
        Ok(())
    }

    async fn perform(
        &self,
        id: TopologyId,
        design: &Design,
        action: &RuntimeAction,
        lures: decnet_domain::lures::Density,
    ) -> Result<(), RuntimeError> {
        let rt = &self.runtime;
        let missing = |kind: &'static str, name: &Name| RuntimeError::Missing { kind, name: name.to_string() };
        match action {
            RuntimeAction::CreateNetwork { lan } => {
                let lan = design.lans.get(lan).ok_or_else(|| missing("LAN", lan))?;
                rt.ensure_network(&spec::network(id, lan)).await
            }
            RuntimeAction::RemoveNetwork { lan } => rt.remove_network(&spec::network_name(id, lan)).await,
            RuntimeAction::StartDecky { decky } => {
                let decky = design.deckies.get(decky).ok_or_else(|| missing("decky", decky))?;
                self.probe_decky(design, decky).await?;
                for container in spec::decky_containers(id, design, decky, self.runtime.image(), lures) {
                    rt.ensure_container(&container).await?;
                }
                Ok(())
            }
            RuntimeAction::RemoveDecky { decky, services } => {
                for service in services {
                    rt.remove_container(&spec::service_name(id, decky, service)).await?;
                }
                rt.remove_container(&spec::base_name(id, decky)).await
            }
            RuntimeAction::Connect { decky, lan, ip } => {
                let linked = design.lans.get(lan).is_some_and(|l| l.attachment.link().is_some());
                let found = design.deckies.get(decky).filter(|_| linked);
                if let Some(found) = found {
                    self.probe_decky(design, found).await?;
                }
                let base = spec::base_name(id, decky);
                rt.connect(&spec::network_name(id, lan), &base, *ip).await?;
                // A macvlan link joined live takes the persona's MAC, as at creation.
                match found.and_then(|d| spec::link_mac(id, design, d)) {
                    Some(link) => rt.set_link_mac(&base, &link).await,
                    None => Ok(()),
                }
            }
            RuntimeAction::Disconnect { decky, lan } => {
                rt.disconnect(&spec::network_name(id, lan), &spec::base_name(id, decky)).await
            }
            RuntimeAction::AddService { decky, service } | RuntimeAction::RecreateService { decky, service } => {
                let decky = design.deckies.get(decky).ok_or_else(|| missing("decky", decky))?;
                let container = spec::service(id, design, decky, service, self.runtime.image(), lures);
                if matches!(action, RuntimeAction::RecreateService { .. }) {
                    rt.remove_container(&container.name).await?;
                }
                rt.ensure_container(&container).await
            }
            RuntimeAction::RemoveService { decky, service } => {
                rt.remove_container(&spec::service_name(id, decky, service)).await
            }
            RuntimeAction::SetRoutes { decky } => {
                let decky = design.deckies.get(decky).ok_or_else(|| missing("decky", decky))?;
                let routes = decnet_domain::routing::routes_of(design, decky);
                rt.set_routes(&spec::base_name(id, &decky.name), &routes).await
            }
            RuntimeAction::RecreateBase { decky } => {
                let decky = design.deckies.get(decky).ok_or_else(|| missing("decky", decky))?;
                for service in &decky.services {
                    rt.remove_container(&spec::service_name(id, &decky.name, service)).await?;
                }
                rt.remove_container(&spec::base_name(id, &decky.name)).await?;
                for container in spec::decky_containers(id, design, decky, self.runtime.image(), lures) {
                    rt.ensure_container(&container).await?;
                }
                Ok(())
            }
        }
    }
}
