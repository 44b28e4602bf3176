//! Planning of the eight mutation ops.
//!
//! Each `plan_*` function checks the op's guards against the current design, builds the
//! next design and lists the runtime actions. [`plan`] then runs the post-apply invariants
//! on the planned design, so a plan that would break the topology is refused before
//! anything is written (fixing the original's write-then-validate order).

use std::collections::BTreeSet;
use std::sync::Arc;

use ipnet::Ipv4Net;

use crate::alloc::{SubnetAllocator, default_subnet_base, next_free_lan_ip};
use crate::catalogue;
use crate::issue::{Code, Target, errors};
use crate::model::{Decky, Design, ItemId, Lan, TopologyHeader};
use crate::mutation::{
    AddDecky, AddLan, AttachDecky, DetachDecky, MutationOp, Plan, Refusal, RemoveDecky, RemoveLan, RuntimeAction,
    UpdateDecky, UpdateLan,
};
use crate::name::Name;
use crate::validate::{Context, validate_change};

/// Plans `op` against the topology described by `header` and `current`, then checks the
/// post-apply invariants on the planned design. `ctx` carries other topologies' claims
/// (needed when [`MutationOp::needs_claims`] is true; an empty context is fine otherwise).
pub fn plan(header: &TopologyHeader, current: &Design, op: &MutationOp, ctx: &Context) -> Result<Plan, Refusal> {
    let mut plan = draft(header, current, op, ctx)?;
    let issues = validate_change(current, &plan.design, ctx);
    let blocking: Vec<_> = errors(&issues).cloned().collect();
    if !blocking.is_empty() {
        return Err(Refusal { issues: blocking });
    }
    let reroutes = route_changes(current, &plan);
    plan.actions.extend(reroutes);
    Ok(plan)
}

/// `SetRoutes` for every running decky whose routes the op changes: a decky the plan
/// starts or recreates gets its routes with its new base, and one it removes needs none.
fn route_changes(current: &Design, plan: &Plan) -> Vec<RuntimeAction> {
    let fresh: std::collections::BTreeSet<&Name> = plan
        .actions
        .iter()
        .filter_map(|action| match action {
            RuntimeAction::StartDecky { decky }
            | RuntimeAction::RecreateBase { decky }
            | RuntimeAction::RemoveDecky { decky, .. } => Some(decky),
            _ => None,
        })
        .collect();
    let before = crate::routing::routes(current);
    crate::routing::routes(&plan.design)
        .into_iter()
        .filter(|(decky, routes)| !fresh.contains(decky) && before.get(decky).is_some_and(|old| old != routes))
        .map(|(decky, _)| RuntimeAction::SetRoutes { decky })
        .collect()
}

/// The op's own guards and its planned design, before the post-apply invariants: what
/// [`plan`] checks, exposed so tests can compare the invariant checks themselves.
pub fn draft(header: &TopologyHeader, current: &Design, op: &MutationOp, ctx: &Context) -> Result<Plan, Refusal> {
    let status = header.status;
    if !status.accepts_mutations() {
        return Err(Refusal::one(
            Code::TopologyNotLive,
            Target::default(),
            format!("topology {} is {status}; mutations apply only to active or degraded topologies", header.name),
        ));
    }
    draft_op(header, current, op, ctx)
}

/// The op's guards and planned design, whatever the topology's status (pending edits use
/// it too).
pub(crate) fn draft_op(
    header: &TopologyHeader,
    current: &Design,
    op: &MutationOp,
    ctx: &Context,
) -> Result<Plan, Refusal> {
    Ok(match op {
        MutationOp::AddLan(op) => plan_add_lan(header, current, op, ctx)?,
        MutationOp::RemoveLan(op) => plan_remove_lan(current, op)?,
        MutationOp::AddDecky(op) => plan_add_decky(current, op)?,
        MutationOp::AttachDecky(op) => plan_attach_decky(current, op)?,
        MutationOp::DetachDecky(op) => plan_detach_decky(current, op)?,
        MutationOp::RemoveDecky(op) => plan_remove_decky(current, op)?,
        MutationOp::UpdateDecky(op) => plan_update_decky(current, op)?,
        MutationOp::UpdateLan(op) => plan_update_lan(current, op)?,
    })
}

pub(crate) fn lan_not_found(lan: &Name) -> Refusal {
    Refusal::one(Code::LanNotFound, Target::lan(lan.as_str()), format!("LAN {lan} not found"))
}

fn decky_not_found(decky: &Name) -> Refusal {
    Refusal::one(Code::DeckyNotFound, Target::decky(decky.as_str()), format!("decky {decky} not found"))
}

fn decky<'a>(design: &'a Design, name: &Name) -> Result<&'a Decky, Refusal> {
    design.deckies.get(name).map(|d| &**d).ok_or_else(|| decky_not_found(name))
}

fn lan<'a>(design: &'a Design, name: &Name) -> Result<&'a Lan, Refusal> {
    design.lans.get(name).ok_or_else(|| lan_not_found(name))
}

/// The subnet base recorded in the topology's generator snapshot, else the default.
fn subnet_base(header: &TopologyHeader) -> Ipv4Net {
    header
        .config_snapshot
        .get("subnet_base")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(default_subnet_base)
}

/// The next free IP of `lan` in `design`.
fn allocate_ip(design: &Design, lan: &Lan) -> Result<std::net::Ipv4Addr, Refusal> {
    let taken = design.deckies.values().filter_map(|d| d.ips.get(&lan.name).copied());
    next_free_lan_ip(lan, taken).ok_or_else(|| {
        Refusal::one(
            Code::IpExhausted,
            Target::lan(lan.name.as_str()),
            format!("no free address left in LAN {}", lan.name),
        )
    })
}

fn plan_add_lan(header: &TopologyHeader, current: &Design, op: &AddLan, ctx: &Context) -> Result<Plan, Refusal> {
    if current.lans.contains_key(&op.name) {
        return Err(Refusal::one(
            Code::LanExists,
            Target::lan(op.name.as_str()),
            format!("LAN {} already exists", op.name),
        ));
    }
    let subnet = match op.subnet {
        Some(subnet) => subnet.trunc(),
        None => {
            let base = subnet_base(header);
            let claimed = current.lans.values().map(|l| l.subnet).chain(ctx.foreign_subnets.iter().map(|f| f.subnet));
            SubnetAllocator::new(base, claimed).and_then(|mut a| a.next_subnet()).ok_or_else(|| {
                Refusal::one(
                    Code::SubnetExhausted,
                    Target::lan(op.name.as_str()),
                    format!("no free /24 left under {base}"),
                )
            })?
        }
    };
    let mut design = current.clone();
    design.lans.insert(
        op.name.clone(),
        Lan {
            id: ItemId::default(),
            name: op.name.clone(),
            subnet,
            is_dmz: op.is_dmz,
            attachment: op.attachment.clone(),
            x: op.x,
            y: op.y,
        },
    );
    Ok(Plan { design, actions: vec![RuntimeAction::CreateNetwork { lan: op.name.clone() }] })
}

fn plan_remove_lan(current: &Design, op: &RemoveLan) -> Result<Plan, Refusal> {
    lan(current, &op.name)?;
    let homed: Vec<String> =
        current.deckies.values().filter(|d| d.home_lan == op.name).map(|d| d.name.to_string()).collect();
    if !homed.is_empty() {
        return Err(Refusal::one(
            Code::HomeLanRemove,
            Target { lan: Some(op.name.to_string()), deckies: homed.clone(), ..Target::default() },
            format!("LAN {} is the home LAN of {}; remove those deckies first", op.name, homed.join(", ")),
        ));
    }
    let mut design = current.clone();
    let mut actions = Vec::new();
    for decky in design.deckies.values_mut() {
        if decky.ips.contains_key(&op.name) {
            Arc::make_mut(decky).ips.remove(&op.name);
            actions.push(RuntimeAction::Disconnect { decky: decky.name.clone(), lan: op.name.clone() });
        }
    }
    design.lans.remove(&op.name);
    actions.push(RuntimeAction::RemoveNetwork { lan: op.name.clone() });
    Ok(Plan { design, actions })
}

fn plan_add_decky(current: &Design, op: &AddDecky) -> Result<Plan, Refusal> {
    if current.deckies.contains_key(&op.name) {
        return Err(Refusal::one(
            Code::DeckyExists,
            Target::decky(op.name.as_str()),
            format!("decky {} already exists", op.name),
        ));
    }
    let home = lan(current, &op.lan)?;
    let mut services = match (&op.services, &op.archetype) {
        (Some(services), _) => services.clone(),
        (None, Some(slug)) => {
            catalogue::archetype(slug).map(|a| a.services.iter().map(|s| (*s).to_owned()).collect()).unwrap_or_default()
        }
        (None, None) => Vec::new(),
    };
    services.sort();
    let ip = match op.ip {
        Some(ip) => ip,
        None => allocate_ip(current, home)?,
    };
    let mut design = current.clone();
    design.deckies.insert(
        op.name.clone(),
        Arc::new(Decky {
            id: ItemId::default(),
            name: op.name.clone(),
            hostname: None,
            home_lan: op.lan.clone(),
            ips: [(op.lan.clone(), ip)].into(),
            services,
            forwards_l3: op.forwards_l3,
            archetype: op.archetype.clone(),
            service_config: op.service_config.clone(),
            x: op.x,
            y: op.y,
        }),
    );
    Ok(Plan { design, actions: vec![RuntimeAction::StartDecky { decky: op.name.clone() }] })
}

fn force_required(decky: &Name, why: &str) -> Refusal {
    Refusal::one(
        Code::ForceRequired,
        Target::decky(decky.as_str()),
        format!("{why} on running decky {decky} recreates its base container and drops its sessions; pass force=true"),
    )
}

fn plan_attach_decky(current: &Design, op: &AttachDecky) -> Result<Plan, Refusal> {
    let target = lan(current, &op.lan)?;
    let existing = decky(current, &op.decky)?;
    if existing.ips.contains_key(&op.lan) {
        return Err(Refusal::one(
            Code::AlreadyAttached,
            Target::decky_lan(op.decky.as_str(), op.lan.as_str()),
            format!("decky {} is already on LAN {}", op.decky, op.lan),
        ));
    }
    let starts_routing = op.forwards_l3 && !existing.forwards_l3;
    if starts_routing && !op.force {
        return Err(force_required(&op.decky, "turning on forwards_l3"));
    }
    let ip = match op.ip {
        Some(ip) => ip,
        None => allocate_ip(current, target)?,
    };
    let mut design = current.clone();
    let Some(updated) = design.deckies.get_mut(&op.decky).map(Arc::make_mut) else {
        return Err(decky_not_found(&op.decky));
    };
    updated.ips.insert(op.lan.clone(), ip);
    updated.forwards_l3 |= op.forwards_l3;
    let action = if starts_routing {
        RuntimeAction::RecreateBase { decky: op.decky.clone() }
    } else {
        RuntimeAction::Connect { decky: op.decky.clone(), lan: op.lan.clone(), ip }
    };
    Ok(Plan { design, actions: vec![action] })
}

fn plan_detach_decky(current: &Design, op: &DetachDecky) -> Result<Plan, Refusal> {
    lan(current, &op.lan)?;
    let existing = decky(current, &op.decky)?;
    if existing.home_lan == op.lan {
        return Err(Refusal::one(
            Code::HomeLanDetach,
            Target::decky_lan(op.decky.as_str(), op.lan.as_str()),
            format!("LAN {} is the home LAN of decky {}; use remove_decky instead", op.lan, op.decky),
        ));
    }
    if !existing.ips.contains_key(&op.lan) {
        return Err(Refusal::one(
            Code::NotAttached,
            Target::decky_lan(op.decky.as_str(), op.lan.as_str()),
            format!("decky {} is not on LAN {}", op.decky, op.lan),
        ));
    }
    let mut design = current.clone();
    if let Some(updated) = design.deckies.get_mut(&op.decky).map(Arc::make_mut) {
        updated.ips.remove(&op.lan);
    }
    Ok(Plan { design, actions: vec![RuntimeAction::Disconnect { decky: op.decky.clone(), lan: op.lan.clone() }] })
}

fn plan_remove_decky(current: &Design, op: &RemoveDecky) -> Result<Plan, Refusal> {
    let existing = decky(current, &op.decky)?;
    let services = existing.services.clone();
    let mut design = current.clone();
    design.deckies.remove(&op.decky);
    Ok(Plan { design, actions: vec![RuntimeAction::RemoveDecky { decky: op.decky.clone(), services }] })
}

fn plan_update_decky(current: &Design, op: &UpdateDecky) -> Result<Plan, Refusal> {
    let before = decky(current, &op.decky)?;
    let mut after = Decky::clone(before);
    if let Some(services) = &op.services {
        after.services = services.clone();
        after.services.sort();
        // Config of services that are gone goes with them.
        after.service_config.retain(|slug, _| after.services.contains(slug));
    }
    if let Some(config) = &op.patch.service_config {
        for (slug, values) in config {
            after.service_config.insert(slug.clone(), values.clone());
        }
    }
    if let Some(archetype) = &op.patch.archetype {
        after.archetype = Some(archetype.clone());
    }
    if let Some(forwards) = op.patch.forwards_l3 {
        after.forwards_l3 = forwards;
    }
    after.x = op.x.or(after.x);
    after.y = op.y.or(after.y);

    let routing_flipped = after.forwards_l3 != before.forwards_l3;
    let os_changed =
        catalogue::os_family_of(after.archetype.as_deref()) != catalogue::os_family_of(before.archetype.as_deref());
    if routing_flipped && !op.force {
        return Err(force_required(&op.decky, "changing forwards_l3"));
    }
    if os_changed && !op.force {
        return Err(force_required(&op.decky, "changing the archetype's OS fingerprint"));
    }

    let mut actions = Vec::new();
    if routing_flipped || os_changed {
        // A new base re-joins every service, so no per-service actions are needed.
        actions.push(RuntimeAction::RecreateBase { decky: op.decky.clone() });
    } else {
        let old: BTreeSet<&String> = before.services.iter().collect();
        let new: BTreeSet<&String> = after.services.iter().collect();
        for gone in old.difference(&new) {
            actions.push(RuntimeAction::RemoveService { decky: op.decky.clone(), service: (*gone).clone() });
        }
        for added in new.difference(&old) {
            actions.push(RuntimeAction::AddService { decky: op.decky.clone(), service: (*added).clone() });
        }
        for kept in old.intersection(&new) {
            if before.service_config.get(*kept) != after.service_config.get(*kept) {
                actions.push(RuntimeAction::RecreateService { decky: op.decky.clone(), service: (*kept).clone() });
            }
        }
    }
    let mut design = current.clone();
    design.deckies.insert(op.decky.clone(), Arc::new(after));
    Ok(Plan { design, actions })
}

fn plan_update_lan(current: &Design, op: &UpdateLan) -> Result<Plan, Refusal> {
    let before = lan(current, &op.name)?;
    let patch = &op.patch;
    let mut pinned = Vec::new();
    if patch.name.as_ref().is_some_and(|n| *n != before.name) {
        pinned.push("patch.name");
    }
    if patch.subnet.is_some_and(|s| s.trunc() != before.subnet) {
        pinned.push("patch.subnet");
    }
    if patch.is_dmz.is_some_and(|d| d != before.is_dmz) {
        pinned.push("patch.is_dmz");
    }
    if patch.attachment.as_ref().is_some_and(|a| *a != before.attachment) {
        pinned.push("patch.attachment");
    }
    if !pinned.is_empty() {
        return Err(Refusal::one(
            Code::LiveChangeForbidden,
            Target { lan: Some(op.name.to_string()), field: Some(pinned.join(",")), ..Target::default() },
            format!(
                "{} of LAN {} cannot change while the topology is deployed (its network and every IP on it depend on them); \
                 tear down, edit and redeploy instead",
                pinned.join(", "),
                op.name
            ),
        ));
    }
    let mut after = before.clone();
    after.x = op.x.or(patch.x).or(after.x);
    after.y = op.y.or(patch.y).or(after.y);
    let mut design = current.clone();
    design.lans.insert(op.name.clone(), after);
    Ok(Plan { design, actions: Vec::new() })
}
