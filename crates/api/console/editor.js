// The topology editor: an SVG canvas of LANs (areas) holding their deckies (cards),
// bridge memberships as lines to the other LANs, pan/zoom/fit, drag with positions saved
// in one batched request per drop, a palette dropped onto the canvas, a LAN or a decky,
// an inspector, live state over SSE, staged live edits and the attackers' paths.
//
// The inspector (`inspector.js`) and the bottom panels (`panels.js`: staged edits, feed,
// attackers) are mixed into the editor class.
//
// Edits are ops of the mutation vocabulary. On a pending topology they are applied at once
// (`POST /edits`); on a deployed one they are staged, previewed in order with
// `mutations:plan-all` and enqueued in order with `expected_version`.

import * as api from './api.js';
import { h, s, replace, clip } from './dom.js';
import * as g from './geometry.js';
import { layout, lanSize, CARD, HEADER } from './layout.js';
import { fromDetail, freshName } from './model.js';
import { follow } from './sse.js';
import { initial, reduce, openMutations, withSummary } from './state.js';
import * as staged from './staged.js';
import { inspectorMethods } from './inspector.js';
import { panelMethods } from './panels.js';

const DRAG_THRESHOLD = 3;

export async function openEditor(root, name, ctx) {
  const [detail, services, archetypes] = await Promise.all([
    api.get(api.topo(name)),
    api.get('/api/v1/topologies/services'),
    api.get('/api/v1/topologies/archetypes'),
  ]);
  const ed = new Editor(root, name, detail, services, archetypes.archetypes, ctx);
  ed.mount();
  return () => ed.close();
}

class Editor {
  constructor(root, name, detail, services, archetypes, ctx) {
    this.root = root;
    this.name = name;
    this.ctx = ctx;
    this.services = services.details;
    this.archetypes = archetypes;
    this.live = initial();
    this.connected = false;
    this.staged = [];
    this.selection = new Set(); // 'lan:<name>' | 'decky:<name>'
    this.issues = [];
    this.view = g.identity();
    this.path = null;
    this.feedFilter = {};
    this.setDetail(detail);
  }

  setDetail(detail) {
    this.detail = detail;
    this.summary = detail.topology;
    this.model = fromDetail(detail);
    this.deckyByName = new Map(this.model.deckies.map((d) => [d.name, d]));
    this.live = withSummary(this.live, this.summary);
    this.positions = layout(this.model);
  }

  get status() {
    return this.live.status || this.summary.status;
  }

  // ---- Mounting and chrome ------------------------------------------------------------

  mount() {
    this.header = h('header', { class: 'editor-head' });
    this.palette = h('aside', { class: 'palette', 'aria-label': 'palette' });
    this.svg = s('svg', { class: 'canvas', id: 'canvas', tabindex: '0' });
    this.inspector = h('aside', { class: 'inspector', id: 'inspector' });
    this.bottom = h('section', { class: 'bottom' });
    this.banner = h('div', { class: 'banner hidden', id: 'banner', role: 'status' });
    replace(
      this.root,
      this.banner,
      this.header,
      h('div', { class: 'editor' }, this.palette, h('div', { class: 'canvas-wrap' }, this.svg), this.inspector),
      this.bottom,
    );
    this.buildPalette();
    this.buildCanvas();
    this.bindCanvas();
    this.renderAll();
    requestAnimationFrame(() => {
      this.fitView();
      // When the first drawing is on screen (the benchmark reads this mark).
      requestAnimationFrame(() => performance.mark('decnet:first-render'));
    });
    this.stream = follow(api.topo(this.name, '/events'), {
      token: api.token,
      onFrame: (frame) => this.onFrame(frame),
      onLive: (live) => {
        this.connected = live;
        this.renderBanner();
        this.renderHead();
      },
      onFatal: (status) => {
        if (status === 401) {
          api.setToken(null);
          this.ctx.navigate('#/', true);
        } else {
          this.ctx.toast(status === 404 ? `${this.name} no longer exists` : `The live stream of ${this.name} was refused (${status})`, 'error');
          if (status === 404) this.ctx.navigate('#/');
        }
      },
    });
    this.refreshIssues();
    this.refreshAttackers();
    this.keys = (e) => this.onKey(e);
    document.addEventListener('keydown', this.keys);
  }

  close() {
    this.stream?.close();
    clearTimeout(this.refetchTimer);
    clearTimeout(this.attackerTimer);
    document.removeEventListener('keydown', this.keys);
  }

  renderAll() {
    this.renderHead();
    this.renderCanvas();
    this.renderInspector();
    this.renderBottom();
    this.renderBanner();
  }

  renderBanner() {
    const failures = this.staged.filter((e) => e.state === 'failed' || e.state === 'rejected');
    let text = '';
    if (!this.connected) text = 'Disconnected from the live stream: reconnecting… (what you see may be out of date)';
    else if (this.live.error) text = `Live stream: ${this.live.error}`;
    else if (failures.length) text = `${failures.length} edit(s) failed: see the staged edits`;
    this.banner.textContent = text;
    this.banner.classList.toggle('hidden', !text);
    this.banner.classList.toggle('offline', !this.connected);
  }

  /** The header: built once; `renderHead` only updates what changes, so a button armed
   * for confirmation stays armed while events arrive. */
  buildHead() {
    const act = (label, fn, attrs = {}) => h('button', { onclick: fn, ...attrs }, label);
    this.headParts = {
      status: h('span', { id: 'status' }),
      version: h('span', { class: 'meta', id: 'version' }),
      counts: h('span', { class: 'meta', id: 'counts' }),
      queue: h('span', { class: 'meta', id: 'queue' }),
      live: h('span', { id: 'live' }),
      lifecycle: h('span', { class: 'lifecycle' }),
    };
    const p = this.headParts;
    replace(
      this.header,
      act('← Topologies', () => this.ctx.navigate('#/')),
      h('h1', { id: 'topology-name' }, this.name),
      p.status, p.version, p.counts, p.queue, p.live,
      h('span', { class: 'spacer' }),
      act('Fit', () => this.fitView(), { id: 'fit' }),
      act('−', () => this.zoomBy(1 / 1.25), { title: 'zoom out' }),
      act('+', () => this.zoomBy(1.25), { title: 'zoom in' }),
      act('Auto-layout', () => this.autoLayout(), { id: 'auto-layout', title: 'Lay everything out again by depth from the DMZ and save it' }),
      act('Export', () => this.exportDocument(), { id: 'export' }),
      p.lifecycle,
    );
  }

  renderHead() {
    if (!this.headParts) this.buildHead();
    const p = this.headParts;
    const running = this.model.deckies.filter((d) => (this.live.deckies[d.name]?.state ?? d.state) === 'running').length;
    const status = this.status;
    p.status.className = `pill status-${status}`;
    p.status.textContent = status;
    p.version.textContent = `v${this.live.version ?? this.summary.version}`;
    p.counts.textContent = `${this.model.lans.length} LANs · ${running}/${this.model.deckies.length} deckies running`;
    p.queue.textContent = `queue ${openMutations(this.live).length}`;
    p.live.className = `pill ${this.connected ? 'live' : 'connecting'}`;
    p.live.textContent = this.connected ? 'LIVE' : 'CONNECTING';
    const deployable = status === 'pending' || status === 'torn_down' || status === 'failed';
    const kind = deployable ? 'deploy' : 'teardown';
    if (p.lifecycle.dataset.kind !== kind || p.lifecycle.querySelector('button:disabled')) {
      p.lifecycle.dataset.kind = kind;
      replace(
        p.lifecycle,
        deployable
          ? this.ctx.confirmButton('Deploy', () => this.lifecycle('deploy'), { id: 'deploy' })
          : this.ctx.confirmButton('Teardown', () => this.lifecycle('teardown'), { id: 'teardown' }),
      );
    }
  }

  /** Runs `fn` once on the next animation frame however often it is asked for under `key`
   * (a burst of events costs one redraw per frame). */
  coalesce(key, fn) {
    if (!this.dirty) this.dirty = new Map();
    const first = this.dirty.size === 0;
    this.dirty.set(key, fn);
    if (!first) return;
    requestAnimationFrame(() => {
      const jobs = [...this.dirty.values()];
      this.dirty.clear();
      for (const job of jobs) job();
    });
  }

  // ---- Palette -------------------------------------------------------------------------

  buildPalette() {
    const item = (kind, value, label, title) =>
      h('div', { class: `palette-item ${kind}`, dataset: { kind, value }, title: title || label, onpointerdown: (e) => this.paletteDrag(e, kind, value, label) }, label);
    replace(
      this.palette,
      h('h3', {}, 'Network'),
      item('lan', 'lan', 'LAN', 'Drop on the canvas: a new internal LAN'),
      item('dmz', 'dmz', 'DMZ', 'Drop on the canvas: the DMZ (one per topology)'),
      h('h3', {}, 'Archetypes'),
      this.archetypes.map((a) => item('archetype', a.slug, a.display_name, `${a.description} — drop on a LAN`)),
      h('h3', {}, 'Services'),
      this.services.map((sv) => item('service', sv.name, sv.name, `${sv.description} — drop on a decky (or on a LAN for a new decky)`)),
    );
  }

  paletteDrag(event, kind, value, label) {
    event.preventDefault();
    const ghost = h('div', { class: 'palette-ghost' }, label);
    document.body.append(ghost);
    const move = (e) => {
      ghost.style.left = `${e.clientX + 8}px`;
      ghost.style.top = `${e.clientY + 8}px`;
    };
    move(event);
    const up = (e) => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
      ghost.remove();
      const rect = this.svg.getBoundingClientRect();
      if (e.clientX < rect.left || e.clientX > rect.right || e.clientY < rect.top || e.clientY > rect.bottom) return;
      const world = g.toWorld(this.view, e.clientX - rect.left, e.clientY - rect.top);
      this.dropPalette(kind, value, world);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  }

  dropPalette(kind, value, world) {
    const lan = this.lanAt(world);
    const decky = this.deckyAt(world);
    if (kind === 'lan' || kind === 'dmz') {
      const name = kind === 'dmz' ? freshName('dmz', this.takenLans()) : freshName('lan', this.takenLans());
      this.edit('add_lan', { name, is_dmz: kind === 'dmz', x: Math.round(world.x), y: Math.round(world.y) });
    } else if (kind === 'service' && decky) {
      const d = this.findDecky(decky);
      if (d.services.includes(value)) return this.ctx.toast(`${decky} already runs ${value}`);
      this.edit('update_decky', { decky, services: [...d.services, value] });
    } else if (lan) {
      const box = this.lanRect(lan);
      const rel = { x: Math.max(0, Math.round(world.x - box.x)), y: Math.max(HEADER, Math.round(world.y - box.y)) };
      const payload = { name: freshName(value, this.takenDeckies()), lan, ...rel };
      if (kind === 'archetype') payload.archetype = value;
      else payload.services = [value];
      this.edit('add_decky', payload);
    } else {
      this.ctx.toast(kind === 'service' ? 'Drop a service on a decky or a LAN' : 'Drop an archetype on a LAN');
    }
  }

  takenLans() {
    const diff = staged.stagedDiff(this.model, this.staged);
    return new Set([...this.model.lans.map((l) => l.name), ...diff.lansAdded.map((l) => l.name)]);
  }

  takenDeckies() {
    const diff = staged.stagedDiff(this.model, this.staged);
    return new Set([...this.model.deckies.map((d) => d.name), ...diff.deckiesAdded.map((d) => d.name)]);
  }

  // ---- Edits ---------------------------------------------------------------------------

  /** One edit: applied now on a pending topology, staged on a live one. */
  async edit(op, payload) {
    const status = this.status;
    if (staged.STAGED_STATUSES.has(status)) {
      this.staged = staged.stage(this.staged, op, payload);
      this.renderCanvas();
      this.renderBottom();
      return;
    }
    if (status !== 'pending') {
      this.ctx.toast(`A ${status} topology cannot be edited`);
      return;
    }
    try {
      await api.post(api.topo(this.name, '/edits'), { op, payload, expected_version: this.summary.version });
      await this.refetch();
    } catch (err) {
      this.showError(err);
      if (err.status === 409) await this.refetch();
    }
  }

  showError(err) {
    const codes = err.codes || [];
    this.ctx.toast(`${err.message}${codes.length ? ` [${codes.join(', ')}]` : ''}`, 'error');
    if (err.issues?.length) {
      this.issues = err.issues;
      this.renderCanvas();
      this.renderInspector();
    }
  }

  async refetch() {
    const detail = await api.get(api.topo(this.name));
    // The same design, states and status as drawn (e.g. the stream announcing our own
    // edit, already fetched): nothing to redraw.
    if (sameContent(detail.topology, this.summary)) return;
    const selected = this.selection;
    this.setDetail(detail);
    this.selection = new Set([...selected].filter((key) => this.exists(key)));
    this.renderAll();
    this.refreshIssues();
  }

  /** Refetches the design once the stream says it changed (debounced). */
  scheduleRefetch() {
    clearTimeout(this.refetchTimer);
    this.refetchTimer = setTimeout(() => this.refetch().catch((err) => this.showError(err)), 150);
  }

  async refreshIssues() {
    try {
      const report = await api.get(api.topo(this.name, '/validate'));
      if (JSON.stringify(report.issues) === JSON.stringify(this.issues)) return;
      this.issues = report.issues;
      this.renderCanvas();
      this.renderInspector();
    } catch {
      // Validation is advisory here; errors show on edits.
    }
  }

  async lifecycle(action) {
    try {
      await api.post(api.topo(this.name, `/${action}`));
      this.ctx.toast(`${action === 'deploy' ? 'Deploy' : 'Teardown'} requested: its progress shows live`);
      await this.refetch();
    } catch (err) {
      this.showError(err);
    }
  }

  async exportDocument() {
    try {
      const doc = await api.get(api.topo(this.name, '/export'));
      this.ctx.download(`${this.name}.json`, JSON.stringify(doc, null, 2));
    } catch (err) {
      this.showError(err);
    }
  }

  // ---- Staged live edits ---------------------------------------------------------------

  /** Dry-runs the unsent edits in order, each after the ones before it (`mutations:plan-all`). */
  async preview() {
    const edits = staged.unsent(this.staged);
    if (!edits.length) return;
    try {
      const { results } = await api.post(api.topo(this.name, '/mutations:plan-all'), { ops: edits.map((e) => ({ op: e.op, payload: e.payload })) });
      edits.forEach((e, i) => {
        this.staged = staged.withPlan(this.staged, e.key, results[i]);
      });
    } catch (err) {
      this.showError(err);
    }
    this.renderStaged();
  }

  async applyStaged() {
    let version = this.live.version ?? this.summary.version;
    for (const e of staged.unsent(this.staged)) {
      try {
        const enqueued = await api.post(api.topo(this.name, '/mutations'), { op: e.op, payload: e.payload, expected_version: version });
        version = enqueued.version;
        this.staged = staged.enqueued(this.staged, e.key, enqueued.mutation_id);
      } catch (err) {
        const codes = err.codes.length ? err.codes : [err.body.error || String(err.status)];
        this.staged = staged.rejected(this.staged, e.key, err.message, codes);
        break;
      }
    }
    this.staged = staged.follow(this.staged, this.live.mutations);
    this.renderBottom();
    this.renderBanner();
  }

  // ---- Live stream ---------------------------------------------------------------------

  onFrame(frame) {
    const before = this.live;
    this.live = reduce(this.live, frame);
    if (this.live.designChanges !== before.designChanges) this.scheduleRefetch();
    if (this.live.deleted) {
      this.ctx.toast(`${this.name} was deleted`);
      this.ctx.navigate('#/');
      return;
    }
    if (this.live.status !== before.status) this.coalesce('all', () => this.renderAll());
    if (this.live.deckies !== before.deckies) this.coalesce('states', () => this.updateDeckyStates());
    this.coalesce('head', () => this.renderHead());
    if (this.live.mutations !== before.mutations) {
      this.staged = staged.follow(this.staged, this.live.mutations);
      this.coalesce('staged', () => {
        this.renderStaged();
        this.renderBanner();
      });
    }
    if (this.live.feed !== before.feed) {
      this.coalesce('feed', () => this.renderFeedRows());
      clearTimeout(this.attackerTimer);
      this.attackerTimer = setTimeout(() => this.refreshAttackers(), 1000);
    }
  }

  // ---- Canvas --------------------------------------------------------------------------

  buildCanvas() {
    const grid = s('pattern', { id: 'grid', width: 40, height: 40, patternUnits: 'userSpaceOnUse' }, s('path', { d: 'M 40 0 L 0 0 0 40', class: 'grid-line' }));
    this.viewport = s('g', { class: 'viewport' });
    this.lanLayer = s('g', { class: 'lans' });
    this.edgeLayer = s('g', { class: 'edges' });
    this.pathLayer = s('g', { class: 'paths' });
    this.overlay = s('g', { class: 'overlay' });
    this.viewport.append(this.lanLayer, this.edgeLayer, this.pathLayer, this.overlay);
    replace(this.svg, s('defs', {}, grid), s('rect', { class: 'background', width: '100%', height: '100%' }), this.viewport);
  }

  applyView() {
    this.viewport.setAttribute('transform', `translate(${this.view.x} ${this.view.y}) scale(${this.view.k})`);
  }

  fitView() {
    const rect = this.svg.getBoundingClientRect();
    this.view = g.fit(g.boundsOf([...this.lanRects().values()]), rect.width, rect.height);
    this.applyView();
  }

  zoomBy(factor) {
    const rect = this.svg.getBoundingClientRect();
    this.view = g.zoomAt(this.view, rect.width / 2, rect.height / 2, factor);
    this.applyView();
  }

  /** Every LAN's rect, ghosts of staged LANs included. */
  lanRects() {
    const rects = new Map();
    for (const [name, r] of this.positions.lans) rects.set(name, r);
    for (const ghost of this.ghostLans || []) rects.set(ghost.name, ghost.rect);
    return rects;
  }

  lanRect(name) {
    return this.lanRects().get(name);
  }

  findDecky(name) {
    return this.deckyByName.get(name);
  }

  exists(key) {
    const [kind, name] = key.split(':');
    return kind === 'lan' ? this.positions.lans.has(name) : this.positions.deckies.has(name);
  }

  /** Absolute rect of a decky card. */
  deckyRect(name) {
    const d = this.findDecky(name) || this.ghostDeckies?.find((x) => x.name === name);
    if (!d) return null;
    const lan = this.lanRect(d.home_lan);
    const p = this.positions.deckies.get(name) || d.pos;
    if (!lan || !p) return null;
    return { x: lan.x + p.x, y: lan.y + p.y, w: CARD.w, h: CARD.h };
  }

  lanAt(world) {
    let found = null;
    for (const [name, r] of this.lanRects()) if (g.contains(r, world)) found = name;
    return found;
  }

  deckyAt(world) {
    const lan = this.lanAt(world);
    if (!lan) return null;
    for (const d of this.model.deckies) {
      if (d.home_lan !== lan) continue;
      const r = this.deckyRect(d.name);
      if (r && g.contains(r, world)) return d.name;
    }
    return null;
  }

  issuesFor(kind, name) {
    return this.issues.filter((i) => i.target?.[kind] === name || (i.target?.[`${kind}s`] || []).includes(name));
  }

  renderCanvas() {
    const diff = staged.stagedDiff(this.model, this.staged);
    const existing = this.positions;
    // Staged LANs and deckies are drawn as ghosts where they were dropped.
    this.ghostLans = diff.lansAdded.map((l) => ({ ...l, rect: { x: l.x ?? 0, y: l.y ?? 0, w: 300, h: 150 } }));
    this.ghostDeckies = diff.deckiesAdded.map((d) => ({ ...d, pos: { x: d.x ?? 16, y: d.y ?? HEADER } }));
    const removedLans = new Set(diff.lansRemoved);
    const removedDeckies = new Set(diff.deckiesRemoved);
    const changed = new Set(diff.deckiesChanged);
    const byLan = new Map();
    for (const d of this.model.deckies) {
      if (!byLan.has(d.home_lan)) byLan.set(d.home_lan, []);
      byLan.get(d.home_lan).push(d);
    }
    this.lanNodes = new Map();
    this.deckyNodes = new Map();
    const lanGroups = [];
    const gateway = this.model.deckies.find((d) => d.is_gateway)?.name;
    for (const lan of this.model.lans) {
      const r = existing.lans.get(lan.name);
      const group = this.lanNode(lan, r, { removed: removedLans.has(lan.name) });
      for (const d of byLan.get(lan.name) || []) {
        const card = this.deckyNode(d, existing.deckies.get(d.name), { removed: removedDeckies.has(d.name), changed: changed.has(d.name), gateway: d.name === gateway });
        group.append(card);
      }
      lanGroups.push(group);
    }
    for (const ghost of this.ghostLans) lanGroups.push(this.lanNode(ghost, ghost.rect, { ghost: true }));
    for (const ghost of this.ghostDeckies) {
      const parent = this.lanNodes.get(ghost.home_lan);
      if (parent) parent.append(this.deckyNode(ghost, ghost.pos, { ghost: true }));
    }
    replace(this.lanLayer, lanGroups);
    this.renderEdges(diff);
    this.renderPath();
    this.applyView();
  }

  lanNode(lan, r, { ghost = false, removed = false } = {}) {
    const issues = ghost ? [] : this.issuesFor('lan', lan.name);
    const selected = this.selection.has(`lan:${lan.name}`);
    const cls = ['lan', lan.is_dmz && 'dmz', ghost && 'ghost', removed && 'removed', selected && 'selected', issues.length && 'has-issues'].filter(Boolean).join(' ');
    const group = s(
      'g',
      { class: cls, transform: `translate(${r.x} ${r.y})`, dataset: { lan: lan.name } },
      s('rect', { class: 'lan-box', width: r.w, height: r.h, rx: 10 }),
      s('text', { class: 'lan-title', x: 12, y: 22 }, `${lan.is_dmz ? 'DMZ · ' : ''}${lan.name}`),
      s('text', { class: 'lan-subnet', x: r.w - 12, y: 22, 'text-anchor': 'end' }, lan.subnet || (ghost ? 'staged' : '')),
      issues.length ? s('text', { class: 'issue-badge', x: r.w - 12, y: r.h - 10, 'text-anchor': 'end' }, s('title', {}, issues.map((i) => `${i.code}: ${i.message}`).join('\n')), `⚠ ${issues.map((i) => i.code).join(', ')}`) : null,
    );
    this.lanNodes.set(lan.name, group);
    return group;
  }

  deckyNode(d, p, { ghost = false, removed = false, changed = false, gateway = false } = {}) {
    const state = ghost ? 'staged' : this.live.deckies[d.name]?.state ?? d.state;
    const issues = ghost ? [] : this.issuesFor('decky', d.name);
    const selected = this.selection.has(`decky:${d.name}`);
    const cls = ['decky', `state-${state}`, ghost && 'ghost', removed && 'removed', changed && 'changed', selected && 'selected', gateway && 'gateway', d.forwards_l3 && 'router', issues.length && 'has-issues'].filter(Boolean).join(' ');
    const badges = [gateway ? 'GW' : null, d.forwards_l3 ? '⇄' : null].filter(Boolean).join(' ');
    const card = s(
      'g',
      { class: cls, transform: `translate(${p.x} ${p.y})`, dataset: { decky: d.name } },
      s('rect', { class: 'card', width: CARD.w, height: CARD.h, rx: 6 }),
      s('circle', { class: 'state-dot', cx: 10, cy: 12, r: 4 }),
      s('text', { class: 'decky-name', x: 20, y: 16 }, clip(d.name, 17)),
      s('text', { class: 'decky-sub', x: 8, y: 36 }, clip((d.services || []).join(' '), badges ? 14 : 20)),
      badges ? s('text', { class: 'badge', x: CARD.w - 10, y: 37, 'text-anchor': 'end' }, badges) : null,
      issues.length ? s('text', { class: 'issue-badge', x: CARD.w - 6, y: 12, 'text-anchor': 'end' }, s('title', {}, issues.map((i) => `${i.code}: ${i.message}`).join('\n')), '⚠') : null,
      ghost ? null : s('circle', { class: 'port', cx: CARD.w, cy: CARD.h / 2, r: 6, dataset: { port: d.name } }, s('title', {}, 'Drag to another LAN to attach')),
      s('title', {}, `${d.name} (${state})${d.last_error ? `: ${d.last_error}` : ''}`),
    );
    this.deckyNodes.set(d.name, card);
    return card;
  }

  updateDeckyStates() {
    for (const [name, card] of this.deckyNodes) {
      const state = this.live.deckies[name]?.state;
      if (!state) continue;
      for (const c of [...card.classList]) if (c.startsWith('state-')) card.classList.remove(c);
      card.classList.add(`state-${state}`);
    }
  }

  /** Lines from each decky to the LANs it bridges to (not its home). */
  renderEdges(diff = staged.stagedDiff(this.model, this.staged)) {
    const lines = [];
    this.edgeIndex = [];
    const removed = new Set(diff.edgesRemoved.map((e) => `${e.decky}\u0000${e.lan}`));
    const add = (decky, lan, cls) => {
      const line = s('line', { class: cls, dataset: { decky, lan } });
      this.edgeIndex.push({ decky, lan, line });
      lines.push(line);
    };
    for (const d of this.model.deckies) {
      for (const lan of d.lans) if (lan !== d.home_lan) add(d.name, lan, `edge${removed.has(`${d.name}\u0000${lan}`) ? ' removed' : ''}`);
    }
    for (const e of diff.edgesAdded) add(e.decky, e.lan, 'edge ghost');
    replace(this.edgeLayer, lines);
    this.updateEdges();
  }

  updateEdges(only) {
    for (const e of this.edgeIndex) {
      if (only && !only.has(e.decky) && !only.has(`lan:${e.lan}`)) continue;
      const card = this.deckyRect(e.decky);
      const lan = this.lanRect(e.lan);
      if (!card || !lan) continue;
      const centre = { x: card.x + card.w / 2, y: card.y + card.h / 2 };
      const to = g.nearestOnRect(lan, centre);
      const from = g.nearestOnRect(card, to);
      e.line.setAttribute('x1', from.x);
      e.line.setAttribute('y1', from.y);
      e.line.setAttribute('x2', to.x);
      e.line.setAttribute('y2', to.y);
    }
  }

  // ---- Pointer gestures ----------------------------------------------------------------

  bindCanvas() {
    this.svg.addEventListener('wheel', (e) => {
      e.preventDefault();
      const rect = this.svg.getBoundingClientRect();
      this.view = g.zoomAt(this.view, e.clientX - rect.left, e.clientY - rect.top, Math.exp(-e.deltaY * 0.0015));
      this.applyView();
    }, { passive: false });
    this.svg.addEventListener('pointerdown', (e) => this.pointerDown(e));
  }

  screenPoint(e) {
    const rect = this.svg.getBoundingClientRect();
    return { x: e.clientX - rect.left, y: e.clientY - rect.top };
  }

  worldPoint(e) {
    const p = this.screenPoint(e);
    return g.toWorld(this.view, p.x, p.y);
  }

  pointerDown(e) {
    if (e.button !== 0) return;
    const target = e.target;
    const port = target.closest?.('[data-port]');
    const card = target.closest?.('[data-decky]');
    const lanGroup = target.closest?.('[data-lan]');
    const start = this.screenPoint(e);
    let moved = false;
    let onMove;
    let onUp;
    if (port) {
      const decky = port.dataset.port;
      const from = this.deckyRect(decky);
      const line = s('line', { class: 'edge drafting', x1: from.x + from.w, y1: from.y + from.h / 2, x2: from.x + from.w, y2: from.y + from.h / 2 });
      this.overlay.append(line);
      onMove = (ev) => {
        const w = this.worldPoint(ev);
        line.setAttribute('x2', w.x);
        line.setAttribute('y2', w.y);
      };
      onUp = (ev) => {
        line.remove();
        const w = this.worldPoint(ev);
        const lan = this.lanAt(w);
        const d = this.findDecky(decky);
        if (!lan || !d) return;
        if (d.lans.includes(lan)) return this.ctx.toast(`${decky} is already on ${lan}`);
        this.edit('attach_decky', { decky, lan });
      };
    } else if (card && !card.classList.contains('ghost')) {
      const name = card.dataset.decky;
      // Pressing on a member of a multi-selection drags the whole selection.
      if (e.shiftKey || !this.selection.has(`decky:${name}`)) this.select(`decky:${name}`, e.shiftKey);
      const names = [...this.selection].filter((k) => k.startsWith('decky:')).map((k) => k.slice(6));
      const origin = new Map(names.map((n) => [n, { ...this.positions.deckies.get(n) }]));
      onMove = (ev) => {
        const p = this.screenPoint(ev);
        const dx = (p.x - start.x) / this.view.k;
        const dy = (p.y - start.y) / this.view.k;
        if (!moved && Math.hypot(p.x - start.x, p.y - start.y) < DRAG_THRESHOLD) return;
        moved = true;
        this.schedule(() => {
          for (const n of names) {
            const o = origin.get(n);
            const next = { x: Math.max(0, Math.round(o.x + dx)), y: Math.max(HEADER, Math.round(o.y + dy)) };
            this.positions.deckies.set(n, next);
            this.deckyNodes.get(n)?.setAttribute('transform', `translate(${next.x} ${next.y})`);
          }
          this.updateEdges(new Set(names));
        });
      };
      onUp = () => {
        if (!moved) {
          // A plain click on a member of a multi-selection selects it alone.
          if (!e.shiftKey && this.selection.size > 1) this.select(`decky:${name}`);
          return;
        }
        const lans = new Set(names.map((n) => this.findDecky(n).home_lan));
        for (const lan of lans) this.resizeLan(lan);
        this.saveLayout({ deckies: names });
      };
    } else if (lanGroup && !lanGroup.classList.contains('ghost')) {
      const name = lanGroup.dataset.lan;
      if (e.shiftKey || !this.selection.has(`lan:${name}`)) this.select(`lan:${name}`, e.shiftKey);
      const names = [...this.selection].filter((k) => k.startsWith('lan:')).map((k) => k.slice(4));
      const origin = new Map(names.map((n) => [n, { ...this.positions.lans.get(n) }]));
      onMove = (ev) => {
        const p = this.screenPoint(ev);
        if (!moved && Math.hypot(p.x - start.x, p.y - start.y) < DRAG_THRESHOLD) return;
        moved = true;
        const dx = (p.x - start.x) / this.view.k;
        const dy = (p.y - start.y) / this.view.k;
        this.schedule(() => {
          for (const n of names) {
            const o = origin.get(n);
            const next = { ...o, x: Math.round(o.x + dx), y: Math.round(o.y + dy) };
            this.positions.lans.set(n, next);
            this.lanNodes.get(n)?.setAttribute('transform', `translate(${next.x} ${next.y})`);
          }
          const touched = new Set(names.map((n) => `lan:${n}`));
          for (const d of this.model.deckies) if (names.includes(d.home_lan)) touched.add(d.name);
          this.updateEdges(touched);
          this.renderPath();
        });
      };
      onUp = () => {
        if (moved) this.saveLayout({ lans: names });
        else if (!e.shiftKey && this.selection.size > 1) this.select(`lan:${name}`);
      };
    } else if (e.shiftKey) {
      // Shift-drag on the background: a rubber band adds the deckies it touches.
      const from = this.worldPoint(e);
      const band = s('rect', { class: 'rubber-band' });
      this.overlay.append(band);
      let rect = g.rectFrom(from, from);
      onMove = (ev) => {
        rect = g.rectFrom(from, this.worldPoint(ev));
        this.schedule(() => {
          for (const [key, value] of Object.entries(rect)) band.setAttribute(key === 'w' ? 'width' : key === 'h' ? 'height' : key, value);
        });
      };
      onUp = () => {
        band.remove();
        for (const d of this.model.deckies) {
          const r = this.deckyRect(d.name);
          if (r && g.intersects(r, rect)) this.selection.add(`decky:${d.name}`);
        }
        this.select(null, true);
      };
    } else {
      this.select(null);
      const origin = { ...this.view };
      onMove = (ev) => {
        const p = this.screenPoint(ev);
        this.view = g.pan(origin, p.x - start.x, p.y - start.y);
        this.schedule(() => this.applyView());
      };
      onUp = () => {};
    }
    const up = (ev) => {
      window.removeEventListener('pointermove', onMove);
      window.removeEventListener('pointerup', up);
      onUp(ev);
    };
    window.addEventListener('pointermove', onMove);
    window.addEventListener('pointerup', up);
  }

  /** Runs `fn` on the next animation frame, once per frame. */
  schedule(fn) {
    this.pendingFrame = fn;
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => {
      this.frameRequested = false;
      const run = this.pendingFrame;
      this.pendingFrame = null;
      run?.();
    });
  }

  resizeLan(lan) {
    const members = this.model.deckies.filter((d) => d.home_lan === lan).map((d) => this.positions.deckies.get(d.name));
    const r = this.positions.lans.get(lan);
    Object.assign(r, lanSize(members));
    const box = this.lanNodes.get(lan)?.querySelector('.lan-box');
    box?.setAttribute('width', r.w);
    box?.setAttribute('height', r.h);
    this.updateEdges();
  }

  /** Saves the positions of the named LANs and deckies in one request. */
  async saveLayout({ lans = [], deckies = [] }) {
    const body = { lans: {}, deckies: {} };
    for (const n of lans) {
      const r = this.positions.lans.get(n);
      body.lans[n] = { x: r.x, y: r.y };
    }
    for (const n of deckies) body.deckies[n] = { ...this.positions.deckies.get(n) };
    try {
      const saved = await api.put(api.topo(this.name, '/layout'), body);
      // When this write was the only change, what is drawn is what was saved: the stream's
      // announcement of it needs no redraw (anything else in between is fetched as usual).
      if (saved.generation === this.summary.generation + 1) this.summary = { ...this.summary, generation: saved.generation };
      for (const n of lans) Object.assign(this.model.lans.find((l) => l.name === n), body.lans[n]);
      for (const n of deckies) Object.assign(this.findDecky(n), body.deckies[n]);
      this.ctx.toast(`Saved the position of ${lans.length + deckies.length} item(s)`, 'quiet');
    } catch (err) {
      this.showError(err);
    }
  }

  async autoLayout() {
    this.positions = layout(this.model, { force: true });
    this.renderCanvas();
    this.fitView();
    await this.saveLayout({ lans: this.model.lans.map((l) => l.name), deckies: this.model.deckies.map((d) => d.name) });
  }

  select(key, add = false) {
    if (!add) this.selection.clear();
    if (key) {
      if (add && this.selection.has(key)) this.selection.delete(key);
      else this.selection.add(key);
    }
    for (const [name, node] of this.lanNodes) node.classList.toggle('selected', this.selection.has(`lan:${name}`));
    for (const [name, node] of this.deckyNodes) node.classList.toggle('selected', this.selection.has(`decky:${name}`));
    this.renderInspector();
  }

  onKey(e) {
    if (e.target.closest?.('input, select, textarea')) return;
    if (e.key === 'Delete' && this.selection.size === 1) this.removeSelected();
    else if (e.key === 'Escape') this.select(null);
    else if (e.key === 'f') this.fitView();
  }

  removeSelected() {
    const [key] = this.selection;
    const [kind, name] = key.split(':');
    if (kind === 'lan') this.edit('remove_lan', { name });
    else this.edit('remove_decky', { decky: name });
  }

  /** The selected attacker's path: a numbered line through the deckies it reached, in order. */
  renderPath() {
    if (!this.pathLayer) return;
    if (!this.path) return replace(this.pathLayer);
    const points = [];
    const marks = [];
    this.path.hops.forEach((hop, i) => {
      const r = this.deckyRect(hop.decky);
      if (!r) return;
      const p = { x: r.x + r.w / 2, y: r.y + r.h / 2 };
      points.push(`${p.x},${p.y}`);
      marks.push(s('g', { class: 'hop', transform: `translate(${p.x} ${p.y})` }, s('circle', { r: 11 }), s('text', { 'text-anchor': 'middle', y: 4 }, String(i + 1)), s('title', {}, `${i + 1}. ${hop.service} on ${hop.decky} from ${hop.source}`)));
    });
    replace(this.pathLayer, points.length > 1 ? s('polyline', { class: 'attacker-path', points: points.join(' ') }) : null, marks);
  }
}

Object.assign(Editor.prototype, inspectorMethods, panelMethods);

/** Whether two summaries of a topology describe the same content (the API's ETag parts). */
function sameContent(a, b) {
  return a.version === b.version && a.generation === b.generation && a.observed === b.observed && a.status_changed_at === b.status_changed_at;
}
