//! The mutation reconciler.
//!
//! For each live topology with work: claim its oldest mutations under a lease, plan and
//! commit them in one store transaction (each applied or refused on its own), then
//! materialise the plans' runtime actions. One topology's mutations apply strictly in
//! order; different topologies drain in parallel up to the configured concurrency. The
//! loop wakes on every enqueue made through this engine, polls cheaply for work queued by
//! other processes, and heals degraded topologies on a periodic tick.

use std::collections::HashMap;
use std::future::Future;

use chrono::Utc;
use decnet_domain::{Code, MutationOp, Refusal, Target, TopologyId, TopologyStatus};
use decnet_store::{ApplyOutcome, ListFilter, Mutation};
use serde_json::json;
use tokio::task::JoinSet;

use crate::bus::topics;
use crate::{Engine, EngineError};

/// What draining the queues did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Mutations committed.
    pub applied: usize,
    /// Mutations refused.
    pub refused: usize,
}

impl std::ops::AddAssign for DrainReport {
    fn add_assign(&mut self, other: Self) {
        self.applied += other.applied;
        self.refused += other.refused;
    }
}

impl Engine {
    fn publish_mutation(&self, mutation: &Mutation, extra: serde_json::Value) {
        let mut payload = json!({
            "topology_id": mutation.topology_id,
            "mutation_id": mutation.id,
            "op": mutation.op,
            "state": mutation.state,
        });
        if let (Some(body), Some(extra)) = (payload.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        self.bus.publish(topics::mutation_state(mutation.topology_id, mutation.state), payload);
    }

    /// Applies one topology's queued mutations in order, a claimed batch per transaction,
    /// until a batch comes back short of the batch size.
    pub async fn drain(&self, id: TopologyId) -> Result<DrainReport, EngineError> {
        // Another engine reconciling this topology drains it itself.
        let Some(held) = self.try_exclusive(id).await? else { return Ok(DrainReport::default()) };
        held.around(self.drain_locked(id)).await
    }

    /// [`Engine::drain`] for a caller that holds the topology.
    async fn drain_locked(&self, id: TopologyId) -> Result<DrainReport, EngineError> {
        let mut report = DrainReport::default();
        let owner = self.config.owner.as_str();
        loop {
            let batch = self.store.claim_next(id, owner, Utc::now(), self.config.lease, self.config.batch).await?;
            if batch.is_empty() {
                return Ok(report);
            }
            let mut parsed = HashMap::with_capacity(batch.len());
            for mutation in &batch {
                self.publish_mutation(mutation, json!({ "payload": mutation.payload }));
                parsed.insert(mutation.id, MutationOp::parse(&mutation.op, &mutation.payload));
            }
            let needs_claims = parsed.values().any(|op| op.as_ref().is_ok_and(MutationOp::needs_claims));
            let planner = move |mutation: &Mutation, header: &_, design: &_, ctx: &_| {
                let op = parsed.get(&mutation.id).cloned().unwrap_or_else(|| {
                    Err(Refusal::one(Code::PayloadInvalid, Target::default(), "mutation was not parsed"))
                })?;
                decnet_domain::plan(header, design, &op, ctx)
            };
            let full_batch = batch.len() >= self.config.batch;
            let outcomes = self.store.apply_claimed(&batch, owner, Utc::now(), needs_claims, &planner).await?;
            for outcome in outcomes {
                match outcome {
                    ApplyOutcome::Committed { actions, design, mutation, header } => {
                        report.applied += 1;
                        self.metrics.mutation("applied", waited(&mutation));
                        self.publish_mutation(&mutation, json!({ "version": header.version, "actions": actions }));
                        let lures = decnet_domain::lures::density_of(&header.config_snapshot);
                        self.materialise(id, &design, &actions, header.status, lures).await?;
                    }
                    ApplyOutcome::Refused { refusal, mutation } => {
                        report.refused += 1;
                        self.metrics.mutation("refused", waited(&mutation));
                        tracing::info!(topology = %id, mutation = mutation.id, %refusal, "mutation refused");
                        self.publish_mutation(
                            &mutation,
                            json!({ "reason": mutation.reason, "codes": mutation.codes, "issues": refusal.issues }),
                        );
                    }
                    ApplyOutcome::LeaseLost => {
                        tracing::warn!(topology = %id, "lease lost; another engine took over");
                        return Ok(report);
                    }
                }
            }
            // A short batch emptied the queue as of the claim; whatever was queued since
            // marked the topology again, so there is no need to poll for it here.
            if !full_batch {
                return Ok(report);
            }
        }
    }

    /// One full reconciler pass: drain every topology with queued work, then converge every
    /// deployed topology.
    pub async fn run_once(&self) -> Result<DrainReport, EngineError> {
        let report = self.drain_all(self.store.topologies_with_work(Utc::now()).await?).await;
        self.heal().await?;
        Ok(report)
    }

    /// Drains `ids` in parallel, up to the configured concurrency; errors are logged.
    async fn drain_all(&self, ids: impl IntoIterator<Item = TopologyId>) -> DrainReport {
        let mut report = DrainReport::default();
        let mut pending = ids.into_iter();
        let mut tasks = JoinSet::new();
        loop {
            while tasks.len() < self.config.concurrency.max(1) {
                let Some(id) = pending.next() else { break };
                let engine = self.clone();
                tasks.spawn(async move { (id, engine.drain(id).await) });
            }
            let Some(joined) = tasks.join_next().await else { break };
            match joined {
                Ok((_, Ok(drained))) => report += drained,
                Ok((id, Err(err))) => tracing::error!(topology = %id, error = %err, "draining failed"),
                Err(err) => tracing::error!(error = %err, "drain task panicked"),
            }
        }
        report
    }

    /// Converges every deployed topology: what a restarted engine does first (the runtime
    /// may have changed while no engine was watching, and a deploy may have been cut
    /// short) and what every tick repeats, so a killed container, a removed network or a
    /// leftover is repaired and a degraded topology returns to active. One topology's
    /// failure does not stop the others.
    pub async fn heal(&self) -> Result<(), EngineError> {
        self.metrics.healed();
        // Sampled with each healing pass, so `/metrics` never waits for the runtime.
        self.metrics.decoy_memory(&self.runtime.decoy_memory().await);
        // A deploy interrupted by a crash is finished, not left deploying.
        let interrupted = self
            .store
            .list_topologies(&ListFilter { status: Some(TopologyStatus::Deploying), ..ListFilter::default() })
            .await?;
        for header in interrupted.items {
            let finished = match self.try_exclusive(header.id).await {
                Ok(Some(held)) => held.around(self.finish_deploy(header.id)).await,
                // Another engine is deploying it.
                Ok(None) => continue,
                Err(err) => Err(err),
            };
            match finished {
                Ok(done) => {
                    tracing::info!(topology = %header.id, status = %done.status, "finished an interrupted deploy")
                }
                Err(err) => tracing::warn!(topology = %header.id, error = %err, "finishing a deploy failed"),
            }
        }
        for status in [TopologyStatus::Active, TopologyStatus::Degraded] {
            let live =
                self.store.list_topologies(&ListFilter { status: Some(status), ..ListFilter::default() }).await?;
            for header in live.items {
                match self.converge(header.id).await {
                    Ok(report) if report.changes > 0 => {
                        tracing::info!(topology = %header.id, changes = report.changes, "converged");
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(topology = %header.id, error = %err, "healing failed"),
                }
            }
        }
        Ok(())
    }

    /// Drains until no queued work is left (a mutation whose lease another engine holds
    /// counts as not ours to wait for).
    pub async fn run_until_idle(&self) -> Result<DrainReport, EngineError> {
        let mut total = DrainReport::default();
        loop {
            let pass = self.run_once().await?;
            let idle = pass == DrainReport::default();
            total += pass;
            if idle {
                return Ok(total);
            }
        }
    }

    /// The reconciler loop until `shutdown` resolves: heal, then drain exactly the
    /// topologies that enqueues through this engine marked (woken at once) or that the
    /// database announces other processes queued work for, check every `poll` for work
    /// the announcements missed or expired leases left behind (one indexed query), converge a topology as soon as the runtime reports a change to
    /// it, and on every `tick` make a full pass that also converges every deployed
    /// topology. In-flight work finishes before it returns.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), EngineError> {
        tokio::pin!(shutdown);
        self.heal().await?;
        let mut tick = tokio::time::interval(self.config.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut poll = tokio::time::interval(self.config.poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Changes the runtime reports (a container died, a network went away) are healed
        // at once rather than at the next tick.
        let mut changes = self.runtime.watch();
        // Enqueues of other processes, as the database announces them (PostgreSQL); the
        // poll stays as the fallback for announcements lost to a reconnect, and for SQLite.
        let mut announced = match self.store.queue_announcements().await {
            Ok(announced) => announced,
            Err(err) => {
                tracing::warn!(error = %err, "queue announcements unavailable; polling only");
                None
            }
        };
        let mut collect = tokio::time::interval(self.config.collect);
        collect.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.bus.publish("engine.ready".into(), json!({ "owner": self.config.owner, "runtime": self.runtime.kind() }));
        loop {
            tokio::select! {
                () = &mut shutdown => {
                    self.stop_collecting().await;
                    return Ok(());
                }
                () = self.wake.notified() => {
                    let marked = std::mem::take(&mut *self.marked.lock().unwrap_or_else(|p| p.into_inner()));
                    self.drain_all(marked).await;
                }
                first = async {
                    match announced.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    let Some(first) = first else {
                        announced = None;
                        continue;
                    };
                    let mut ids = std::collections::BTreeSet::from([first]);
                    while let Some(id) = announced.as_mut().and_then(|rx| rx.try_recv().ok()) {
                        ids.insert(id);
                    }
                    self.drain_all(ids).await;
                }
                changed = async {
                    match changes.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    let Some(first) = changed else {
                        changes = None;
                        continue;
                    };
                    let mut touched = std::collections::BTreeSet::from([first]);
                    while let Some(id) = changes.as_mut().and_then(|rx| rx.try_recv().ok()) {
                        touched.insert(id);
                    }
                    for id in touched {
                        if let Err(err) = self.converge(id).await {
                            tracing::warn!(topology = %id, error = %err, "healing a reported change failed");
                        }
                    }
                }
                _ = poll.tick() => {
                    match self.store.topologies_with_work(Utc::now()).await {
                        Ok(ids) => {
                            self.drain_all(ids).await;
                        }
                        Err(err) => tracing::error!(error = %err, "checking the queue failed"),
                    }
                }
                _ = tick.tick() => {
                    if let Err(err) = self.run_once().await {
                        tracing::error!(error = %err, "reconciler pass failed");
                    }
                    match self.prune_events().await {
                        Ok(0) => {}
                        Ok(pruned) => tracing::info!(pruned, "events past retention deleted"),
                        Err(err) => tracing::warn!(error = %err, "event retention failed"),
                    }
                }
                _ = collect.tick() => {
                    if let Err(err) = self.collect().await {
                        tracing::warn!(error = %err, "following decoy logs failed");
                    }
                }
            }
        }
    }
}

/// Seconds `mutation` waited from being queued until now.
fn waited(mutation: &Mutation) -> f64 {
    (Utc::now() - mutation.requested_at).num_microseconds().map_or(0.0, |us| us as f64 / 1e6)
}
