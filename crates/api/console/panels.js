// The editor's bottom panels: staged live edits (preview, apply, follow), the live feed of
// decoy events with its filters, and the attackers with their paths. Methods mixed into the
// editor; every attacker-written field is shown as text.

import * as api from './api.js';
import { h, replace, clip } from './dom.js';
import * as staged from './staged.js';
import { filterFeed } from './state.js';
import { eventSummary } from './attackers.js';


export const panelMethods = {
  renderBottom() {
    this.stagedPanel = h('div', { class: 'panel', id: 'staged' });
    this.feedPanel = h('div', { class: 'panel', id: 'feed' });
    this.attackerPanel = h('div', { class: 'panel', id: 'attackers' });
    replace(this.bottom, this.stagedPanel, this.feedPanel, this.attackerPanel);
    this.renderStaged();
    this.renderFeed();
    this.renderAttackers();
  },

  renderStaged() {
    if (!this.stagedPanel) return;
    const live = staged.STAGED_STATUSES.has(this.status);
    const unsent = staged.unsent(this.staged).length;
    const rows = this.staged.map((e) =>
      h(
        'li',
        { class: `staged-edit state-${e.state}`, dataset: { key: e.key } },
        h('span', { class: 'what' }, staged.describe(e)),
        h('span', { class: 'edit-state' }, e.state),
        e.plan ? h('span', { class: `plan ${e.plan.accepted ? 'ok' : 'refused'}`, title: e.plan.issues.map((i) => `${i.code}: ${i.message}`).join('\n') }, e.plan.accepted ? `✓ ${e.plan.actions.length} action(s): ${e.plan.actions.map(actionName).join(', ')}` : `✗ ${e.plan.codes.join(', ')}`) : null,
        e.codes?.length && !e.plan?.codes?.length ? h('span', { class: 'plan refused' }, `✗ ${e.codes.join(', ')}`) : null,
        e.reason ? h('span', { class: 'reason' }, e.reason) : null,
        e.state === 'staged' ? h('button', { class: 'small', onclick: () => { this.staged = staged.unstage(this.staged, e.key); this.renderCanvas(); this.renderStaged(); } }, 'Discard') : null,
      ),
    );
    replace(
      this.stagedPanel,
      h('h3', {}, live ? `Staged edits (${unsent})` : 'Edits'),
      live
        ? h('div', { class: 'row' },
            h('button', { id: 'preview', disabled: !unsent, onclick: () => this.preview() }, 'Preview'),
            h('button', { id: 'apply', disabled: !unsent, onclick: () => this.applyStaged() }, `Update (${unsent})`),
            h('button', { id: 'discard', disabled: !this.staged.length, onclick: () => { this.staged = []; this.renderCanvas(); this.renderStaged(); this.renderBanner(); } }, 'Discard all'),
            h('button', { onclick: () => { this.staged = staged.clearDone(this.staged); this.renderStaged(); this.renderBanner(); } }, 'Clear finished'))
        : h('p', { class: 'hint' }, this.status === 'pending' ? 'Pending: edits apply at once.' : `A ${this.status} topology cannot be edited.`),
      h('ul', { class: 'staged-list' }, rows),
    );
  },

  renderFeed() {
    if (!this.feedPanel) return;
    if (!this.feedList) {
      const filter = (key, label) => h('input', { placeholder: label, value: this.feedFilter[key] || '', dataset: { filter: key }, oninput: (e) => { this.feedFilter[key] = e.target.value.trim(); this.renderFeedRows(); } });
      this.feedList = h('tbody', { id: 'feed-rows' });
      this.feedHead = h('div', { class: 'row filters' }, filter('decky', 'decky'), filter('service', 'service'), filter('kind', 'type'), filter('source', 'source'));
    }
    if (!this.feedPanel.contains(this.feedList)) {
      replace(this.feedPanel, h('h3', {}, 'Live events'), this.feedHead, h('table', { class: 'feed' }, h('thead', {}, h('tr', {}, ['time', 'decky', 'service', 'type', 'source', 'what'].map((c) => h('th', {}, c)))), this.feedList));
    }
    this.renderFeedRows();
  },

  renderFeedRows() {
    const rows = filterFeed(this.live.feed, this.feedFilter).slice(-100).reverse();
    replace(this.feedList, rows.map((e) => h('tr', { class: 'feed-row' }, h('td', {}, (e.ts || '').slice(11, 19)), h('td', {}, e.decky), h('td', {}, e.service), h('td', {}, e.kind), h('td', {}, e.source_ip ?? ''), h('td', { class: 'attacker-text' }, clip(eventSummary(e), 300)))));
  },

  async refreshAttackers() {
    try {
      const list = await api.get(`/api/v1/attackers?topology=${encodeURIComponent(this.name)}`);
      this.attackers = list.data ?? list.attackers ?? [];
    } catch {
      this.attackers = [];
    }
    this.renderAttackers();
  },

  renderAttackers() {
    if (!this.attackerPanel) return;
    const rows = (this.attackers || []).map((a) =>
      h('li', { class: 'attacker' },
        h('span', {}, a.id), ` · ${a.hops} hop(s), depth ${a.deepest_hop} · ${a.deckies.length} decky(ies) `,
        h('button', { class: 'small show-path', dataset: { attacker: a.id }, onclick: () => this.showPath(a.id) }, this.path?.id === a.id ? 'Hide path' : 'Show path'),
        h('a', { href: `#/t/${encodeURIComponent(this.name)}/attackers/${encodeURIComponent(a.id)}` }, 'Details')),
    );
    replace(this.attackerPanel, h('h3', {}, `Attackers (${rows.length})`), rows.length ? h('ul', {}, rows) : h('p', { class: 'hint' }, 'No attacker yet.'));
  },

  async showPath(id) {
    if (this.path?.id === id) {
      this.path = null;
    } else {
      try {
        const detail = await api.get(`/api/v1/attackers/${encodeURIComponent(id)}?topology=${encodeURIComponent(this.name)}`);
        this.path = { id, hops: detail.path };
      } catch (err) {
        return this.showError(err);
      }
    }
    this.renderPath();
    this.renderAttackers();
  },
};

function actionName(action) {
  if (action && typeof action === 'object') return action.action || action.kind || Object.keys(action)[0] || '?';
  return String(action);
}
