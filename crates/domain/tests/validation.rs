//! One test per validation code: a design that hits the rule and a near miss that does not.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use decnet_domain::catalogue::Proto;
use decnet_domain::document::{TopologyDocument, to_design};
use decnet_domain::validate::{Context, ForeignPort, ForeignSubnet, Scope, validate};
use decnet_domain::{Code, Issue, Severity};
use serde_json::{Value, json};

/// A valid topology: DMZ with a gateway, one internal LAN joined by a routing bridge.
fn base() -> Value {
    json!({
        "name": "t",
        "lans": [
            {"name": "dmz", "subnet": "10.0.0.0/24", "is_dmz": true},
            {"name": "lan-a", "subnet": "10.0.1.0/24"}
        ],
        "deckies": [
            {"name": "gw", "home_lan": "dmz", "networks": [{"lan": "dmz", "ip": "10.0.0.2"}],
             "services": ["ssh"], "forwards_l3": true},
            {"name": "bridge", "home_lan": "lan-a",
             "networks": [{"lan": "lan-a", "ip": "10.0.1.2"}, {"lan": "dmz", "ip": "10.0.0.3"}],
             "services": ["http"], "forwards_l3": true},
            {"name": "db", "home_lan": "lan-a", "networks": [{"lan": "lan-a", "ip": "10.0.1.3"}],
             "services": ["mysql"], "service_config": {"mysql": {"version": "8.0.36"}}}
        ]
    })
}

fn issues_with(doc: &Value, ctx: &Context) -> Vec<Issue> {
    let doc: TopologyDocument = serde_json::from_value(doc.clone()).unwrap();
    let parsed = to_design(&doc, "172.16.0.0/12".parse().unwrap(), &[]);
    let mut issues = parsed.issues;
    issues.extend(validate(&parsed.design, ctx, Scope::Full));
    issues
}

fn codes(doc: &Value, ctx: &Context) -> Vec<&'static str> {
    issues_with(doc, ctx).iter().map(|i| i.code.as_str()).collect()
}

fn hit(code: &str, doc: &Value) {
    hit_ctx(code, doc, &Context::default());
}

fn hit_ctx(code: &str, doc: &Value, ctx: &Context) {
    let found = codes(doc, ctx);
    assert!(found.contains(&code), "expected {code}, got {found:?}");
}

fn miss(code: &str, doc: &Value) {
    miss_ctx(code, doc, &Context::default());
}

fn miss_ctx(code: &str, doc: &Value, ctx: &Context) {
    let found = codes(doc, ctx);
    assert!(!found.contains(&code), "did not expect {code}, got {found:?}");
}

fn edit(f: impl FnOnce(&mut Value)) -> Value {
    let mut doc = base();
    f(&mut doc);
    doc
}

#[test]
fn the_base_design_is_valid() {
    assert_eq!(codes(&base(), &Context::default()), Vec::<&str>::new());
}

#[test]
fn dmz_missing() {
    hit("DMZ_MISSING", &edit(|d| d["lans"][0]["is_dmz"] = json!(false)));
    miss("DMZ_MISSING", &base());
}

#[test]
fn dmz_multiple_lists_every_dmz() {
    let doc = edit(|d| d["lans"][1]["is_dmz"] = json!(true));
    let issue = issues_with(&doc, &Context::default()).into_iter().find(|i| i.code == Code::DmzMultiple).unwrap();
    assert_eq!(issue.target.lans, ["dmz", "lan-a"]);
    miss("DMZ_MULTIPLE", &base());
}

#[test]
fn dmz_orphan() {
    // Without the bridge's DMZ leg, lan-a cannot be reached.
    let doc = edit(|d| d["deckies"][1]["networks"] = json!([{"lan": "lan-a", "ip": "10.0.1.2"}]));
    let issue = issues_with(&doc, &Context::default()).into_iter().find(|i| i.code == Code::DmzOrphan).unwrap();
    assert_eq!(issue.target.lan.as_deref(), Some("lan-a"));
    miss("DMZ_ORPHAN", &base());
}

#[test]
fn decky_orphan() {
    hit("DECKY_ORPHAN", &edit(|d| d["deckies"][2]["networks"] = json!([])));
    miss("DECKY_ORPHAN", &base());
}

#[test]
fn lan_name_dup() {
    hit("LAN_NAME_DUP", &edit(|d| d["lans"][1]["name"] = json!("dmz")));
    miss("LAN_NAME_DUP", &base());
}

#[test]
fn decky_name_dup() {
    hit("DECKY_NAME_DUP", &edit(|d| d["deckies"][2]["name"] = json!("gw")));
    miss("DECKY_NAME_DUP", &base());
}

#[test]
fn ip_unknown_lan() {
    hit("IP_UNKNOWN_LAN", &edit(|d| d["deckies"][2]["networks"][0]["lan"] = json!("nowhere")));
    miss("IP_UNKNOWN_LAN", &base());
}

#[test]
fn ip_out_of_subnet() {
    hit("IP_OUT_OF_SUBNET", &edit(|d| d["deckies"][2]["networks"][0]["ip"] = json!("10.9.9.9")));
    miss("IP_OUT_OF_SUBNET", &base());
}

#[test]
fn ip_malformed() {
    hit("IP_MALFORMED", &edit(|d| d["deckies"][2]["networks"][0]["ip"] = json!("10.0.1.300")));
    miss("IP_MALFORMED", &base());
}

#[test]
fn ip_collision() {
    hit("IP_COLLISION", &edit(|d| d["deckies"][2]["networks"][0]["ip"] = json!("10.0.1.2")));
    // The same address on different LANs is fine.
    miss("IP_COLLISION", &edit(|d| d["deckies"][2]["networks"][0]["ip"] = json!("10.0.1.200")));
}

#[test]
fn ip_reserved() {
    for reserved in ["10.0.1.0", "10.0.1.1", "10.0.1.255"] {
        hit("IP_RESERVED", &edit(|d| d["deckies"][2]["networks"][0]["ip"] = json!(reserved)));
    }
    miss("IP_RESERVED", &base());
}

#[test]
fn subnet_malformed() {
    hit("SUBNET_MALFORMED", &edit(|d| d["lans"][1]["subnet"] = json!("10.0.1.0/33")));
    hit("SUBNET_MALFORMED", &edit(|d| d["lans"][1]["subnet"] = json!("banana")));
    miss("SUBNET_MALFORMED", &base());
}

#[test]
fn subnet_overlap() {
    hit("SUBNET_OVERLAP", &edit(|d| d["lans"][1]["subnet"] = json!("10.0.0.128/25")));
    miss("SUBNET_OVERLAP", &edit(|d| d["lans"][1]["subnet"] = json!("10.0.2.0/24")));
}

#[test]
fn subnet_taken_by_another_topology() {
    let ctx = Context {
        foreign_subnets: vec![ForeignSubnet { topology: "other".into(), subnet: "10.0.0.0/16".parse().unwrap() }],
        ..Context::default()
    };
    hit_ctx("SUBNET_TAKEN", &base(), &ctx);
    let elsewhere = Context {
        foreign_subnets: vec![ForeignSubnet { topology: "other".into(), subnet: "10.1.0.0/16".parse().unwrap() }],
        ..Context::default()
    };
    miss_ctx("SUBNET_TAKEN", &base(), &elsewhere);
}

#[test]
fn subnet_size() {
    hit("SUBNET_SIZE", &edit(|d| d["lans"][1]["subnet"] = json!("10.2.0.0/15")));
    hit("SUBNET_SIZE", &edit(|d| d["lans"][1]["subnet"] = json!("10.0.1.0/30")));
    miss("SUBNET_SIZE", &edit(|d| d["lans"][1]["subnet"] = json!("10.2.0.0/16")));
    miss("SUBNET_SIZE", &edit(|d| d["lans"][1]["subnet"] = json!("10.0.1.0/29")));
}

#[test]
fn unknown_service_includes_host_wide_singletons() {
    hit("UNKNOWN_SERVICE", &edit(|d| d["deckies"][2]["services"] = json!(["mysql", "gopher"])));
    hit("UNKNOWN_SERVICE", &edit(|d| d["deckies"][2]["services"] = json!(["mysql", "sniffer"])));
    miss("UNKNOWN_SERVICE", &base());
}

#[test]
fn service_dup() {
    hit("SERVICE_DUP", &edit(|d| d["deckies"][2]["services"] = json!(["mysql", "mysql"])));
    miss("SERVICE_DUP", &base());
}

#[test]
fn service_cfg_undeclared() {
    hit("SERVICE_CFG_UNDECLARED", &edit(|d| d["deckies"][2]["service_config"]["redis"] = json!({})));
    miss("SERVICE_CFG_UNDECLARED", &base());
}

#[test]
fn service_cfg_invalid() {
    hit("SERVICE_CFG_INVALID", &edit(|d| d["deckies"][2]["service_config"]["mysql"] = json!({"nope": 1})));
    hit("SERVICE_CFG_INVALID", &edit(|d| d["deckies"][2]["service_config"]["mysql"] = json!({"version": 8})));
    miss("SERVICE_CFG_INVALID", &base());
}

#[test]
fn service_port_dup() {
    hit("SERVICE_PORT_DUP", &edit(|d| d["deckies"][2]["services"] = json!(["smtp", "smtp_relay"])));
    miss("SERVICE_PORT_DUP", &edit(|d| d["deckies"][2]["services"] = json!(["smtp", "redis"])));
}

#[test]
fn unknown_archetype() {
    hit("UNKNOWN_ARCHETYPE", &edit(|d| d["deckies"][2]["archetype"] = json!("toaster")));
    miss("UNKNOWN_ARCHETYPE", &edit(|d| d["deckies"][2]["archetype"] = json!("database-server")));
}

#[test]
fn gateway_not_in_dmz() {
    // A single-homed internal decky that claims to forward is neither router nor gateway.
    hit("GATEWAY_NOT_IN_DMZ", &edit(|d| d["deckies"][2]["forwards_l3"] = json!(true)));
    // A forwarding bridge homed in an internal LAN is a router: fine.
    miss("GATEWAY_NOT_IN_DMZ", &base());
}

#[test]
fn home_lan_invalid() {
    hit("HOME_LAN_INVALID", &edit(|d| d["deckies"][2]["home_lan"] = json!("dmz")));
    miss("HOME_LAN_INVALID", &base());
}

#[test]
fn name_invalid_names_the_field() {
    let doc = edit(|d| d["deckies"][2]["name"] = json!("DB.1"));
    let issue = issues_with(&doc, &Context::default()).into_iter().find(|i| i.code == Code::NameInvalid).unwrap();
    assert_eq!(issue.target.field.as_deref(), Some("deckies[2].name"));
    miss("NAME_INVALID", &base());
}

#[test]
fn port_collision_is_a_warning_for_gateways_only() {
    let ctx = Context { host_listening: vec![(22, Proto::Tcp), (80, Proto::Tcp)], ..Context::default() };
    let issues = issues_with(&base(), &ctx);
    let collisions: Vec<_> = issues.iter().filter(|i| i.code == Code::PortCollision).collect();
    // The gateway publishes 22; the internal bridge's 80 is never published.
    assert_eq!(collisions.len(), 1);
    assert_eq!(collisions[0].severity, Severity::Warning);
    assert_eq!(collisions[0].target.decky.as_deref(), Some("gw"));
    miss_ctx("PORT_COLLISION", &base(), &Context { host_listening: vec![(80, Proto::Tcp)], ..Context::default() });
}

#[test]
fn port_clash_between_gateways_and_with_other_topologies() {
    let two_gateways = edit(|d| {
        d["deckies"][2] = json!({"name": "gw2", "home_lan": "dmz", "networks": [{"lan": "dmz", "ip": "10.0.0.9"}],
                                 "services": ["ssh"], "forwards_l3": true});
    });
    hit("PORT_CLASH", &two_gateways);
    let foreign = Context {
        foreign_ports: vec![ForeignPort { topology: "other".into(), port: 22, proto: Proto::Tcp }],
        ..Context::default()
    };
    hit_ctx("PORT_CLASH", &base(), &foreign);
    let foreign_udp = Context {
        foreign_ports: vec![ForeignPort { topology: "other".into(), port: 22, proto: Proto::Udp }],
        ..Context::default()
    };
    miss_ctx("PORT_CLASH", &base(), &foreign_udp);
}

#[test]
fn all_issues_are_reported_at_once() {
    let doc = edit(|d| {
        d["lans"][0]["is_dmz"] = json!(false);
        d["deckies"][2]["services"] = json!(["gopher"]);
        d["deckies"][2]["networks"][0]["ip"] = json!("10.0.1.2");
    });
    let found = codes(&doc, &Context::default());
    for code in ["DMZ_MISSING", "UNKNOWN_SERVICE", "IP_COLLISION"] {
        assert!(found.contains(&code), "{code} missing from {found:?}");
    }
}
