// Tests of the console's pure modules: geometry, layout, the SSE parser and state
// reducer, and the staged-edit list. Run with `node --test crates/api/console/test/`.

import test from 'node:test';
import assert from 'node:assert/strict';

import * as g from '../geometry.js';
import { layout, depths, CARD, slot, columnsFor } from '../layout.js';
import { createParser, backoff } from '../sse.js';
import { initial, reduce, openMutations, filterFeed, withSummary, FEED_LIMIT } from '../state.js';
import * as staged from '../staged.js';

test('zooming at the cursor keeps the world point under it', () => {
  const view = { x: 30, y: -20, k: 0.8 };
  const before = g.toWorld(view, 400, 300);
  const zoomed = g.zoomAt(view, 400, 300, 1.7);
  const after = g.toWorld(zoomed, 400, 300);
  assert.ok(Math.abs(before.x - after.x) < 1e-9 && Math.abs(before.y - after.y) < 1e-9);
  assert.equal(zoomed.k, 0.8 * 1.7);
  assert.equal(g.zoomAt(view, 0, 0, 1000).k, g.MAX_ZOOM, 'zoom is clamped');
});

test('fit shows the whole bounds centred', () => {
  const bounds = { x: 100, y: 50, w: 2000, h: 500 };
  const view = g.fit(bounds, 1000, 600, 40);
  const tl = g.toScreen(view, bounds.x, bounds.y);
  const br = g.toScreen(view, bounds.x + bounds.w, bounds.y + bounds.h);
  assert.ok(tl.x >= 39.999 && br.x <= 960.001 && tl.y >= 0 && br.y <= 600);
  assert.ok(Math.abs((tl.x + br.x) / 2 - 500) < 1e-6 && Math.abs((tl.y + br.y) / 2 - 300) < 1e-6);
  assert.deepEqual(g.fit(null, 100, 100), g.identity());
});

test('bounds, hit tests and the nearest border point', () => {
  assert.equal(g.boundsOf([]), null);
  assert.deepEqual(g.boundsOf([{ x: 0, y: 0, w: 10, h: 10 }, { x: 20, y: -5, w: 5, h: 5 }]), { x: 0, y: -5, w: 25, h: 15 });
  const r = { x: 0, y: 0, w: 100, h: 50 };
  assert.ok(g.contains(r, { x: 50, y: 25 }) && !g.contains(r, { x: 101, y: 25 }));
  assert.deepEqual(g.nearestOnRect(r, { x: 200, y: 25 }), { x: 100, y: 25 });
  assert.deepEqual(g.nearestOnRect(r, { x: 50, y: 2 }), { x: 50, y: 0 });
  assert.ok(g.intersects(r, { x: 99, y: 49, w: 5, h: 5 }) && !g.intersects(r, { x: 100, y: 0, w: 5, h: 5 }));
  assert.deepEqual(g.rectFrom({ x: 5, y: 9 }, { x: 1, y: 2 }), { x: 1, y: 2, w: 4, h: 7 });
});

function maze(lanCount, perLan) {
  const lans = [{ name: 'dmz', is_dmz: true }];
  const deckies = [{ name: 'gw', home_lan: 'dmz', lans: ['dmz', 'lan-1'] }];
  for (let i = 1; i <= lanCount; i++) {
    lans.push({ name: `lan-${i}`, is_dmz: false });
    for (let j = 0; j < perLan; j++) deckies.push({ name: `d-${i}-${j}`, home_lan: `lan-${i}`, lans: [`lan-${i}`] });
    if (i > 1) deckies.push({ name: `br-${i}`, home_lan: `lan-${i - 1}`, lans: [`lan-${i - 1}`, `lan-${i}`] });
  }
  return { lans, deckies };
}

test('the layout is deterministic, by depth from the DMZ, and nothing overlaps', () => {
  const model = maze(6, 5);
  const shuffled = { lans: [...model.lans].reverse(), deckies: [...model.deckies].reverse() };
  const a = layout(model);
  const b = layout(shuffled);
  assert.deepEqual([...a.lans].sort(), [...b.lans].sort());
  assert.deepEqual([...a.deckies].sort(), [...b.deckies].sort());
  const depth = depths(model);
  assert.equal(depth.get('dmz'), 0);
  assert.equal(depth.get('lan-1'), 1);
  assert.equal(depth.get('lan-6'), 6);
  assert.ok(a.lans.get('lan-1').x > a.lans.get('dmz').x, 'deeper LANs are further right');
  const rects = [...a.lans.values()];
  for (let i = 0; i < rects.length; i++) for (let j = i + 1; j < rects.length; j++) assert.ok(!g.intersects(rects[i], rects[j]));
  for (const lan of model.lans) {
    const members = model.deckies.filter((d) => d.home_lan === lan.name).map((d) => a.deckies.get(d.name));
    const box = a.lans.get(lan.name);
    for (const p of members) assert.ok(p.x + CARD.w <= box.w && p.y + CARD.h <= box.h, 'deckies fit in their LAN');
    for (let i = 0; i < members.length; i++)
      for (let j = i + 1; j < members.length; j++)
        assert.ok(!g.intersects({ ...members[i], ...CARD }, { ...members[j], ...CARD }));
  }
});

test('stored positions are kept; only missing ones are computed; force recomputes', () => {
  const model = maze(2, 3);
  model.lans[1].x = 900;
  model.lans[1].y = 700;
  model.deckies[1].x = 16; // d-1-0 keeps the first slot
  model.deckies[1].y = 34;
  const placed = layout(model);
  assert.deepEqual([placed.lans.get('lan-1').x, placed.lans.get('lan-1').y], [900, 700]);
  assert.deepEqual(placed.deckies.get('d-1-0'), { x: 16, y: 34 });
  const others = model.deckies.filter((d) => d.home_lan === 'lan-1' && d.name !== 'd-1-0');
  for (const d of others) assert.notDeepEqual(placed.deckies.get(d.name), { x: 16, y: 34 });
  assert.ok(placed.lans.get('dmz').y >= 700 + placed.lans.get('lan-1').h, 'new LANs start below the placed ones');
  const forced = layout(model, { force: true });
  assert.notEqual(forced.lans.get('lan-1').x, 900);
  assert.deepEqual(slot(0, columnsFor(1)), { x: 16, y: 34 });
});

test('a 1,000-decky layout takes well under the render budget', () => {
  const model = maze(100, 10);
  const started = performance.now();
  const out = layout(model);
  assert.equal(out.deckies.size, model.deckies.length);
  assert.ok(performance.now() - started < 500);
});

test('the SSE parser splits frames across chunks, ids and comments', () => {
  const p = createParser();
  assert.deepEqual(p.push(': keep-alive\n\nevent: status\nid: 7\nda'), []);
  assert.deepEqual(p.push('ta: {"a":1}\r\n\r\ndata: x\ndata: y\n\n'), [
    { event: 'status', id: '7', data: '{"a":1}' },
    { event: 'message', id: '7', data: 'x\ny' },
  ]);
  assert.equal(backoff(1), 1000);
  assert.equal(backoff(10), 10000);
});

test('the reducer folds a snapshot, mutations, decky states and decoy events', () => {
  let s = initial();
  s = reduce(s, { event: 'snapshot', id: null, data: { status: 'active', last_event_id: 10, topology: { version: 3 }, in_flight: [{ id: 5, op: 'add_lan', state: 'pending', codes: [] }] } });
  assert.equal(s.status, 'active');
  assert.equal(s.version, 3);
  assert.equal(s.lastEventId, 10);
  assert.deepEqual(openMutations(s).map((m) => m.id), [5]);
  s = reduce(s, { event: 'mutation.enqueued', id: '11', data: { payload: { mutation_id: 6, op: 'add_decky', version: 4 } } });
  s = reduce(s, { event: 'mutation.applying', id: '12', data: { payload: { mutation_id: 5, op: 'add_lan' } } });
  s = reduce(s, { event: 'mutation.applied', id: '13', data: { payload: { mutation_id: 5, op: 'add_lan' } } });
  s = reduce(s, { event: 'mutation.failed', id: '14', data: { payload: { mutation_id: 6, op: 'add_decky', reason: 'no', codes: ['IP_CONFLICT'] } } });
  assert.equal(s.version, 4);
  assert.equal(s.lastEventId, 14);
  assert.equal(s.mutations[5].state, 'applied');
  assert.deepEqual(s.mutations[6].codes, ['IP_CONFLICT']);
  assert.equal(openMutations(s).length, 0);
  assert.equal(s.designChanges, 1);
  s = reduce(s, { event: 'status', id: '15', data: { payload: { from: 'active', to: 'degraded' } } });
  s = reduce(s, { event: 'decky.state', id: '16', data: { decky: 'web-1', payload: { decky: 'web-1', state: 'failed', last_error: 'gone' } } });
  assert.equal(s.status, 'degraded');
  assert.deepEqual(s.deckies['web-1'], { state: 'failed', last_error: 'gone' });
  const hostile = '<img src=x onerror=alert(1)>';
  s = reduce(s, { event: 'auth', id: '17', data: { id: 17, kind: 'auth', decky: 'web-1', service: 'ssh', source_ip: '10.0.0.9', payload: { username: hostile } } });
  assert.equal(s.feed.length, 1);
  assert.equal(s.feed[0].payload.username, hostile, 'attacker data is kept as it came');
  assert.equal(filterFeed(s.feed, { service: 'http' }).length, 0);
  assert.equal(filterFeed(s.feed, { source: '10.0.0.9', decky: 'web' }).length, 1);
  const unchanged = reduce(s, { event: 'unknown-control', id: null, data: 'text' });
  assert.equal(unchanged, s, 'a frame it does not know leaves the state alone');
});

test('the feed is bounded', () => {
  let s = initial();
  for (let i = 0; i < FEED_LIMIT + 20; i++) s = reduce(s, { event: 'connect', id: String(i), data: { id: i, kind: 'connect', service: 'http', payload: {} } });
  assert.equal(s.feed.length, FEED_LIMIT);
  assert.equal(s.feed.at(-1).id, FEED_LIMIT + 19);
});

test('staged edits: diff against the design, follow the queue, finish', () => {
  const model = { lans: [{ name: 'dmz', is_dmz: true }], deckies: [{ name: 'gw', home_lan: 'dmz', lans: ['dmz'] }] };
  let list = [];
  list = staged.stage(list, 'add_lan', { name: 'lan-1', x: 10, y: 20 });
  list = staged.stage(list, 'add_decky', { name: 'web-1', lan: 'lan-1', archetype: 'web' });
  list = staged.stage(list, 'attach_decky', { decky: 'gw', lan: 'lan-1', forwards_l3: true });
  list = staged.stage(list, 'attach_decky', { decky: 'gw', lan: 'lan-1' });
  list = staged.stage(list, 'remove_decky', { decky: 'nope' });
  const diff = staged.stagedDiff(model, list);
  assert.deepEqual(diff.lansAdded.map((l) => l.name), ['lan-1']);
  assert.deepEqual(diff.deckiesAdded.map((d) => [d.name, d.home_lan]), [['web-1', 'lan-1']]);
  assert.deepEqual(diff.edgesAdded, [{ decky: 'gw', lan: 'lan-1' }], 'a repeated attach counts once');
  assert.deepEqual(diff.deckiesRemoved, [], 'removing an unknown decky changes nothing');
  assert.equal(staged.describe(list[2]), 'attach gw to lan-1 (routing)');
  list = staged.unstage(list, 5);
  list = staged.withPlan(list, 1, { accepted: true, actions: [{ action: 'create_network' }], codes: [] });
  assert.equal(list[0].plan.accepted, true);
  list = staged.enqueued(list, 1, 40);
  list = staged.enqueued(list, 2, 41);
  list = staged.rejected(list, 4, 'version conflict', ['VERSION_CONFLICT']);
  assert.deepEqual(staged.unsent(list).map((e) => e.key), [3]);
  list = staged.follow(list, { 40: { state: 'applied', codes: [] }, 41: { state: 'failed', reason: 'bad', codes: ['X'] } });
  assert.deepEqual(list.map((e) => e.state), ['applied', 'failed', 'staged', 'rejected']);
  assert.deepEqual(staged.stagedDiff(model, list).lansAdded, [], 'finished edits are no longer ghosts');
  assert.deepEqual(staged.clearDone(list).map((e) => e.key), [3]);
});

import { fromDetail, freshName, withoutAddresses } from '../model.js';

test('the detail body becomes the editor model; fresh names skip taken ones', () => {
  const model = fromDetail({
    lans: [{ name: 'dmz', id: 'a', subnet: '172.16.0.0/24', is_dmz: true, x: null, y: 4 }],
    deckies: [{ name: 'gw', uuid: 'b', home_lan: 'dmz', services: ['ssh'], is_gateway: true, state: 'running', decky_config: { ips_by_lan: { dmz: '172.16.0.2', 'lan-1': '172.16.1.2' }, forwards_l3: true } }],
  });
  assert.equal(model.lans[0].x, undefined);
  assert.equal(model.lans[0].y, 4);
  assert.deepEqual(model.deckies[0].lans, ['dmz', 'lan-1']);
  assert.equal(model.deckies[0].forwards_l3, true);
  assert.equal(freshName('lan', new Set(['lan-1', 'lan-2'])), 'lan-3');
  assert.equal(freshName('Windows Workstation', new Set()), 'windows-workstation-1');
});

test('a topology read older than the stream does not undo its status', () => {
  let s = reduce(initial(), { event: 'status', id: '9', data: { ts: '2026-12-06T10:00:02Z', payload: { from: 'deploying', to: 'active' } } });
  s = { ...s, version: 5 };
  const stale = withSummary(s, { status: 'pending', status_changed_at: '2026-12-06T10:00:00Z', version: 4 });
  assert.equal(stale.status, 'active');
  assert.equal(stale.version, 5, 'versions only grow');
  const fresh = withSummary(s, { status: 'degraded', status_changed_at: '2026-12-06T10:00:05Z', version: 6 });
  assert.deepEqual([fresh.status, fresh.version], ['degraded', 6]);
  assert.equal(withSummary(initial(), { status: 'pending', status_changed_at: '2026-12-06T10:00:00Z', version: 1 }).status, 'pending');
});

test('a document made into a copy loses its subnets and addresses, nothing else', () => {
  const doc = { name: 'x', lans: [{ name: 'dmz', subnet: '172.16.0.0/24', is_dmz: true }, 'junk'], deckies: [{ name: 'a', networks: [{ lan: 'dmz', ip: '172.16.0.2' }] }, null] };
  withoutAddresses(doc);
  assert.deepEqual(doc.lans[0], { name: 'dmz', is_dmz: true });
  assert.deepEqual(doc.deckies[0].networks, [{ lan: 'dmz' }]);
  assert.deepEqual(withoutAddresses({}), {}, 'a document without LANs or deckies passes through');
});
