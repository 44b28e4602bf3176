//! Topology lifecycle: create, validate, deploy, tear down, delete, enqueue.

use std::sync::Arc;

use chrono::Utc;
use decnet_domain::document::{TopologyDocument, to_design};
use decnet_domain::generator::{GenerateError, GeneratorConfig, generate};
use decnet_domain::issue::errors;
use decnet_domain::model::TopologyHeader;
use decnet_domain::validate::{Context, ForeignSubnet, Scope, validate};
use decnet_domain::{Code, Issue, MutationOp, Name, Plan, Refusal, Target, Topology, TopologyId, TopologyStatus};
use decnet_domain::{DeckyState, DeckyStatus, Design};
use decnet_store::{Mutation, NewTopology, StoreError};
use serde_json::{Value, json};

use crate::bus::topics;
use crate::{Engine, EngineError};

fn refusal_from_generate(err: GenerateError) -> Refusal {
    match err {
        GenerateError::InvalidParameter(field) => {
            Refusal::one(Code::PayloadInvalid, Target::field(field.field.clone()), field.to_string())
        }
        GenerateError::SubnetsExhausted { .. } => {
            Refusal::one(Code::SubnetExhausted, Target::default(), err.to_string())
        }
    }
}

/// Issues of `design` that make it unfit to be stored at all: its subnets overlap
/// another topology's (checked here, inside the creating transaction, so two creations
/// can never take the same subnet).
fn taken_subnets(design: &Design, claimed: &[ForeignSubnet]) -> Vec<Issue> {
    let ctx = Context { foreign_subnets: claimed.to_vec(), ..Context::default() };
    validate(design, &ctx, Scope::PostApply).into_iter().filter(|i| i.code == Code::SubnetTaken).collect()
}

/// What [`Engine::reap_orphans`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reaped {
    /// Stored topologies that have resources.
    pub live: Vec<TopologyId>,
    /// Topologies the store does not know, whose resources were removed.
    pub reaped: Vec<TopologyId>,
    /// Names of the containers removed.
    pub containers: Vec<String>,
    /// Names of the networks removed.
    pub networks: Vec<String>,
    /// What could not be removed.
    pub errors: Vec<String>,
}

impl Engine {
    /// Generates a topology with `config` and stores it as pending.
    pub async fn generate(&self, name: Name, config: GeneratorConfig) -> Result<Arc<Topology>, EngineError> {
        self.generate_placed(name, config, decnet_domain::Mode::Unihost, None).await
    }

    /// [`Engine::generate`] for a topology in `mode` (an agent-mode topology names the
    /// host it is pinned to).
    pub async fn generate_placed(
        &self,
        name: Name,
        config: GeneratorConfig,
        mode: decnet_domain::Mode,
        target_host: Option<String>,
    ) -> Result<Arc<Topology>, EngineError> {
        config.check()?;
        let snapshot = serde_json::to_value(&config).unwrap_or(Value::Null);
        let new = NewTopology { name, mode, target_host, config_snapshot: snapshot, now: Utc::now() };
        let build = Box::new(move |claimed: &[ForeignSubnet]| {
            let subnets: Vec<_> = claimed.iter().map(|f| f.subnet).collect();
            generate(&config, &subnets).map_err(refusal_from_generate)
        });
        Ok(self.store.create_topology(new, build).await?)
    }

    /// Stores the design of `doc` as a pending topology, allocating the subnets and IPs
    /// it leaves out. Malformed documents are refused with every problem listed.
    pub async fn create(&self, doc: TopologyDocument, source: &str) -> Result<Arc<Topology>, EngineError> {
        let name = Name::parse(&doc.name).map_err(|e| {
            Refusal::one(Code::NameInvalid, Target::field("name"), format!("name: invalid name {:?}: {e}", doc.name))
        })?;
        match (doc.mode, doc.target_host.as_deref()) {
            (decnet_domain::Mode::Agent, None) => {
                return Err(Refusal::one(
                    Code::PayloadInvalid,
                    Target::field("target_host"),
                    "target_host: agent mode needs the host the topology runs on",
                )
                .into());
            }
            (decnet_domain::Mode::Unihost, Some(_)) => {
                return Err(Refusal::one(
                    Code::PayloadInvalid,
                    Target::field("target_host"),
                    "target_host: only agent-mode topologies name a target host",
                )
                .into());
            }
            _ => {}
        }
        let new = NewTopology {
            name,
            mode: doc.mode,
            target_host: doc.target_host.clone(),
            config_snapshot: json!({ "source": source, "lures": doc.lures }),
            now: Utc::now(),
        };
        let base = decnet_domain::alloc::default_subnet_base();
        let build = Box::new(move |claimed: &[ForeignSubnet]| {
            let subnets: Vec<_> = claimed.iter().map(|f| f.subnet).collect();
            let parsed = to_design(&doc, base, &subnets);
            let mut issues: Vec<Issue> = parsed.issues.into_iter().filter(Issue::is_error).collect();
            issues.extend(taken_subnets(&parsed.design, claimed));
            if issues.is_empty() { Ok(parsed.design) } else { Err(Refusal { issues }) }
        });
        Ok(self.store.create_topology(new, build).await?)
    }

    /// Every validation issue of a stored topology, against the other topologies' claims
    /// and the host's listening ports.
    pub async fn validate(&self, id: TopologyId) -> Result<Vec<Issue>, EngineError> {
        let topology = self.store.topology(id).await?;
        let mut ctx = self.store.claims(Some(id)).await?;
        if topology.design.gateways().next().is_some() {
            ctx.host_listening = crate::host::listening_ports();
        }
        Ok(validate(&topology.design, &ctx, Scope::Full))
    }

    pub(crate) async fn set_status(
        &self,
        id: TopologyId,
        from: Option<&[TopologyStatus]>,
        to: TopologyStatus,
        reason: &str,
    ) -> Result<TopologyHeader, EngineError> {
        let header = self.store.transition(id, from, to, reason, Utc::now()).await?;
        self.bus.publish(topics::status(id), json!({ "topology_id": id, "status": to, "reason": reason }));
        Ok(header)
    }

    /// Deploys a pending topology: full validation first (refused with every issue,
    /// status unchanged), then pending → deploying → active, degraded (some decky failed,
    /// healing continues) or failed (a network could not be created; everything this
    /// attempt created is removed).
    pub async fn deploy(&self, id: TopologyId) -> Result<TopologyHeader, EngineError> {
        let header = self.store.header(id).await?;
        if header.status != TopologyStatus::Pending {
            return Err(StoreError::WrongStatus {
                status: header.status,
                action: "deploy".into(),
                allowed: "pending".into(),
            }
            .into());
        }
        let issues = self.validate(id).await?;
        let blocking: Vec<Issue> = errors(&issues).cloned().collect();
        if !blocking.is_empty() {
            return Err(Refusal { issues: blocking }.into());
        }
        // A DMZ on a host interface: every address it takes must be free on that network.
        self.probe_deploy(&self.store.topology(id).await?.design).await?;
        // The transition is the race guard: of two concurrent deploys only one moves the
        // topology out of pending.
        let held = self.exclusive(id).await?;
        held.around(async {
            self.set_status(id, Some(&[TopologyStatus::Pending]), TopologyStatus::Deploying, "deploy requested")
                .await?;
            self.finish_deploy(id).await
        })
        .await
    }

    /// Materialises a deploying topology and settles its status: failed (and cleaned up)
    /// when a network cannot be created, degraded when some decky failed, else active.
    /// Also how a restarted engine completes a deploy that a crash interrupted.
    pub(crate) async fn finish_deploy(&self, id: TopologyId) -> Result<TopologyHeader, EngineError> {
        let report = match self.converge_design(id).await {
            Ok(report) => report,
            Err(err) => {
                let reason = format!("deploy failed: {err}");
                let _ = self.remove_everything(id).await;
                return self.set_status(id, None, TopologyStatus::Failed, &reason).await;
            }
        };
        if let Some(err) = report.network_errors.first() {
            let reason = format!("deploy failed: {err}");
            // Best effort: whatever stays behind is labelled and reaped by teardown.
            let _ = self.remove_everything(id).await;
            return self.set_status(id, None, TopologyStatus::Failed, &reason).await;
        }
        if report.decky_errors.is_empty() {
            self.set_status(id, None, TopologyStatus::Active, "deployed").await
        } else {
            self.set_status(id, None, TopologyStatus::Degraded, &report.summary()).await
        }
    }

    /// Tears a topology down: → tearing_down, fail its open mutations, remove every
    /// labelled container and network, → torn_down. An interrupted teardown leaves
    /// `tearing_down`, from which teardown can simply be run again.
    pub async fn teardown(&self, id: TopologyId) -> Result<TopologyHeader, EngineError> {
        let held = self.exclusive(id).await?;
        held.around(self.teardown_locked(id)).await
    }

    /// [`Engine::teardown`] for a caller that holds the topology.
    async fn teardown_locked(&self, id: TopologyId) -> Result<TopologyHeader, EngineError> {
        let header = self.store.header(id).await?;
        if !header.status.can_tear_down() {
            return Err(StoreError::WrongStatus {
                status: header.status,
                action: "teardown".into(),
                allowed: "deploying, active, degraded, failed or tearing_down".into(),
            }
            .into());
        }
        if header.status != TopologyStatus::TearingDown {
            self.set_status(id, None, TopologyStatus::TearingDown, "teardown requested").await?;
        }
        self.store.fail_open_mutations(id, "topology is being torn down", Utc::now()).await?;
        self.remove_everything(id).await?;
        let topology = self.store.topology(id).await?;
        for decky in topology.design.deckies.keys() {
            self.record_decky(id, decky, DeckyStatus { state: DeckyState::TornDown, last_error: None }).await?;
        }
        self.set_status(id, None, TopologyStatus::TornDown, "torn down").await
    }

    /// Deletes a pending, failed or torn-down topology and everything it owns.
    pub async fn delete(&self, id: TopologyId) -> Result<(), EngineError> {
        Ok(self.store.delete_topology(id).await?)
    }

    /// Removes the labelled resources of topologies the store does not know (among
    /// `among` when given). Every resource is tried; what could not be removed is reported.
    pub async fn reap_orphans(
        &self,
        among: Option<&std::collections::BTreeSet<TopologyId>>,
    ) -> Result<Reaped, EngineError> {
        let mut report = Reaped::default();
        let owners = self.runtime.owners().await?;
        for owner in owners.into_iter().filter(|o| among.is_none_or(|set| set.contains(o))) {
            match self.store.header(owner).await {
                Ok(_) => report.live.push(owner),
                Err(StoreError::NotFound { .. }) => {
                    let observed = self.runtime.observe(owner).await?;
                    if let Err(err) = self.remove_everything(owner).await {
                        report.errors.push(format!("{owner}: {err}"));
                    }
                    // What is still there after the attempt was not removed.
                    let left = self.runtime.observe(owner).await.unwrap_or_default();
                    report
                        .containers
                        .extend(observed.containers.into_keys().filter(|c| !left.containers.contains_key(c)));
                    report.networks.extend(observed.networks.into_keys().filter(|n| !left.networks.contains_key(n)));
                    report.reaped.push(owner);
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(report)
    }

    /// Queues a mutation after checking its op and payload; wakes the reconciler.
    pub async fn enqueue(
        &self,
        id: TopologyId,
        op: &str,
        payload: &Value,
        expected_version: Option<i64>,
    ) -> Result<(Mutation, i64), EngineError> {
        let parsed = MutationOp::parse(op, payload)?;
        let (mutation, version) = self.store.enqueue(id, parsed.kind(), payload, expected_version, Utc::now()).await?;
        self.bus.publish(
            topics::mutation(id, "enqueued"),
            json!({ "topology_id": id, "mutation_id": mutation.id, "op": mutation.op, "payload": mutation.payload }),
        );
        self.marked.lock().unwrap_or_else(|p| p.into_inner()).insert(id);
        self.wake.notify_one();
        Ok((mutation, version))
    }

    /// Plans a mutation without queueing it: what it would change, or why it would be
    /// refused.
    pub async fn plan_dry_run(&self, id: TopologyId, op: &str, payload: &Value) -> Result<Plan, EngineError> {
        let parsed = MutationOp::parse(op, payload)?;
        let topology = self.store.topology(id).await?;
        let ctx = if parsed.needs_claims() { self.store.claims(Some(id)).await? } else { Context::default() };
        Ok(decnet_domain::plan(&topology.header, &topology.design, &parsed, &ctx)?)
    }

    /// Plans several mutations in order without queueing them, each against the design the
    /// accepted ones before it leave (a refused one changes nothing, as when the reconciler
    /// applies them): for each, what it would change or why it would be refused.
    pub async fn plan_sequence(
        &self,
        id: TopologyId,
        ops: &[(String, Value)],
    ) -> Result<Vec<Result<Plan, Refusal>>, EngineError> {
        let parsed: Vec<Result<MutationOp, Refusal>> =
            ops.iter().map(|(op, payload)| MutationOp::parse(op, payload)).collect();
        let topology = self.store.topology(id).await?;
        let needs_claims = parsed.iter().any(|p| p.as_ref().is_ok_and(MutationOp::needs_claims));
        let ctx = if needs_claims { self.store.claims(Some(id)).await? } else { Context::default() };
        let mut design: Option<Design> = None;
        let mut outcomes = Vec::with_capacity(parsed.len());
        for op in parsed {
            let current = design.as_ref().unwrap_or(&topology.design);
            let outcome = op.and_then(|op| decnet_domain::plan(&topology.header, current, &op, &ctx));
            if let Ok(plan) = &outcome {
                design = Some(plan.design.clone());
            }
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }
}
