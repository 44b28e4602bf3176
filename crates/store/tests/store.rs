//! The store contract on both backends (see `backends`): versions, audit, claims, the
//! leased queue, the event log.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use decnet_domain::document::{TopologyDocument, to_design};
use decnet_domain::{Design, Mode, MutationOp, MutationState, Name, TopologyId, TopologyStatus, plan};
use decnet_store::{ApplyOutcome, LeasePurpose, ListFilter, Mutation, NewTopology, Planner, Store, StoreError};
use serde_json::json;

use backends::TestDb;

mod backends;

on_both_backends!(
    a_created_topology_reads_back_identically_with_an_id_for_every_item,
    a_reopened_store_reads_the_design_from_the_database,
    defect_20_duplicate_names_are_a_conflict_not_a_crash,
    transitions_follow_the_machine_and_are_audited,
    enqueue_checks_status_and_version_then_bumps_once,
    two_enqueues_with_the_same_expected_version_one_wins,
    delete_only_in_deletable_states_and_takes_every_child,
    claims_cover_subnets_until_torn_down_and_ports_while_deployed,
    the_queue_is_fifo_with_one_lease_per_topology,
    defect_04_an_expired_lease_is_reclaimed_and_applied_exactly_once,
    defect_02_a_refusal_changes_nothing_but_the_mutation,
    an_applied_mutation_bumps_generation_once_and_keeps_the_version,
    a_layout_moves_items_of_a_deployed_topology_keeping_the_version,
    list_pages_newest_first_with_a_status_filter,
    a_claimed_batch_commits_together_each_mutation_on_its_own_merits,
    every_state_change_is_logged_in_its_own_transaction_in_commit_order,
    replicas_claiming_at_once_apply_every_mutation_once_in_order,
    event_ids_grow_in_commit_order_so_a_cursor_misses_nothing,
    a_deploy_over_a_deployed_topologys_subnet_is_refused_even_at_once,
    a_replica_reads_what_another_wrote_despite_its_cache,
    a_topology_lease_has_one_owner_until_it_expires_or_is_released,
    another_replicas_enqueue_is_announced_where_the_database_can,
    a_placement_is_stored_by_item_id_for_every_replica_and_goes_with_its_topology,
    a_sink_cursor_has_one_holder_starts_at_the_end_and_its_backlog_is_bounded,
    hits_fold_into_one_incident_per_rule_and_source_opened_at_its_threshold_once,
);

fn design(offset: u8) -> Design {
    let doc: TopologyDocument = serde_json::from_value(json!({
        "name": "t",
        "lans": [
            {"name": "dmz", "subnet": format!("10.{offset}.0.0/24"), "is_dmz": true},
            {"name": "lan-a", "subnet": format!("10.{offset}.1.0/24")}
        ],
        "deckies": [
            {"name": "gw", "home_lan": "dmz", "networks": [{"lan": "dmz"}], "services": ["ssh"], "forwards_l3": true},
            {"name": "bridge", "home_lan": "lan-a", "networks": [{"lan": "lan-a"}, {"lan": "dmz"}],
             "services": ["http"], "forwards_l3": true, "service_config": {"http": {"fake_app": "jenkins"}}}
        ]
    }))
    .unwrap();
    let parsed = to_design(&doc, "172.16.0.0/12".parse().unwrap(), &[]);
    assert!(parsed.issues.is_empty());
    parsed.design
}

async fn create(store: &dyn Store, name: &str, offset: u8) -> TopologyId {
    let new = NewTopology {
        name: Name::parse(name).unwrap(),
        mode: Mode::Unihost,
        target_host: None,
        config_snapshot: json!({}),
        now: Utc::now(),
    };
    let design = design(offset);
    store.create_topology(new, Box::new(move |_| Ok(design))).await.unwrap().header.id
}

async fn activate(store: &dyn Store, id: TopologyId) {
    store.transition(id, None, TopologyStatus::Deploying, "test", Utc::now()).await.unwrap();
    store.transition(id, None, TopologyStatus::Active, "test", Utc::now()).await.unwrap();
}

fn planner() -> Box<Planner> {
    Box::new(|_, header, design, ctx| {
        Err(decnet_domain::Refusal::one(
            decnet_domain::Code::PayloadInvalid,
            decnet_domain::Target::default(),
            format!("{} {} {}", header.name, design.lans.len(), ctx.foreign_subnets.len()),
        ))
    })
}

fn op_planner(op: &str, payload: serde_json::Value) -> Box<Planner> {
    let op = MutationOp::parse(op, &payload).unwrap();
    Box::new(move |_, header, design, ctx| plan(header, design, &op, ctx))
}

/// A planner that plans each mutation from its own op and payload.
fn queue_planner() -> Box<Planner> {
    Box::new(|mutation, header, design, ctx| {
        let op = MutationOp::parse(&mutation.op, &mutation.payload)?;
        plan(header, design, &op, ctx)
    })
}

async fn claim1(store: &dyn Store, id: TopologyId, owner: &str, now: DateTime<Utc>) -> Option<Mutation> {
    let mut claimed = store.claim_next(id, owner, now, Duration::from_secs(30), 1).await.unwrap();
    assert!(claimed.len() <= 1);
    claimed.pop()
}

async fn apply1(store: &dyn Store, m: &Mutation, owner: &str, now: DateTime<Utc>, planner: &Planner) -> ApplyOutcome {
    let mut outcomes = store.apply_claimed(std::slice::from_ref(m), owner, now, true, planner).await.unwrap();
    assert_eq!(outcomes.len(), 1);
    outcomes.remove(0)
}

/// The design with every LAN and decky id and host name cleared, to compare with a design
/// never stored.
fn without_ids(design: &Design) -> Design {
    let mut design = design.clone();
    for lan in design.lans.values_mut() {
        lan.id = decnet_domain::ItemId::default();
    }
    for decky in design.deckies.values_mut() {
        let decky = std::sync::Arc::make_mut(decky);
        decky.id = decnet_domain::ItemId::default();
        decky.hostname = None;
    }
    design
}

async fn a_created_topology_reads_back_identically_with_an_id_for_every_item(db: &TestDb) {
    let store = db.open().await;
    let id = create(&*store, "one", 0).await;
    let topology = store.topology(id).await.unwrap();
    assert_eq!(without_ids(&topology.design), design(0));
    let ids: std::collections::BTreeSet<_> =
        topology.design.lans.values().map(|l| l.id).chain(topology.design.deckies.values().map(|d| d.id)).collect();
    assert_eq!(ids.len(), 4, "distinct ids: {ids:?}");
    assert!(ids.iter().all(|id| id.is_assigned()));
    assert_eq!(topology.header.status, TopologyStatus::Pending);
    assert_eq!((topology.header.version, topology.header.generation), (1, 1));
    assert_eq!(store.resolve("one").await.unwrap(), id);
    assert_eq!(store.resolve(&id.to_string()).await.unwrap(), id);
    assert!(matches!(store.resolve("two").await, Err(StoreError::NotFound { .. })));
}

async fn a_reopened_store_reads_the_design_from_the_database(db: &TestDb) {
    let (id, written) = {
        let store = db.open().await;
        let id = create(&*store, "one", 0).await;
        (id, store.topology(id).await.unwrap().design.clone())
    };
    let store = db.open().await;
    assert_eq!(store.topology(id).await.unwrap().design, written, "ids included");
}

async fn defect_20_duplicate_names_are_a_conflict_not_a_crash(db: &TestDb) {
    let store = db.open().await;
    create(&*store, "one", 0).await;
    let new = NewTopology {
        name: Name::parse("one").unwrap(),
        mode: Mode::Unihost,
        target_host: None,
        config_snapshot: json!({}),
        now: Utc::now(),
    };
    let err = store.create_topology(new, Box::new(|_| Ok(design(1)))).await.unwrap_err();
    assert!(matches!(err, StoreError::NameTaken { .. }), "{err}");
}

async fn transitions_follow_the_machine_and_are_audited(db: &TestDb) {
    let store = db.open().await;
    let id = create(&*store, "one", 0).await;
    let err = store.transition(id, None, TopologyStatus::Active, "skip", Utc::now()).await.unwrap_err();
    assert!(matches!(err, StoreError::IllegalTransition(_)), "{err}");
    let header = store.transition(id, None, TopologyStatus::Deploying, "go", Utc::now()).await.unwrap();
    assert_eq!((header.status, header.version), (TopologyStatus::Deploying, 1), "a status change is no intent");
    let err = store
        .transition(id, Some(&[TopologyStatus::Pending]), TopologyStatus::Deploying, "again", Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::WrongStatus { .. }), "{err}");
    let events = store.status_events(id, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].from, events[0].to, events[0].reason.as_str()),
        (TopologyStatus::Pending, TopologyStatus::Deploying, "go")
    );
}

async fn enqueue_checks_status_and_version_then_bumps_once(db: &TestDb) {
    let store = db.open().await;
    let id = create(&*store, "one", 0).await;
    let err = store.enqueue(id, "remove_decky", &json!({"decky": "gw"}), None, Utc::now()).await.unwrap_err();
    assert!(matches!(err, StoreError::WrongStatus { .. }), "enqueue on pending: {err}");
    activate(&*store, id).await;
    // Deploying and activating are status changes, not intents: still version 1.
    let (_, version) = store.enqueue(id, "remove_decky", &json!({"decky": "gw"}), Some(1), Utc::now()).await.unwrap();
    assert_eq!(version, 2);
    let err = store.enqueue(id, "remove_decky", &json!({"decky": "gw"}), Some(1), Utc::now()).await.unwrap_err();
    assert!(matches!(err, StoreError::VersionConflict { current: 2, expected: 1 }), "{err}");
    assert_eq!(store.mutations(id, None).await.unwrap().len(), 1, "the refused enqueue wrote nothing");
}

async fn two_enqueues_with_the_same_expected_version_one_wins(db: &TestDb) {
    let store = db.open().await;
    let id = create(&*store, "one", 0).await;
    activate(&*store, id).await;
    let version = store.header(id).await.unwrap().version;
    let payload = json!({"name": "x"});
    let (a, b) = tokio::join!(
        store.enqueue(id, "add_lan", &payload, Some(version), Utc::now()),
        store.enqueue(id, "add_lan", &payload, Some(version), Utc::now()),
    );
    let wins = [&a, &b].iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{a:?} {b:?}");
    let loser = a.err().or(b.err()).unwrap();
    assert!(matches!(loser, StoreError::VersionConflict { expected, .. } if expected == version), "{loser}");
}

async fn delete_only_in_deletable_states_and_takes_every_child(db: &TestDb) {
    let store = db.open().await;
    let id = create(&*store, "one", 0).await;
    activate(&*store, id).await;
    store.enqueue(id, "add_lan", &json!({"name": "x"}), None, Utc::now()).await.unwrap();
    assert!(matches!(store.delete_topology(id).await, Err(StoreError::WrongStatus { .. })));
    store.transition(id, None, TopologyStatus::TearingDown, "t", Utc::now()).await.unwrap();
    store.transition(id, None, TopologyStatus::TornDown, "t", Utc::now()).await.unwrap();
    store.delete_topology(id).await.unwrap();
    assert!(matches!(store.topology(id).await, Err(StoreError::NotFound { .. })));
    assert!(store.mutations(id, None).await.unwrap().is_empty());
    assert!(store.status_events(id, 10).await.unwrap().is_empty());
    // Its name and subnets are free again.
    create(&*store, "one", 0).await;
}

async fn claims_cover_subnets_until_torn_down_and_ports_while_deployed(db: &TestDb) {
    let store = db.open().await;
    let pending = create(&*store, "pending", 0).await;
    let live = create(&*store, "live", 1).await;
    activate(&*store, live).await;
    let ctx = store.claims(None).await.unwrap();
    assert_eq!(ctx.foreign_subnets.len(), 4);
    let ports: Vec<_> = ctx.foreign_ports.iter().map(|p| (p.topology.as_str(), p.port)).collect();
    assert_eq!(ports, [("live", 22)], "only the deployed gateway's ports; the routing bridge publishes none");
    assert_eq!(store.claims(Some(live)).await.unwrap().foreign_ports.len(), 0);
    store.transition(pending, None, TopologyStatus::TornDown, "t", Utc::now()).await.unwrap();
    assert_eq!(store.claims(None).await.unwrap().foreign_subnets.len(), 2);
}

async fn the_queue_is_fifo_with_one_lease_per_topology(db: &TestDb) {
    let store = db.open().await;
    let id = create(&*store, "one", 0).await;
    activate(&*store, id).await;
    let now = Utc::now();
    for name in ["a", "b"] {
        store.enqueue(id, "add_lan", &json!({ "name": name }), None, now).await.unwrap();
    }
    let first = claim1(&*store, id, "engine-1", now).await.unwrap();
    assert_eq!(first.payload, json!({"name": "a"}));
    assert_eq!(claim1(&*store, id, "engine-2", now).await, None, "one in flight per topology");
    assert_eq!(store.topologies_with_work(now).await.unwrap(), [id], "b is still pending");
    let outcome = apply1(&*store, &first, "engine-1", now, &*op_planner("add_lan", first.payload.clone())).await;
    assert!(matches!(outcome, ApplyOutcome::Committed { .. }));
    let second = claim1(&*store, id, "engine-2", now).await.unwrap();
    assert_eq!(second.payload, json!({"name": "b"}));
}

async fn defect_04_an_expired_lease_is_reclaimed_and_applied_exactly_once(db: &TestDb) {
    let store = db.open().await;
    let id = create(&*store, "one", 0).await;
    activate(&*store, id).await;
    let start = Utc::now();
    store.enqueue(id, "add_lan", &json!({"name": "a"}), None, start).await.unwrap();
    // Engine 1 claims, then "crashes" before committing.
    let claimed = claim1(&*store, id, "engine-1", start).await.unwrap();
    let before_expiry = start + TimeDelta::seconds(29);
    assert_eq!(store.topologies_with_work(before_expiry).await.unwrap(), Vec::<TopologyId>::new());
    let after_expiry = start + TimeDelta::seconds(31);
    assert_eq!(store.topologies_with_work(after_expiry).await.unwrap(), [id]);
    let reclaimed = claim1(&*store, id, "engine-2", after_expiry).await.unwrap();
    assert_eq!((reclaimed.id, reclaimed.attempts), (claimed.id, 2));
    // Engine 1 wakes up and tries to commit: it no longer owns the claim.
    let planner = op_planner("add_lan", json!({"name": "a"}));
    let stale = apply1(&*store, &claimed, "engine-1", after_expiry, &*planner).await;
    assert!(matches!(stale, ApplyOutcome::LeaseLost));
    let done = apply1(&*store, &reclaimed, "engine-2", after_expiry, &*planner).await;
    assert!(matches!(done, ApplyOutcome::Committed { .. }));
    let again = apply1(&*store, &reclaimed, "engine-2", after_expiry, &*planner).await;
    assert!(matches!(again, ApplyOutcome::LeaseLost), "an applied mutation is never applied twice");
    let topology = store.topology(id).await.unwrap();
    assert_eq!(topology.design.lans.len(), 3);
    assert_eq!(store.mutations(id, Some(MutationState::Applied)).await.unwrap().len(), 1);
}

async fn defect_02_a_refusal_changes_nothing_but_the_mutation(db: &TestDb) {
    let store = db.open().await;
    let id = create(&*store, "one", 0).await;
    activate(&*store, id).await;
    store.enqueue(id, "add_lan", &json!({"name": "a"}), None, Utc::now()).await.unwrap();
    let before = store.topology(id).await.unwrap();
    let claimed = claim1(&*store, id, "e", Utc::now()).await.unwrap();
    let outcome = apply1(&*store, &claimed, "e", Utc::now(), &*planner()).await;
    let ApplyOutcome::Refused { mutation, .. } = outcome else { panic!("expected a refusal") };
    assert_eq!(mutation.state, MutationState::Failed);
    assert_eq!(mutation.codes, ["PAYLOAD_INVALID"]);
    // The planner saw the design and the other topologies' claims (none here).
    assert_eq!(mutation.reason.as_deref(), Some("PAYLOAD_INVALID: one 2 0"));
    assert_eq!(*store.topology(id).await.unwrap(), *before);
}

async fn an_applied_mutation_bumps_generation_once_and_keeps_the_version(db: &TestDb) {
    let store = db.open().await;
    let id = create(&*store, "one", 0).await;
    activate(&*store, id).await;
    let (_, version) = store.enqueue(id, "remove_decky", &json!({"decky": "gw"}), None, Utc::now()).await.unwrap();
    let claimed = claim1(&*store, id, "e", Utc::now()).await.unwrap();
    let before = store.header(id).await.unwrap();
    assert_eq!(before.version, version, "claiming is not a design write");
    let planner = op_planner("remove_decky", json!({"decky": "gw"}));
    let ApplyOutcome::Committed { header, design, .. } = apply1(&*store, &claimed, "e", Utc::now(), &*planner).await
    else {
        panic!("expected a commit")
    };
    assert_eq!((header.version, header.generation), (before.version, before.generation + 1));
    assert_eq!(*store.topology(id).await.unwrap().design, *design);
    assert!(!design.deckies.contains_key("gw"));
}

async fn a_layout_moves_items_of_a_deployed_topology_keeping_the_version(db: &TestDb) {
    use decnet_domain::{Layout, Point};
    use decnet_store::EventFilter;
    let store = db.open().await;
    let id = create(&*store, "one", 0).await;
    activate(&*store, id).await;
    let before = store.topology(id).await.unwrap();
    let layout = Layout {
        lans: [(Name::parse("dmz").unwrap(), Point { x: 10.5, y: -3.0 })].into(),
        deckies: [(Name::parse("gw").unwrap(), Point { x: 120.0, y: 40.0 })].into(),
    };
    let header = store.set_layout(id, &layout, Utc::now()).await.unwrap();
    assert_eq!((header.version, header.generation), (before.header.version, before.header.generation + 1));
    assert_eq!(header.status, TopologyStatus::Active);
    let kind = Some("topology.layout_saved".to_owned());
    let saved =
        store.events(&EventFilter { topology_id: Some(id), kind, limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].payload, json!({"lans": 1, "deckies": 1}));

    // Written to the database, not only cached; nothing but the positions changed.
    let reopened = db.open().await;
    let after = reopened.topology(id).await.unwrap();
    assert_eq!(after.header.generation, header.generation);
    let (dmz, gw) = (&after.design.lans["dmz"], &after.design.deckies["gw"]);
    assert_eq!((dmz.x, dmz.y, gw.x, gw.y), (Some(10.5), Some(-3.0), Some(120.0), Some(40.0)));
    let mut expected = before.design.as_ref().clone();
    let lan = expected.lans.get_mut("dmz").unwrap();
    (lan.x, lan.y) = (Some(10.5), Some(-3.0));
    let decky = Arc::make_mut(expected.deckies.get_mut("gw").unwrap());
    (decky.x, decky.y) = (Some(120.0), Some(40.0));
    assert_eq!(*after.design, expected);

    // The same layout again changes nothing.
    assert_eq!(store.set_layout(id, &layout, Utc::now()).await.unwrap(), header);

    // An unknown name refuses the whole layout.
    let mut bad = layout.clone();
    bad.deckies.insert(Name::parse("gw").unwrap(), Point { x: 0.0, y: 0.0 });
    bad.deckies.insert(Name::parse("ghost").unwrap(), Point { x: 1.0, y: 1.0 });
    let refused = store.set_layout(id, &bad, Utc::now()).await;
    let Err(StoreError::Refused(refusal)) = refused else { panic!("expected a refusal, got {refused:?}") };
    assert_eq!(refusal.codes(), ["DECKY_NOT_FOUND"]);
    assert_eq!(*store.topology(id).await.unwrap(), *after);

    let missing = store.set_layout(TopologyId(uuid::Uuid::new_v4()), &layout, Utc::now()).await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })), "{missing:?}");
}

async fn list_pages_newest_first_with_a_status_filter(db: &TestDb) {
    let store = db.open().await;
    let a = create(&*store, "a", 0).await;
    let b = create(&*store, "b", 1).await;
    activate(&*store, b).await;
    let all = store.list_topologies(&ListFilter::default()).await.unwrap();
    assert_eq!((all.total, all.items.iter().map(|h| h.id).collect::<Vec<_>>()), (2, vec![b, a]));
    let active = store
        .list_topologies(&ListFilter { status: Some(TopologyStatus::Active), ..ListFilter::default() })
        .await
        .unwrap();
    assert_eq!((active.total, active.items.len()), (1, 1));
    let page = store.list_topologies(&ListFilter { limit: Some(1), offset: 1, ..ListFilter::default() }).await.unwrap();
    assert_eq!(page.items.iter().map(|h| h.id).collect::<Vec<_>>(), [a]);
}

async fn a_claimed_batch_commits_together_each_mutation_on_its_own_merits(db: &TestDb) {
    let store = db.open().await;
    let id = create(&*store, "one", 0).await;
    activate(&*store, id).await;
    let now = Utc::now();
    for (op, payload) in [
        ("add_lan", json!({"name": "a"})),
        ("remove_lan", json!({"name": "nope"})),
        ("attach_decky", json!({"decky": "gw", "lan": "a"})),
    ] {
        store.enqueue(id, op, &payload, None, now).await.unwrap();
    }
    let before = store.header(id).await.unwrap();
    let batch = store.claim_next(id, "e", now, Duration::from_secs(30), 10).await.unwrap();
    assert_eq!(batch.iter().map(|m| m.op.as_str()).collect::<Vec<_>>(), ["add_lan", "remove_lan", "attach_decky"]);
    let outcomes = store.apply_claimed(&batch, "e", now, true, &*queue_planner()).await.unwrap();
    let kinds: Vec<_> = outcomes
        .iter()
        .map(|o| match o {
            ApplyOutcome::Committed { header, .. } => format!("applied@{}", header.version),
            ApplyOutcome::Refused { mutation, .. } => format!("failed:{}", mutation.codes.join(",")),
            ApplyOutcome::LeaseLost => "lost".into(),
        })
        .collect();
    let v = before.version;
    assert_eq!(kinds, [format!("applied@{v}"), "failed:LAN_NOT_FOUND".into(), format!("applied@{v}")]);
    let after = store.topology(id).await.unwrap();
    assert_eq!(after.header.version, v, "the enqueues counted; applying them is no new intent");
    assert_eq!(after.header.generation, before.generation + 1, "one design write for the batch");
    assert!(after.design.deckies["gw"].ips.contains_key("a"), "the attach saw the LAN added before it");
}

async fn every_state_change_is_logged_in_its_own_transaction_in_commit_order(db: &TestDb) {
    use decnet_store::EventFilter;
    let store = db.open().await;
    let id = create(&*store, "logged", 1).await;
    activate(&*store, id).await;
    let (accepted, _) = store.enqueue(id, "add_lan", &json!({"name": "lab"}), None, Utc::now()).await.unwrap();
    // A stale version writes nothing, not even an event.
    let stale = store.enqueue(id, "add_lan", &json!({"name": "x"}), Some(1), Utc::now()).await;
    assert!(matches!(stale, Err(StoreError::VersionConflict { .. })));
    let (refused, _) = store.enqueue(id, "remove_lan", &json!({"name": "dmz"}), None, Utc::now()).await.unwrap();
    let now = Utc::now();
    let claimed = store.claim_next(id, "e1", now, Duration::from_secs(60), 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let outcomes = store.apply_claimed(&claimed, "e1", now, false, &*queue_planner()).await.unwrap();
    assert!(matches!(outcomes[0], ApplyOutcome::Committed { .. }));
    assert!(matches!(outcomes[1], ApplyOutcome::Refused { .. }));
    let gw = Name::parse("gw").unwrap();
    let running = decnet_domain::DeckyStatus { state: decnet_domain::DeckyState::Running, last_error: None };
    assert!(!store.set_decky_status(id, &gw, &decnet_domain::DeckyStatus::default()).await.unwrap(), "unchanged");
    assert!(store.set_decky_status(id, &gw, &running).await.unwrap());
    assert!(!store.set_decky_status(id, &gw, &running).await.unwrap(), "written once, logged once");

    let all = store.events(&EventFilter { topology_id: Some(id), limit: 100, ..Default::default() }).await.unwrap();
    let kinds: Vec<_> = all.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "topology.created",
            "topology.status",
            "topology.status",
            "mutation.enqueued",
            "mutation.enqueued",
            "mutation.applying",
            "mutation.applying",
            "mutation.applied",
            "mutation.failed",
            "decky.state",
        ]
    );
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(all[3].payload["mutation_id"], accepted.id);
    assert_eq!(all[8].payload["mutation_id"], refused.id);
    assert!(all[8].payload["codes"].as_array().is_some_and(|c| !c.is_empty()), "{}", all[8].payload);
    assert_eq!(all[9].decky.as_deref(), Some("gw"));

    // Filters and the cursor.
    let failed =
        EventFilter { topology_id: Some(id), kind: Some("mutation.failed".into()), limit: 10, ..Default::default() };
    assert_eq!(store.events(&failed).await.unwrap().len(), 1);
    let after = EventFilter { topology_id: Some(id), after: Some(all[7].id), limit: 10, ..Default::default() };
    assert_eq!(store.events(&after).await.unwrap(), all[8..].to_vec());
    let page = EventFilter { topology_id: Some(id), limit: 3, ..Default::default() };
    assert_eq!(store.events(&page).await.unwrap(), all[..3].to_vec());

    // The snapshot's position is the log's head, read with the state it matches.
    let snapshot = store.snapshot(id).await.unwrap();
    assert_eq!(snapshot.last_event_id, all[9].id);
    assert!(snapshot.open_mutations.is_empty());
    assert_eq!(snapshot.header.status, TopologyStatus::Active);
}

/// Replicas (store handles of their own) draining the queues of three topologies at once,
/// each claiming batches: every mutation is applied exactly once, and each topology's in
/// the order it was queued.
async fn replicas_claiming_at_once_apply_every_mutation_once_in_order(db: &TestDb) {
    use decnet_store::EventFilter;
    const PER_TOPOLOGY: usize = 40;
    let store = db.open().await;
    let mut ids = Vec::new();
    for (n, offset) in [("q0", 10), ("q1", 11), ("q2", 12)] {
        let id = create(&*store, n, offset).await;
        activate(&*store, id).await;
        for i in 0..PER_TOPOLOGY {
            let lan = json!({ "name": format!("m{i}"), "subnet": format!("10.{offset}.{}.0/24", i + 2) });
            store.enqueue(id, "add_lan", &lan, None, Utc::now()).await.unwrap();
        }
        ids.push(id);
    }
    let mut replicas = Vec::new();
    for r in 0..4 {
        let replica = db.open().await;
        replicas.push(tokio::spawn(async move {
            let owner = format!("replica-{r}");
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            loop {
                assert!(std::time::Instant::now() < deadline, "{owner}: the queues never drained");
                let work = replica.topologies_with_work(Utc::now()).await.unwrap();
                if work.is_empty() {
                    return;
                }
                // Each replica walks the topologies in its own order, so they meet.
                for id in work.iter().cycle().skip(r).take(work.len()).copied() {
                    let batch = replica.claim_next(id, &owner, Utc::now(), Duration::from_secs(30), 3).await.unwrap();
                    if !batch.is_empty() {
                        let outcomes =
                            replica.apply_claimed(&batch, &owner, Utc::now(), false, &*queue_planner()).await.unwrap();
                        for outcome in outcomes {
                            assert!(matches!(outcome, ApplyOutcome::Committed { .. }), "{owner}: {outcome:?}");
                        }
                    }
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    for replica in replicas {
        replica.await.unwrap();
    }
    for id in ids {
        let applied = store.mutations(id, Some(MutationState::Applied)).await.unwrap();
        assert_eq!(applied.len(), PER_TOPOLOGY);
        assert!(applied.iter().all(|m| m.attempts == 1), "no claim was taken twice");
        let filter = EventFilter {
            topology_id: Some(id),
            kind: Some("mutation.applied".into()),
            limit: 1000,
            ..Default::default()
        };
        let order: Vec<i64> =
            store.events(&filter).await.unwrap().iter().map(|e| e.payload["mutation_id"].as_i64().unwrap()).collect();
        let mut queued: Vec<i64> = applied.iter().map(|m| m.id).collect();
        queued.sort_unstable();
        assert_eq!(order, queued, "applied once each, in queue order");
        assert_eq!(store.topology(id).await.unwrap().design.lans.len(), 2 + PER_TOPOLOGY);
    }
}

/// Writers appending at once while a reader follows the log with a cursor ("after id
/// N"): the reader sees every event, because ids grow in commit order.
async fn event_ids_grow_in_commit_order_so_a_cursor_misses_nothing(db: &TestDb) {
    use decnet_store::{EventFilter, NewEvent};
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 60;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = db.open().await;
        writers.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                let event = NewEvent {
                    at: Utc::now(),
                    topology_id: None,
                    kind: "test.write".into(),
                    decky: None,
                    service: None,
                    source_ip: None,
                    payload: json!({ "writer": w, "i": i }),
                };
                store.record_events(&[event.clone(), event]).await.unwrap();
            }
        }));
    }
    let reader = db.open().await;
    let mut seen = Vec::new();
    let mut cursor = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    // Follow until the writers are done and the log has nothing after the cursor.
    loop {
        assert!(std::time::Instant::now() < deadline, "the reader saw {} events", seen.len());
        let finished = writers.iter().all(tokio::task::JoinHandle::is_finished);
        let filter = EventFilter { after: Some(cursor), limit: 50, ..Default::default() };
        let page = reader.events(&filter).await.unwrap();
        match page.last() {
            Some(last) => cursor = last.id,
            None if finished => break,
            None => tokio::task::yield_now().await,
        }
        seen.extend(page.into_iter().map(|e| e.id));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let all: Vec<i64> = reader
        .events(&EventFilter { limit: 10_000, ..Default::default() })
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    let missed: Vec<i64> = all.iter().filter(|id| !seen.contains(id)).copied().collect();
    assert!(missed.is_empty(), "the cursor missed {missed:?}");
    assert_eq!(seen.len(), all.len(), "the cursor saw none twice");
}

/// A topology whose LANs overlap a deployed one's may be designed but not deployed; of two
/// overlapping topologies deployed at the same moment, one is.
async fn a_deploy_over_a_deployed_topologys_subnet_is_refused_even_at_once(db: &TestDb) {
    let store = db.open().await;
    let first = create(&*store, "first", 20).await;
    let second = create(&*store, "second", 20).await;
    activate(&*store, first).await;
    let refused = store.transition(second, None, TopologyStatus::Deploying, "go", Utc::now()).await;
    let Err(StoreError::Refused(refusal)) = refused else { panic!("expected a refusal, got {refused:?}") };
    assert_eq!(refusal.codes(), ["SUBNET_TAKEN"]);
    assert!(refusal.to_string().contains("first"), "{refusal}");
    assert_eq!(store.header(second).await.unwrap().status, TopologyStatus::Pending, "nothing was written");
    // Once the first is torn down, its subnets are free.
    store.transition(first, None, TopologyStatus::TearingDown, "t", Utc::now()).await.unwrap();
    store.transition(first, None, TopologyStatus::TornDown, "t", Utc::now()).await.unwrap();
    store.transition(second, None, TopologyStatus::Deploying, "go", Utc::now()).await.unwrap();

    for round in 0..10 {
        let (a, b) = (format!("a{round}"), format!("b{round}"));
        let a = create(&*store, &a, 30 + round).await;
        let b = create(&*store, &b, 30 + round).await;
        let (replica_a, replica_b) = (db.open().await, db.open().await);
        let (ra, rb) = tokio::join!(
            replica_a.transition(a, None, TopologyStatus::Deploying, "go", Utc::now()),
            replica_b.transition(b, None, TopologyStatus::Deploying, "go", Utc::now()),
        );
        let deployed = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        assert_eq!(deployed, 1, "round {round}: {ra:?} {rb:?}");
    }
}

/// One replica caches a design; another changes it; the first reads the change.
async fn a_replica_reads_what_another_wrote_despite_its_cache(db: &TestDb) {
    let (one, two) = (db.open().await, db.open().await);
    let id = create(&*one, "shared", 40).await;
    activate(&*one, id).await;
    assert_eq!(one.topology(id).await.unwrap().design.lans.len(), 2);
    two.enqueue(id, "add_lan", &json!({"name": "late"}), None, Utc::now()).await.unwrap();
    let claimed = claim1(&*two, id, "two", Utc::now()).await.unwrap();
    let outcome = apply1(&*two, &claimed, "two", Utc::now(), &*queue_planner()).await;
    assert!(matches!(outcome, ApplyOutcome::Committed { .. }));
    let seen = one.topology(id).await.unwrap();
    assert!(seen.design.lans.contains_key("late"), "the other replica's write is read, not the cached design");
    assert_eq!(seen.header.version, 2);
}

/// The reconciling lease of a topology: one owner at a time, renewable by its owner, taken
/// over once expired, free again once released; of replicas racing for it, one wins.
async fn a_topology_lease_has_one_owner_until_it_expires_or_is_released(db: &TestDb) {
    let store = db.open().await;
    let id = create(&*store, "leased", 50).await;
    let ttl = Duration::from_secs(10);
    let start = Utc::now();
    assert!(store.lease_topology(id, LeasePurpose::Reconcile, "a", start, ttl).await.unwrap());
    assert!(!store.lease_topology(id, LeasePurpose::Reconcile, "b", start + TimeDelta::seconds(5), ttl).await.unwrap());
    assert!(
        store.lease_topology(id, LeasePurpose::Reconcile, "a", start + TimeDelta::seconds(9), ttl).await.unwrap(),
        "renewed"
    );
    assert!(
        !store.lease_topology(id, LeasePurpose::Reconcile, "b", start + TimeDelta::seconds(15), ttl).await.unwrap(),
        "renewal counts"
    );
    let expired = start + TimeDelta::seconds(19);
    assert!(
        store.lease_topology(id, LeasePurpose::Reconcile, "b", expired, ttl).await.unwrap(),
        "taken over once expired"
    );
    assert!(!store.lease_topology(id, LeasePurpose::Reconcile, "a", expired, ttl).await.unwrap());
    store.release_topology(id, LeasePurpose::Reconcile, "a").await.unwrap();
    assert!(
        !store.lease_topology(id, LeasePurpose::Reconcile, "c", expired, ttl).await.unwrap(),
        "only the owner releases"
    );
    store.release_topology(id, LeasePurpose::Reconcile, "b").await.unwrap();

    let replicas: Vec<_> = futures_util::future::join_all((0..6).map(|_| db.open())).await;
    let races = replicas.iter().enumerate().map(|(r, replica)| {
        let owner = format!("replica-{r}");
        async move { replica.lease_topology(id, LeasePurpose::Reconcile, &owner, expired, ttl).await.unwrap() }
    });
    let won = futures_util::future::join_all(races).await.into_iter().filter(|held| *held).count();
    assert_eq!(won, 1, "of six replicas racing for a free lease, one holds it");
    // Purposes are leased apart.
    assert!(store.lease_topology(id, LeasePurpose::Collect, "z", expired, ttl).await.unwrap());
}

/// PostgreSQL announces each committed enqueue to every listening replica; SQLite has no
/// such push (engines poll).
async fn another_replicas_enqueue_is_announced_where_the_database_can(db: &TestDb) {
    let (listener, writer) = (db.open().await, db.open().await);
    let announced = listener.queue_announcements().await.unwrap();
    let mut announced = match (db, announced) {
        (TestDb::Sqlite(..), None) => return,
        (TestDb::Postgres { .. }, Some(announced)) => announced,
        (_, announced) => panic!("unexpected announcements: {}", announced.is_some()),
    };
    let id = create(&*writer, "announced", 60).await;
    activate(&*writer, id).await;
    writer.enqueue(id, "add_lan", &json!({"name": "x"}), None, Utc::now()).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), announced.recv()).await.expect("announced in time");
    assert_eq!(got, Some(id));
    // A refused enqueue commits nothing and announces nothing.
    let stale = writer.enqueue(id, "add_lan", &json!({"name": "y"}), Some(1), Utc::now()).await;
    assert!(matches!(stale, Err(StoreError::VersionConflict { .. })));
    writer.enqueue(id, "add_lan", &json!({"name": "z"}), None, Utc::now()).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), announced.recv()).await.expect("announced in time");
    assert_eq!(got, Some(id));
    assert!(announced.try_recv().is_err(), "one announcement per committed enqueue");
}

/// Placement is stored, not held by the engine that set it: another replica reads it, by
/// item id (names come back from the design), and it goes when its topology is deleted.
async fn a_placement_is_stored_by_item_id_for_every_replica_and_goes_with_its_topology(db: &TestDb) {
    use decnet_domain::placement::{NamedPlacement, Placement, Policy};
    let (one, two) = (db.open().await, db.open().await);
    let id = create(&*one, "placed", 50).await;
    assert_eq!(one.placement(id).await.unwrap(), Placement::default(), "nothing set yet");
    let topology = one.topology(id).await.unwrap();
    let named = NamedPlacement {
        policy: Some(Policy::Pack),
        lans: [("lan-a".to_string(), "node-2".to_string())].into(),
        deckies: [("gw".to_string(), "node-1".to_string())].into(),
    };
    let placement = Placement::from_named(&named, Mode::Unihost, &topology.design).unwrap();
    one.set_placement(id, &placement).await.unwrap();
    let read = two.placement(id).await.unwrap();
    assert_eq!(read, placement);
    assert_eq!(read.deckies.keys().next(), Some(&topology.design.deckies["gw"].id), "kept by id");
    assert_eq!(read.named(&two.topology(id).await.unwrap().design), named);
    let bridge = &topology.design.deckies["bridge"];
    assert_eq!(read.node_of(bridge, &topology.design), Some("node-2"), "a LAN pin places its deckies");

    two.set_placement(id, &Placement::default()).await.unwrap();
    assert!(one.placement(id).await.unwrap().is_empty(), "replaced whole");
    one.set_placement(id, &placement).await.unwrap();
    one.delete_topology(id).await.unwrap();
    assert!(matches!(two.placement(id).await, Err(StoreError::NotFound { .. })));
    assert!(matches!(two.set_placement(id, &placement).await, Err(StoreError::NotFound { .. })));
}

/// A sink's cursor: one replica holds it at a time (taken over once expired); a new sink
/// starts at the log's end; its backlog is cut to the bound, counting what is skipped,
/// and events deleted by retention before delivery count as skipped too.
async fn a_sink_cursor_has_one_holder_starts_at_the_end_and_its_backlog_is_bounded(db: &TestDb) {
    use decnet_store::{NewEvent, SinkBacklog};
    let (one, two) = (db.open().await, db.open().await);
    let event = |i: i64| NewEvent {
        at: Utc::now(),
        topology_id: None,
        kind: "test.sink".into(),
        decky: None,
        service: None,
        source_ip: None,
        payload: json!({ "i": i }),
    };
    one.record_events(&(0..5).map(event).collect::<Vec<_>>()).await.unwrap();
    let end =
        one.events(&decnet_store::EventFilter { limit: 1000, ..Default::default() }).await.unwrap().last().unwrap().id;
    let (now, ttl) = (Utc::now(), Duration::from_secs(30));
    assert_eq!(one.hold_sink("siem", "one", now, ttl).await.unwrap(), Some(end), "starts at the end");
    assert_eq!(two.hold_sink("siem", "two", now, ttl).await.unwrap(), None, "held by one");
    assert_eq!(one.hold_sink("siem", "one", now, ttl).await.unwrap(), Some(end), "renewed by its holder");
    assert!(!two.advance_sink("siem", "two", end + 1).await.unwrap(), "only the holder moves it");

    two.record_events(&(5..25).map(event).collect::<Vec<_>>()).await.unwrap();
    let backlog = one.sink_backlog(end, 100).await.unwrap();
    assert_eq!(backlog, SinkBacklog { waiting: 20, skip_to: None, skipped: 0 });
    let cut = one.sink_backlog(end, 8).await.unwrap();
    assert_eq!((cut.waiting, cut.skipped), (8, 12), "{cut:?}");
    assert_eq!(cut.skip_to, Some(end + 12), "exactly eight remain after the cut");
    assert!(one.advance_sink("siem", "one", end + 12).await.unwrap());

    assert_eq!(two.sink_cursors().await.unwrap(), [("siem".to_owned(), end + 12)], "read without taking it");
    let stats = two.event_stats().await.unwrap();
    assert!(stats.rows >= 25 && stats.bytes > 0 && stats.oldest.is_some(), "{stats:?}");
    let later = now + TimeDelta::seconds(31);
    assert_eq!(two.hold_sink("siem", "two", later, ttl).await.unwrap(), Some(end + 12), "taken over where it stood");
    assert_eq!(one.hold_sink("siem", "one", later, ttl).await.unwrap(), None);

    // Retention deletes what the sink has not delivered: the gap counts as skipped.
    two.prune_events(Utc::now() + TimeDelta::days(1), 1_000_000).await.unwrap();
    two.record_events(&[event(99)]).await.unwrap();
    let pruned = two.sink_backlog(end + 12, 100).await.unwrap();
    assert_eq!(
        pruned,
        SinkBacklog { waiting: 1, skip_to: Some(end + 20), skipped: 8 },
        "the eight pruned after the cursor"
    );
}

/// A burst from one source folds into one incident, opened (and announced in the log) when
/// it reaches its threshold; another source, or a hit after the window, is another
/// incident; a replica that lost the alerter's cursor writes nothing.
async fn hits_fold_into_one_incident_per_rule_and_source_opened_at_its_threshold_once(db: &TestDb) {
    use decnet_domain::alerts::Severity;
    use decnet_store::{EventFilter, IncidentFilter, IncidentHit};
    let store = db.open().await;
    let id = create(&*store, "alerted", 60).await;
    let start = Utc::now();
    let hit = |n: i64, source: &str, at: DateTime<Utc>| IncidentHit {
        rule: "brute-force".into(),
        severity: Severity::Medium,
        threshold: 5,
        topology_id: Some(id),
        source_ip: Some(source.into()),
        decky: Some("gw".into()),
        service: Some("ssh".into()),
        at,
        event_id: n,
    };
    let window = Duration::from_secs(600);
    assert!(store.hold_sink("@alerts", "me", start, window).await.unwrap().is_some());
    let burst: Vec<_> = (1..=7).map(|n| hit(n, "203.0.113.5", start + TimeDelta::seconds(n))).collect();
    let announced = store.fold_incidents(&burst[..3], window, "@alerts", "me", 3).await.unwrap().unwrap();
    assert!(announced.is_empty(), "below the threshold: nothing yet");
    let filter = IncidentFilter { limit: 100, ..Default::default() };
    assert!(store.incidents(&filter).await.unwrap().is_empty(), "not open yet");
    let announced = store.fold_incidents(&burst[3..], window, "@alerts", "me", 7).await.unwrap().unwrap();
    assert_eq!(announced.len(), 1, "opened once, at the threshold: {announced:?}");
    assert_eq!(announced[0].count, 5);
    let open = store.incidents(&filter).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].count, open[0].first_event_id, open[0].last_event_id), (7, 1, 7));
    let logged = store
        .events(&EventFilter { kind: Some("incident.opened".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!((logged[0].payload["rule"].as_str(), logged[0].topology_id), (Some("brute-force"), Some(id)));

    // Another source, and the same source after the window: new incidents.
    let others = vec![
        IncidentHit { threshold: 1, ..hit(8, "198.51.100.1", start + TimeDelta::seconds(8)) },
        IncidentHit { threshold: 1, ..hit(9, "203.0.113.5", start + TimeDelta::seconds(7 + 601)) },
    ];
    store.fold_incidents(&others, window, "@alerts", "me", 9).await.unwrap().unwrap();
    assert_eq!(store.incidents(&filter).await.unwrap().len(), 3);
    let high = IncidentFilter { min_severity: Some(Severity::High), ..filter.clone() };
    assert!(store.incidents(&high).await.unwrap().is_empty(), "filtered by severity");

    // The cursor taken over by another replica: this one writes nothing.
    let later = start + TimeDelta::seconds(700);
    assert!(store.hold_sink("@alerts", "other", later + TimeDelta::seconds(700), window).await.unwrap().is_some());
    let lost = store.fold_incidents(&[hit(10, "203.0.113.5", later)], window, "@alerts", "me", 10).await.unwrap();
    assert!(lost.is_none());
    assert_eq!(store.incidents(&filter).await.unwrap().iter().map(|i| i.count).sum::<i64>(), 9);
}
