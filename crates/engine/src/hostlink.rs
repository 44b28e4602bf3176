//! Probing a host-linked DMZ's addresses before the maze takes them.
//!
//! A DMZ on a host interface shares a network with real hosts, so an address the design
//! allocated may already be someone's. Before a base claims one (a deploy, a decky added
//! or attached live, a base re-created after it was lost) the runtime probes it; one that
//! answers is refused by address and nothing is created for it. A deploy probes every DMZ
//! address (and the host's shim address) at once, before any network exists.

use decnet_domain::{Code, Decky, Design, Lan, Refusal, Target};
use decnet_runtime::{LinkProbe, RuntimeError};

use crate::{Engine, EngineError};

/// The host-linked LAN of `design`, if its DMZ is on a host interface.
fn linked_dmz(design: &Design) -> Option<&Lan> {
    design.lans.values().find(|l| l.is_dmz && l.attachment.link().is_some())
}

/// The probe every address of a deploy needs: every DMZ decky's and the host's own.
pub(crate) fn deploy_probe(design: &Design) -> Option<LinkProbe> {
    let lan = linked_dmz(design)?;
    let link = lan.attachment.link()?;
    let mut addresses: Vec<_> = design.deckies.values().filter_map(|d| d.ips.get(&lan.name).copied()).collect();
    addresses.extend(link.host_address(lan.subnet));
    Some(LinkProbe { driver: lan.attachment.mode(), interface: link.interface.clone(), subnet: lan.subnet, addresses })
}

/// The probe `decky`'s address on a host-linked DMZ needs before its base is created.
pub(crate) fn decky_probe(design: &Design, decky: &Decky) -> Option<LinkProbe> {
    let lan = linked_dmz(design)?;
    let address = *decky.ips.get(&lan.name)?;
    let link = lan.attachment.link()?;
    Some(LinkProbe {
        driver: lan.attachment.mode(),
        interface: link.interface.clone(),
        subnet: lan.subnet,
        addresses: vec![address],
    })
}

/// A refusal that names what the probe found, for the decky that holds the address.
fn refusal(design: &Design, err: &RuntimeError) -> Option<Refusal> {
    let lan = linked_dmz(design)?;
    match err {
        RuntimeError::AddressInUse { address, .. } => {
            let holder = design.deckies.values().find(|d| d.ips.get(&lan.name) == Some(address));
            let target = match holder {
                Some(decky) => Target::decky_lan(decky.name.as_str(), lan.name.as_str()),
                None => Target { field: Some("attachment".into()), ..Target::lan(lan.name.as_str()) },
            };
            Some(Refusal::one(Code::AddressInUse, target, err.to_string()))
        }
        RuntimeError::HostLink(_) => Some(Refusal::one(
            Code::AttachmentInvalid,
            Target { field: Some("attachment".into()), ..Target::lan(lan.name.as_str()) },
            err.to_string(),
        )),
        _ => None,
    }
}

impl Engine {
    /// Probes what a deploy of `design` takes on its host-linked DMZ; a conflict or an
    /// unusable interface is a refusal (nothing was created).
    pub(crate) async fn probe_deploy(&self, design: &Design) -> Result<(), EngineError> {
        let Some(probe) = deploy_probe(design) else { return Ok(()) };
        match self.runtime.probe_link(&probe).await {
            Ok(()) => Ok(()),
            Err(err) => Err(refusal(design, &err).map_or_else(|| err.into(), EngineError::from)),
        }
    }

    /// Probes `decky`'s host-linked address before its base is created.
    pub(crate) async fn probe_decky(&self, design: &Design, decky: &Decky) -> Result<(), RuntimeError> {
        match decky_probe(design, decky) {
            Some(probe) => self.runtime.probe_link(&probe).await,
            None => Ok(()),
        }
    }
}
