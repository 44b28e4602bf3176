//! Every op's happy path, every guard and refusal, and the regressions of the original's
//! defects (named `defect_NN_…` after reference §11).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;

use chrono::Utc;
use decnet_domain::document::{TopologyDocument, to_design};
use decnet_domain::model::TopologyHeader;
use decnet_domain::validate::{Context, ForeignSubnet};
use decnet_domain::{
    Design, Mode, MutationOp, Name, Plan, Refusal, RuntimeAction, Topology, TopologyId, TopologyStatus, plan,
};
use serde_json::{Value, json};

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

/// DMZ with gateway `gw`; lan-a holds `bridge` (routes, also on the DMZ) and `db`;
/// lan-b (a /29) holds `tiny`, which is also on lan-a.
fn topology(status: TopologyStatus) -> Topology {
    let doc: TopologyDocument = serde_json::from_value(json!({
        "name": "t",
        "lans": [
            {"name": "dmz", "subnet": "10.0.0.0/24", "is_dmz": true},
            {"name": "lan-a", "subnet": "10.0.1.0/24"},
            {"name": "lan-b", "subnet": "10.0.2.0/29"}
        ],
        "deckies": [
            {"name": "gw", "home_lan": "dmz", "networks": [{"lan": "dmz", "ip": "10.0.0.2"}],
             "services": ["ssh"], "forwards_l3": true},
            {"name": "bridge", "home_lan": "lan-a",
             "networks": [{"lan": "lan-a", "ip": "10.0.1.2"}, {"lan": "dmz", "ip": "10.0.0.3"}],
             "services": ["http"], "forwards_l3": true},
            {"name": "db", "home_lan": "lan-a", "networks": [{"lan": "lan-a", "ip": "10.0.1.3"}],
             "services": ["mysql", "redis"], "service_config": {"mysql": {"version": "8.0.36"}}},
            {"name": "tiny", "home_lan": "lan-b",
             "networks": [{"lan": "lan-b", "ip": "10.0.2.2"}, {"lan": "lan-a", "ip": "10.0.1.4"}],
             "services": ["ftp"]}
        ]
    }))
    .unwrap();
    let parsed = to_design(&doc, "172.16.0.0/12".parse().unwrap(), &[]);
    assert!(parsed.issues.is_empty(), "{:?}", parsed.issues);
    let now = Utc::now();
    Topology {
        header: TopologyHeader {
            id: TopologyId(uuid::Uuid::nil()),
            name: name("t"),
            mode: Mode::Unihost,
            target_host: None,
            status,
            version: 7,
            generation: 3,
            observed: 0,
            created_at: now,
            status_changed_at: now,
            config_snapshot: json!({ "subnet_base": "10.0.0.0/22" }),
        },
        design: Arc::new(parsed.design),
        decky_status: Default::default(),
    }
}

fn try_plan_ctx(op: &str, payload: Value, ctx: &Context) -> Result<Plan, Refusal> {
    let t = topology(TopologyStatus::Active);
    let op = MutationOp::parse(op, &payload)?;
    plan(&t.header, &t.design, &op, ctx)
}

fn try_plan(op: &str, payload: Value) -> Result<Plan, Refusal> {
    try_plan_ctx(op, payload, &Context::default())
}

fn ok(op: &str, payload: Value) -> Plan {
    try_plan(op, payload).unwrap_or_else(|r| panic!("refused: {r}"))
}

fn refused(op: &str, payload: Value) -> Vec<&'static str> {
    match try_plan(op, payload) {
        Ok(plan) => panic!("accepted: {:?}", plan.actions),
        Err(refusal) => refusal.codes(),
    }
}

fn assert_refused(op: &str, payload: Value, code: &str) {
    let codes = refused(op, payload);
    assert!(codes.contains(&code), "expected {code}, got {codes:?}");
}

fn ip(design: &Design, decky: &str, lan: &str) -> String {
    design.deckies[decky].ips[lan].to_string()
}

// --- parsing ---------------------------------------------------------------------------

#[test]
fn unknown_op_is_refused() {
    assert_refused("explode", json!({}), "UNKNOWN_OP");
}

#[test]
fn malformed_payloads_name_the_field() {
    let missing = MutationOp::parse("add_lan", &json!({})).unwrap_err();
    assert_eq!(missing.codes(), ["PAYLOAD_INVALID"]);
    assert!(missing.issues[0].message.contains("name"), "{missing}");
    let bad_name = MutationOp::parse("add_decky", &json!({"name": "x", "lan": "Bad.Lan"})).unwrap_err();
    assert_eq!(bad_name.issues[0].target.field.as_deref(), Some("payload.lan"));
    let bad_ip = MutationOp::parse("attach_decky", &json!({"decky": "db", "lan": "dmz", "ip": "1.2.3"})).unwrap_err();
    assert_eq!(bad_ip.issues[0].target.field.as_deref(), Some("payload.ip"));
    let unknown = MutationOp::parse("remove_decky", &json!({"decky": "db", "cascade": true})).unwrap_err();
    assert!(unknown.issues[0].message.contains("cascade"), "{unknown}");
    let not_object = MutationOp::parse("remove_decky", &json!([1])).unwrap_err();
    assert_eq!(not_object.codes(), ["PAYLOAD_INVALID"]);
}

#[test]
fn only_live_topologies_accept_mutations() {
    for status in [TopologyStatus::Pending, TopologyStatus::Failed, TopologyStatus::TornDown] {
        let t = topology(status);
        let op = MutationOp::parse("remove_decky", &json!({"decky": "db"})).unwrap();
        let refusal = plan(&t.header, &t.design, &op, &Context::default()).unwrap_err();
        assert_eq!(refusal.codes(), ["TOPOLOGY_NOT_LIVE"], "{status}");
    }
}

// --- add_lan ---------------------------------------------------------------------------

#[test]
fn add_lan_allocates_under_the_topology_base_avoiding_every_claim() {
    let ctx = Context {
        foreign_subnets: vec![ForeignSubnet { topology: "other".into(), subnet: "10.0.3.0/24".parse().unwrap() }],
        ..Context::default()
    };
    // Base 10.0.0.0/22: .0, .1 and .2 are ours, .3 is the other topology's: exhausted.
    let codes = try_plan_ctx("add_lan", json!({"name": "new"}), &ctx).unwrap_err().codes();
    assert_eq!(codes, ["SUBNET_EXHAUSTED"]);
    let plan = ok("add_lan", json!({"name": "new"}));
    assert_eq!(plan.design.lans[&name("new")].subnet.to_string(), "10.0.3.0/24");
    assert_eq!(plan.actions, [RuntimeAction::CreateNetwork { lan: name("new") }]);
}

#[test]
fn add_lan_refusals() {
    assert_refused("add_lan", json!({"name": "lan-a"}), "LAN_EXISTS");
    assert_refused("add_lan", json!({"name": "x", "subnet": "10.0.1.128/25"}), "SUBNET_OVERLAP");
    assert_refused("add_lan", json!({"name": "x", "subnet": "10.9.0.0/30"}), "SUBNET_SIZE");
    assert_refused("add_lan", json!({"name": "x", "subnet": "10.9.0.0/24", "is_dmz": true}), "DMZ_MULTIPLE");
    let ctx = Context {
        foreign_subnets: vec![ForeignSubnet { topology: "other".into(), subnet: "10.9.0.0/16".parse().unwrap() }],
        ..Context::default()
    };
    let codes = try_plan_ctx("add_lan", json!({"name": "x", "subnet": "10.9.1.0/24"}), &ctx).unwrap_err().codes();
    assert_eq!(codes, ["SUBNET_TAKEN"]);
}

// --- remove_lan ------------------------------------------------------------------------

#[test]
fn remove_lan_disconnects_visitors_then_removes_the_network() {
    let mut t = topology(TopologyStatus::Active);
    // Make lan-b nobody's home: move tiny's home to lan-a.
    let tiny = Arc::make_mut(&mut t.design).deckies.get_mut("tiny").unwrap();
    Arc::make_mut(tiny).home_lan = name("lan-a");
    let op = MutationOp::parse("remove_lan", &json!({"name": "lan-b"})).unwrap();
    let plan = plan(&t.header, &t.design, &op, &Context::default()).unwrap();
    assert_eq!(
        plan.actions,
        [
            RuntimeAction::Disconnect { decky: name("tiny"), lan: name("lan-b") },
            RuntimeAction::RemoveNetwork { lan: name("lan-b") }
        ]
    );
    assert!(!plan.design.lans.contains_key("lan-b"));
    assert!(!plan.design.deckies["tiny"].ips.contains_key("lan-b"));
}

#[test]
fn remove_lan_refusals() {
    assert_refused("remove_lan", json!({"name": "nope"}), "LAN_NOT_FOUND");
    assert_refused("remove_lan", json!({"name": "lan-a"}), "HOME_LAN_REMOVE");
    assert_refused("remove_lan", json!({"name": "dmz"}), "HOME_LAN_REMOVE");
}

// --- add_decky -------------------------------------------------------------------------

#[test]
fn add_decky_allocates_the_next_free_ip_and_starts_only_that_decky() {
    let plan = ok("add_decky", json!({"name": "web", "lan": "lan-a", "archetype": "web-server"}));
    let web = &plan.design.deckies["web"];
    assert_eq!(web.ips[&name("lan-a")].to_string(), "10.0.1.5");
    assert_eq!(web.services, ["ftp", "http"]);
    assert_eq!(plan.actions, [RuntimeAction::StartDecky { decky: name("web") }]);
}

#[test]
fn add_decky_refusals() {
    assert_refused("add_decky", json!({"name": "db", "lan": "lan-a"}), "DECKY_EXISTS");
    assert_refused("add_decky", json!({"name": "x", "lan": "nope"}), "LAN_NOT_FOUND");
    assert_refused("add_decky", json!({"name": "x", "lan": "lan-a", "ip": "10.0.1.3"}), "IP_COLLISION");
    assert_refused("add_decky", json!({"name": "x", "lan": "lan-a", "ip": "10.0.9.3"}), "IP_OUT_OF_SUBNET");
    assert_refused("add_decky", json!({"name": "x", "lan": "lan-a", "services": ["gopher"]}), "UNKNOWN_SERVICE");
    assert_refused("add_decky", json!({"name": "x", "lan": "lan-a", "archetype": "toaster"}), "UNKNOWN_ARCHETYPE");
    assert_refused(
        "add_decky",
        json!({"name": "x", "lan": "dmz", "services": ["ssh"], "forwards_l3": true}),
        "PORT_CLASH",
    );
    // lan-b is a /29: .2-.6 usable, .2 taken; fill it and the next one is refused.
    let mut t = topology(TopologyStatus::Active);
    for (i, host) in (3..=6).enumerate() {
        let op = MutationOp::parse("add_decky", &json!({"name": format!("f{i}"), "lan": "lan-b"})).unwrap();
        let next = plan(&t.header, &t.design, &op, &Context::default()).unwrap();
        assert_eq!(ip(&next.design, &format!("f{i}"), "lan-b"), format!("10.0.2.{host}"));
        t.design = Arc::new(next.design);
    }
    let op = MutationOp::parse("add_decky", &json!({"name": "full", "lan": "lan-b"})).unwrap();
    assert_eq!(plan(&t.header, &t.design, &op, &Context::default()).unwrap_err().codes(), ["IP_EXHAUSTED"]);
}

// --- attach_decky ----------------------------------------------------------------------

#[test]
fn attach_decky_connects_the_running_base() {
    let plan = ok("attach_decky", json!({"decky": "db", "lan": "lan-b"}));
    assert_eq!(
        plan.actions,
        [RuntimeAction::Connect { decky: name("db"), lan: name("lan-b"), ip: "10.0.2.3".parse().unwrap() }]
    );
    assert!(plan.design.deckies["db"].is_bridge());
}

#[test]
fn attach_decky_refusals() {
    assert_refused("attach_decky", json!({"decky": "nope", "lan": "lan-b"}), "DECKY_NOT_FOUND");
    assert_refused("attach_decky", json!({"decky": "db", "lan": "nope"}), "LAN_NOT_FOUND");
    assert_refused("attach_decky", json!({"decky": "db", "lan": "lan-a"}), "ALREADY_ATTACHED");
    assert_refused("attach_decky", json!({"decky": "db", "lan": "lan-b", "ip": "10.0.2.2"}), "IP_COLLISION");
    assert_refused("attach_decky", json!({"decky": "db", "lan": "lan-b", "forwards_l3": true}), "FORCE_REQUIRED");
}

// --- detach_decky ----------------------------------------------------------------------

#[test]
fn detach_decky_disconnects() {
    let plan = ok("detach_decky", json!({"decky": "tiny", "lan": "lan-a"}));
    // Off lan-a, tiny reaches it through a forwarder now: its routes change in place.
    assert_eq!(
        plan.actions,
        [
            RuntimeAction::Disconnect { decky: name("tiny"), lan: name("lan-a") },
            RuntimeAction::SetRoutes { decky: name("tiny") }
        ]
    );
}

#[test]
fn detach_decky_refusals() {
    assert_refused("detach_decky", json!({"decky": "tiny", "lan": "lan-b"}), "HOME_LAN_DETACH");
    assert_refused("detach_decky", json!({"decky": "db", "lan": "dmz"}), "NOT_ATTACHED");
    assert_refused("detach_decky", json!({"decky": "nope", "lan": "dmz"}), "DECKY_NOT_FOUND");
    // The router would be left on one internal LAN, still claiming to forward.
    assert_refused("detach_decky", json!({"decky": "bridge", "lan": "dmz"}), "GATEWAY_NOT_IN_DMZ");
}

// --- remove_decky ----------------------------------------------------------------------

#[test]
fn remove_decky_removes_only_its_containers() {
    let plan = ok("remove_decky", json!({"decky": "db"}));
    assert_eq!(
        plan.actions,
        [RuntimeAction::RemoveDecky { decky: name("db"), services: vec!["mysql".into(), "redis".into()] }]
    );
    assert_refused("remove_decky", json!({"decky": "nope"}), "DECKY_NOT_FOUND");
}

// --- update_decky ----------------------------------------------------------------------

#[test]
fn update_decky_touches_only_changed_services() {
    let plan = ok(
        "update_decky",
        json!({"decky": "db", "services": ["mysql", "postgres"], "patch": {"service_config": {"mysql": {"version": "5.7.44"}}}}),
    );
    assert_eq!(
        plan.actions,
        [
            RuntimeAction::RemoveService { decky: name("db"), service: "redis".into() },
            RuntimeAction::AddService { decky: name("db"), service: "postgres".into() },
            RuntimeAction::RecreateService { decky: name("db"), service: "mysql".into() },
        ]
    );
    let coords = ok("update_decky", json!({"decky": "db", "x": 1.5, "y": 2.0}));
    assert!(coords.actions.is_empty());
    assert_eq!(coords.design.deckies["db"].x, Some(1.5));
}

#[test]
fn update_decky_refusals() {
    assert_refused("update_decky", json!({"decky": "gw", "patch": {"forwards_l3": false}}), "FORCE_REQUIRED");
    assert_refused(
        "update_decky",
        json!({"decky": "db", "patch": {"forwards_l3": true}, "force": true}),
        "GATEWAY_NOT_IN_DMZ",
    );
    assert_refused("update_decky", json!({"decky": "db", "services": ["gopher"]}), "UNKNOWN_SERVICE");
    assert_refused("update_decky", json!({"decky": "db", "services": ["smtp", "smtp_relay"]}), "SERVICE_PORT_DUP");
    assert_refused("update_decky", json!({"decky": "nope"}), "DECKY_NOT_FOUND");
    assert_refused("update_decky", json!({"decky": "db", "patch": {"archetype": "windows-server"}}), "FORCE_REQUIRED");
}

#[test]
fn update_decky_forced_routing_flip_recreates_only_the_base() {
    let plan = ok("update_decky", json!({"decky": "gw", "patch": {"forwards_l3": false}, "force": true}));
    assert_eq!(plan.actions, [RuntimeAction::RecreateBase { decky: name("gw") }]);
    assert!(plan.design.gateways().next().is_none());
}

// --- update_lan ------------------------------------------------------------------------

#[test]
fn update_lan_moves_coordinates_without_runtime_work() {
    let plan = ok("update_lan", json!({"name": "lan-a", "x": 10.0, "patch": {"y": 20.0}}));
    assert!(plan.actions.is_empty());
    assert_eq!((plan.design.lans["lan-a"].x, plan.design.lans["lan-a"].y), (Some(10.0), Some(20.0)));
    // Restating the current values is not a change.
    ok("update_lan", json!({"name": "lan-a", "patch": {"subnet": "10.0.1.0/24", "is_dmz": false}}));
}

#[test]
fn update_lan_refusals() {
    assert_refused("update_lan", json!({"name": "nope"}), "LAN_NOT_FOUND");
    assert_refused("update_lan", json!({"name": "lan-a", "patch": {"subnet": "10.0.7.0/24"}}), "LIVE_CHANGE_FORBIDDEN");
    assert_refused("update_lan", json!({"name": "lan-a", "patch": {"is_dmz": true}}), "LIVE_CHANGE_FORBIDDEN");
}

// --- a DMZ on a host interface -----------------------------------------------------------

const MACVLAN: &str = r#"{"mode": "macvlan", "interface": "eth0", "gateway": "10.0.0.1", "ip_range": "10.0.0.64/29"}"#;

#[test]
fn a_pending_dmz_moved_onto_a_host_interface_readdresses_its_members_into_the_range() {
    let t = topology(TopologyStatus::Pending);
    let attachment: Value = serde_json::from_str(MACVLAN).unwrap();
    let op = MutationOp::parse("update_lan", &json!({"name": "dmz", "patch": {"attachment": attachment}})).unwrap();
    let design = decnet_domain::edit_pending(&t.header, &t.design, &op, &Context::default()).unwrap();
    // .64-.70 for deckies, .71 the host's shim.
    assert_eq!(ip(&design, "bridge", "dmz"), "10.0.0.64");
    assert_eq!(ip(&design, "gw", "dmz"), "10.0.0.65");
    assert!(
        decnet_domain::validate::validate(&design, &Context::default(), decnet_domain::validate::Scope::PostApply)
            .iter()
            .all(|i| !i.is_error())
    );
    // The gateway no longer publishes host ports: every DMZ decky has its own address.
    assert!(!design.publishes_ports(&design.deckies["gw"]) && design.is_gateway(&design.deckies["gw"]));
    // A new DMZ decky takes the next address of the range, never the shim's.
    let header = TopologyHeader { status: TopologyStatus::Active, ..t.header.clone() };
    let added = plan(
        &header,
        &design,
        &MutationOp::parse("add_decky", &json!({"name": "n", "lan": "dmz"})).unwrap(),
        &Context::default(),
    )
    .unwrap();
    assert_eq!(ip(&added.design, "n", "dmz"), "10.0.0.66");
    let full = (0..5).try_fold(added.design, |design, i| {
        let op = MutationOp::parse("add_decky", &json!({"name": format!("m{i}"), "lan": "dmz"})).unwrap();
        plan(&header, &design, &op, &Context::default()).map(|p| p.design)
    });
    let codes = full.err().map(|r| r.codes()).unwrap_or_default();
    assert_eq!(codes, ["IP_EXHAUSTED"], "the shim's .71 is never a decky's");
}

#[test]
fn an_export_keeps_the_attachment_and_imports_it_back() {
    let t = topology(TopologyStatus::Pending);
    let attachment: Value = serde_json::from_str(MACVLAN).unwrap();
    let op = MutationOp::parse("update_lan", &json!({"name": "dmz", "patch": {"attachment": attachment}})).unwrap();
    let design = decnet_domain::edit_pending(&t.header, &t.design, &op, &Context::default()).unwrap();
    let doc = decnet_domain::document::from_design(&name("t"), Mode::Unihost, None, Default::default(), &design);
    let text = serde_json::to_value(&doc).unwrap();
    assert_eq!(text["lans"][0]["attachment"], attachment, "{text}");
    assert!(text["lans"][1].get("attachment").is_none(), "a bridge says nothing: {text}");
    let back = to_design(&serde_json::from_value(text).unwrap(), "172.16.0.0/12".parse().unwrap(), &[]);
    assert!(back.issues.is_empty(), "{:?}", back.issues);
    assert_eq!(back.design.lans["dmz"].attachment, design.lans["dmz"].attachment);
}

#[test]
fn host_attachments_are_refused_off_the_dmz_outside_the_subnet_and_while_deployed() {
    let attachment: Value = serde_json::from_str(MACVLAN).unwrap();
    assert_refused("update_lan", json!({"name": "dmz", "patch": {"attachment": attachment}}), "LIVE_CHANGE_FORBIDDEN");
    let t = topology(TopologyStatus::Pending);
    let edit = |lan: &str, attachment: Value| {
        let op = MutationOp::parse("update_lan", &json!({"name": lan, "patch": {"attachment": attachment}})).unwrap();
        decnet_domain::edit_pending(&t.header, &t.design, &op, &Context::default())
    };
    // What the store checks after a pending edit: the invariants every design keeps.
    let codes = |result: Result<Design, Refusal>| match result {
        Ok(design) => {
            decnet_domain::validate::validate(&design, &Context::default(), decnet_domain::validate::Scope::PostApply)
                .into_iter()
                .filter(|i| i.is_error())
                .map(|i| i.code.as_str())
                .collect::<Vec<_>>()
        }
        Err(refusal) => refusal.codes(),
    };
    let off_dmz = json!({"mode": "macvlan", "interface": "eth0", "gateway": "10.0.1.1", "ip_range": "10.0.1.64/29"});
    assert!(codes(edit("lan-a", off_dmz)).contains(&"ATTACHMENT_INVALID"));
    let outside = json!({"mode": "ipvlan", "interface": "eth0", "gateway": "10.0.0.1", "ip_range": "10.9.0.0/28"});
    assert!(codes(edit("dmz", outside)).contains(&"ATTACHMENT_INVALID"));
    let hostile =
        json!({"mode": "macvlan", "interface": "eth0 && reboot", "gateway": "10.0.0.1", "ip_range": "10.0.0.64/29"});
    assert!(codes(edit("dmz", hostile)).contains(&"ATTACHMENT_INVALID"));
    assert!(
        MutationOp::parse("update_lan", &json!({"name": "dmz", "patch": {"attachment": {"mode": "vxlan"}}})).is_err()
    );
}

// --- regressions of the original's defects (reference §11) -------------------------------

#[test]
fn defect_02_a_refused_plan_leaves_the_design_untouched() {
    let t = topology(TopologyStatus::Active);
    let before = (*t.design).clone();
    let op = MutationOp::parse("add_decky", &json!({"name": "x", "lan": "lan-a", "services": ["gopher"]})).unwrap();
    assert!(plan(&t.header, &t.design, &op, &Context::default()).is_err());
    assert_eq!(*t.design, before);
}

#[test]
fn defect_10_internal_bridges_never_publish_host_ports() {
    let t = topology(TopologyStatus::Active);
    let gateways: Vec<_> = t.design.gateways().map(|d| d.name.to_string()).collect();
    assert_eq!(gateways, ["gw"], "the forwarding bridge homed in lan-a is a router, not a gateway");
}

#[test]
fn defect_11_ips_never_shift_when_other_deckies_come_and_go() {
    let mut t = topology(TopologyStatus::Active);
    let before: Vec<_> = t.design.edges().collect();
    for (op, payload) in [
        ("remove_decky", json!({"decky": "db"})),
        ("add_decky", json!({"name": "aaa", "lan": "lan-a"})),
        ("add_decky", json!({"name": "db", "lan": "lan-a"})),
    ] {
        let op = MutationOp::parse(op, &payload).unwrap();
        t.design = Arc::new(plan(&t.header, &t.design, &op, &Context::default()).unwrap().design);
    }
    for edge in before.iter().filter(|e| e.decky.as_str() != "db") {
        assert_eq!(t.design.deckies[&edge.decky].ips[&edge.lan], edge.ip, "{} moved", edge.decky);
    }
}

#[test]
fn defect_15_no_live_renames_and_no_case_collisions() {
    assert_refused("update_lan", json!({"name": "lan-a", "patch": {"name": "lan-z"}}), "LIVE_CHANGE_FORBIDDEN");
    // A decky has no patchable name: renaming through the config blob is impossible.
    assert_refused("update_decky", json!({"decky": "db", "patch": {"name": "other"}}), "PAYLOAD_INVALID");
    // "DMZ" and "dmz" cannot both exist: upper case is not a valid name.
    assert_refused("add_lan", json!({"name": "DMZ"}), "PAYLOAD_INVALID");
}

#[test]
fn defect_17_the_home_lan_is_the_explicit_field_everywhere() {
    // tiny's home is lan-b although lan-a sorts first in its memberships.
    let t = topology(TopologyStatus::Active);
    assert_eq!(t.design.deckies["tiny"].ips.keys().next().map(Name::as_str), Some("lan-a"));
    assert_refused("detach_decky", json!({"decky": "tiny", "lan": "lan-b"}), "HOME_LAN_DETACH");
    ok("detach_decky", json!({"decky": "tiny", "lan": "lan-a"}));
    assert_refused("remove_lan", json!({"name": "lan-b"}), "HOME_LAN_REMOVE");
}

#[test]
fn defect_18_gateway_checks_apply_to_add_and_attach_too() {
    assert_refused("add_decky", json!({"name": "x", "lan": "lan-a", "forwards_l3": true}), "GATEWAY_NOT_IN_DMZ");
    assert_refused("attach_decky", json!({"decky": "db", "lan": "lan-b", "forwards_l3": true}), "FORCE_REQUIRED");
    let forced = ok("attach_decky", json!({"decky": "db", "lan": "lan-b", "forwards_l3": true, "force": true}));
    // db forwarding between lan-a and lan-b gives the others a route through it.
    assert_eq!(
        forced.actions,
        [
            RuntimeAction::RecreateBase { decky: name("db") },
            RuntimeAction::SetRoutes { decky: name("bridge") },
            RuntimeAction::SetRoutes { decky: name("gw") }
        ]
    );
}
