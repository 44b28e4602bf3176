//! Design-time helpers: edits of pending topologies, canvas layouts and address suggestions.

use std::net::Ipv4Addr;
use std::sync::Arc;

use chrono::Utc;
use decnet_domain::alloc::{SubnetAllocator, next_free_lan_ip};
use decnet_domain::model::TopologyHeader;
use decnet_domain::{Code, Design, Layout, MutationOp, Name, Refusal, Target, TopologyId, edit_pending};
use ipnet::Ipv4Net;
use serde_json::Value;

use crate::{Engine, EngineError};

impl Engine {
    /// Applies one edit (an op of the mutation vocabulary) to a pending topology's design,
    /// atomically and guarded by `expected_version`.
    pub async fn edit_pending(
        &self,
        id: TopologyId,
        op: &str,
        payload: &Value,
        expected_version: Option<i64>,
    ) -> Result<(TopologyHeader, Arc<Design>), EngineError> {
        self.edit_pending_all(id, &[(op.to_owned(), payload.clone())], expected_version).await
    }

    /// Applies several edits in order as one: all of them or none, one version bump.
    pub async fn edit_pending_all(
        &self,
        id: TopologyId,
        ops: &[(String, Value)],
        expected_version: Option<i64>,
    ) -> Result<(TopologyHeader, Arc<Design>), EngineError> {
        let parsed = ops.iter().map(|(op, payload)| MutationOp::parse(op, payload)).collect::<Result<Vec<_>, _>>()?;
        let edit = Box::new(move |header: &TopologyHeader, design: &Design, ctx: &_| {
            let mut edited = design.clone();
            for op in &parsed {
                edited = edit_pending(header, &edited, op, ctx)?;
            }
            Ok(edited)
        });
        Ok(self.store.edit_pending(id, expected_version, edit, Utc::now()).await?)
    }

    /// Saves canvas positions of LANs and deckies, in any status: all or nothing, without
    /// touching the runtime or the version (only `generation` moves).
    pub async fn set_layout(&self, id: TopologyId, layout: &Layout) -> Result<TopologyHeader, EngineError> {
        Ok(self.store.set_layout(id, layout, Utc::now()).await?)
    }

    /// The first /24 under `base` that no topology (other than torn-down ones) holds.
    pub async fn next_subnet(&self, base: Ipv4Net) -> Result<Ipv4Net, EngineError> {
        let claims = self.store.claims(None).await?;
        let exhausted =
            || Refusal::one(Code::SubnetExhausted, Target::default(), format!("no free /24 is left in {base}"));
        let mut allocator =
            SubnetAllocator::new(base, claims.foreign_subnets.iter().map(|s| s.subnet)).ok_or_else(|| {
                Refusal::one(Code::SubnetSize, Target::field("base"), format!("{base} is narrower than /24"))
            })?;
        Ok(allocator.next_subnet().ok_or_else(exhausted)?)
    }

    /// The LAN's subnet and its first free host address (a suggestion; nothing is reserved).
    pub async fn next_ip(&self, id: TopologyId, lan: &Name) -> Result<(Ipv4Net, Ipv4Addr), EngineError> {
        let topology = self.store.topology(id).await?;
        let found = topology.design.lans.get(lan).ok_or_else(|| {
            Refusal::one(Code::LanNotFound, Target::lan(lan.as_str()), format!("LAN {lan} not found"))
        })?;
        let taken = topology.design.deckies.values().filter_map(|d| d.ips.get(lan).copied());
        let ip = next_free_lan_ip(found, taken).ok_or_else(|| {
            Refusal::one(Code::IpExhausted, Target::lan(lan.as_str()), format!("LAN {lan} has no free address"))
        })?;
        Ok((found.subnet, ip))
    }
}
