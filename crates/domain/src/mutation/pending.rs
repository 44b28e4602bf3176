//! Edits of a pending topology: the designer's LAN, decky and edge changes.
//!
//! A pending topology has no containers yet, so edits that a deployed one refuses are
//! fine here: a LAN may be renamed, re-addressed or made the DMZ, and routing may be
//! switched on without `force`. The ops' own guards still hold (names unique, references
//! exist, addresses free), so every edit leaves a well-formed design; whole-topology rules
//! (one DMZ, reachability, gateways) are checked by validation before deploy, since a
//! design passes through incomplete states while it is drawn.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::alloc::IpCursor;
use crate::issue::{Code, Target};
use crate::model::{Design, TopologyHeader};
use crate::mutation::plan::{draft_op, lan_not_found};
use crate::mutation::{MutationOp, Refusal, UpdateLan};
use crate::validate::Context;

/// The design after `op` on the pending topology `current`, or why not.
pub fn edit_pending(
    header: &TopologyHeader,
    current: &Design,
    op: &MutationOp,
    ctx: &Context,
) -> Result<Design, Refusal> {
    match op {
        MutationOp::UpdateLan(op) => update_lan(current, op),
        MutationOp::AttachDecky(attach) => {
            let attach = MutationOp::AttachDecky(crate::mutation::AttachDecky { force: true, ..attach.clone() });
            Ok(draft_op(header, current, &attach, ctx)?.design)
        }
        MutationOp::UpdateDecky(update) => {
            let update = MutationOp::UpdateDecky(crate::mutation::UpdateDecky { force: true, ..update.clone() });
            Ok(draft_op(header, current, &update, ctx)?.design)
        }
        other => Ok(draft_op(header, current, other, ctx)?.design),
    }
}

/// Renames, re-addresses (every member gets a fresh IP in the new subnet or attachment
/// range), flips the DMZ flag, changes the attachment and moves a LAN.
fn update_lan(current: &Design, op: &UpdateLan) -> Result<Design, Refusal> {
    let before = current.lans.get(&op.name).ok_or_else(|| lan_not_found(&op.name))?;
    let patch = &op.patch;
    let mut after = before.clone();
    if let Some(name) = patch.name.as_ref().filter(|n| **n != before.name) {
        if current.lans.contains_key(name) {
            return Err(Refusal::one(
                Code::LanExists,
                Target::lan(name.as_str()),
                format!("LAN {name} already exists"),
            ));
        }
        after.name = name.clone();
    }
    if let Some(subnet) = patch.subnet {
        after.subnet = subnet.trunc();
    }
    if let Some(is_dmz) = patch.is_dmz {
        after.is_dmz = is_dmz;
    }
    if let Some(attachment) = &patch.attachment {
        after.attachment = attachment.clone();
    }
    after.x = op.x.or(patch.x).or(after.x);
    after.y = op.y.or(patch.y).or(after.y);

    // Said before any member is re-addressed: a range that does not fit has no room.
    if let Some(link) = after.attachment.link() {
        let problems = crate::attachment::problems(link, after.subnet);
        if !problems.is_empty() {
            return Err(Refusal::one(
                Code::AttachmentInvalid,
                Target { field: Some("patch.attachment".into()), ..Target::lan(after.name.as_str()) },
                format!("{} of LAN {}: {}", after.attachment.mode(), after.name, problems.join("; ")),
            ));
        }
    }
    let readdress = after.subnet != before.subnet || after.attachment != before.attachment;
    let mut ips = IpCursor::for_lan(&after, []);
    let mut design = current.clone();
    let mut deckies = BTreeMap::new();
    for (name, decky) in &current.deckies {
        let Some(&old_ip) = decky.ips.get(&before.name) else {
            continue;
        };
        let ip = if readdress {
            ips.next_ip().ok_or_else(|| {
                Refusal::one(
                    Code::IpExhausted,
                    Target::lan(after.name.as_str()),
                    format!("subnet {} has no room for the {}'s members", after.subnet, before.name),
                )
            })?
        } else {
            old_ip
        };
        let mut moved = (**decky).clone();
        moved.ips.remove(&before.name);
        moved.ips.insert(after.name.clone(), ip);
        if moved.home_lan == before.name {
            moved.home_lan = after.name.clone();
        }
        deckies.insert(name.clone(), Arc::new(moved));
    }
    design.deckies.extend(deckies);
    design.lans.remove(&before.name);
    design.lans.insert(after.name.clone(), after);
    Ok(design)
}
