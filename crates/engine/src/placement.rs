//! Where a topology's deckies run on a runtime of several hosts: the stored placement
//! (policy, decky and LAN pins) read and written by name, and resolved into the plan the
//! runtime applies before each convergence.

use decnet_domain::placement::{NamedPlacement, Placement};
use decnet_domain::{Mode, Topology, TopologyId};
use decnet_runtime::PlacementPlan;

use crate::{Engine, EngineError};

impl Engine {
    /// A topology's placement, by name (pins of items gone from the design left out).
    pub async fn placement(&self, id: TopologyId) -> Result<NamedPlacement, EngineError> {
        let topology = self.store.topology(id).await?;
        Ok(self.store.placement(id).await?.named(&topology.design))
    }

    /// Replaces a topology's placement whole; refused (nothing stored) when it names a
    /// LAN or decky the design lacks, a node no swarm could have, or pins an agent-mode
    /// topology. It applies to deckies placed from then on: new ones and those re-created
    /// after their node is lost; running deckies stay where they are.
    pub async fn set_placement(&self, id: TopologyId, named: &NamedPlacement) -> Result<NamedPlacement, EngineError> {
        let topology = self.store.topology(id).await?;
        let placement = Placement::from_named(named, topology.header.mode, &topology.design)?;
        self.store.set_placement(id, &placement).await?;
        Ok(placement.named(&topology.design))
    }

    /// Hands the runtime `topology`'s placement before it places deckies; read each time,
    /// since another replica may have changed it.
    pub(crate) async fn give_placement(&self, topology: &Topology) -> Result<(), EngineError> {
        let placement = self.store.placement(topology.header.id).await?;
        self.runtime.place_topology(topology.header.id, plan(topology, &placement));
        Ok(())
    }
}

/// What the runtime is to do with `topology`'s deckies: an agent-mode topology runs whole
/// on its target host; otherwise each decky goes where its pin or its home LAN's pin says,
/// the rest by the topology's policy (or the runtime's default).
fn plan(topology: &Topology, placement: &Placement) -> PlacementPlan {
    let design = &topology.design;
    let agent_host = match topology.header.mode {
        Mode::Agent => topology.header.target_host.as_deref(),
        Mode::Unihost => None,
    };
    let nodes = design
        .deckies
        .values()
        .filter_map(|decky| {
            let node = agent_host.or_else(|| placement.node_of(decky, design))?;
            Some((decky.name.to_string(), node.to_owned()))
        })
        .collect();
    PlacementPlan { policy: placement.policy, nodes }
}
