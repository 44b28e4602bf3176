// The editor's inspector: every property of the selected LAN or decky, attach/detach,
// services with configuration forms built from each service's schema, validation issues.
// Methods mixed into the editor (they use its state and its `edit`).

import * as api from './api.js';
import { h, replace } from './dom.js';

export const inspectorMethods = {
  renderInspector() {
    if (!this.inspector) return;
    const [key] = this.selection;
    if (!key || this.selection.size > 1) {
      replace(this.inspector, h('h2', {}, this.selection.size > 1 ? `${this.selection.size} selected` : 'Topology'), this.topologyFacts());
      return;
    }
    const [kind, name] = key.split(':');
    replace(this.inspector, kind === 'lan' ? this.lanInspector(name) : this.deckyInspector(name));
  },

  topologyFacts() {
    const t = this.summary;
    return h(
      'div',
      {},
      h('dl', {}, fact('Name', t.name), fact('Status', this.status), fact('Version', this.live.version ?? t.version), fact('Mode', t.mode), fact('Created', t.created_at), fact('Lures', t.config_snapshot?.lures ?? 'sparse')),
      this.issueList(this.issues),
      h('p', { class: 'hint' }, 'Drag items from the palette. Drag a card to move it (shift-click or shift-drag on the background to select several), drag its port (●) to another LAN to bridge, Delete removes the selection, Escape clears it, f fits the view.'),
    );
  },

  issueList(issues) {
    if (!issues.length) return null;
    return h('ul', { class: 'issues' }, issues.map((i) => h('li', { class: i.severity }, h('code', {}, i.code), ' ', i.message)));
  },

  lanInspector(name) {
    const lan = this.model.lans.find((l) => l.name === name);
    if (!lan) return h('p', {}, 'Staged LAN: ', name);
    const members = this.model.deckies.filter((d) => d.lans.includes(name));
    return h(
      'div',
      { id: 'lan-inspector' },
      h('h2', {}, lan.is_dmz ? `DMZ ${name}` : `LAN ${name}`),
      h('dl', {}, fact('Subnet', lan.subnet), fact('DMZ', lan.is_dmz ? 'yes' : 'no'), fact('Attachment', attachmentText(lan.attachment)), fact('Position', posText(this.positions.lans.get(name))), fact('Deckies', members.length)),
      this.issueList(this.issuesFor('lan', name)),
      h('h3', {}, 'Members'),
      h('ul', {}, members.map((d) => h('li', {}, h('a', { href: '#', onclick: (e) => { e.preventDefault(); this.select(`decky:${d.name}`); } }, d.name), d.home_lan === name ? '' : ' (bridge)'))),
      this.ctx.confirmButton('Remove LAN', () => this.edit('remove_lan', { name }), { class: 'danger' }),
    );
  },

  deckyInspector(name) {
    const d = this.findDecky(name);
    if (!d) return h('p', {}, 'Staged decky: ', name);
    const live = this.live.deckies[name] || {};
    const otherLans = this.model.lans.filter((l) => !d.lans.includes(l.name));
    const lanSelect = h('select', { id: 'attach-lan' }, otherLans.map((l) => h('option', { value: l.name }, l.name)));
    const archetype = h('select', { id: 'archetype' }, h('option', { value: '' }, '(none)'), this.archetypes.map((a) => h('option', { value: a.slug, selected: a.slug === d.archetype }, a.display_name)));
    const addService = h('select', { id: 'add-service' }, this.services.filter((sv) => !d.services.includes(sv.name)).map((sv) => h('option', { value: sv.name }, sv.name)));
    return h(
      'div',
      { id: 'decky-inspector' },
      h('h2', {}, d.name, d.is_gateway ? h('span', { class: 'pill gateway' }, 'gateway') : null, d.forwards_l3 ? h('span', { class: 'pill router' }, 'router') : null),
      h(
        'dl',
        {},
        fact('Hostname', d.hostname),
        fact('State', live.state ?? d.state),
        fact('Last error', live.last_error ?? d.last_error ?? '—'),
        fact('Home LAN', d.home_lan),
        fact('Addresses', Object.entries(d.ips).map(([lan, ip]) => `${lan}: ${ip}`).join(', ')),
        fact('Position', posText(this.positions.deckies.get(name))),
      ),
      this.issueList(this.issuesFor('decky', name)),
      h('label', {}, 'Archetype ', archetype, h('button', { onclick: () => this.edit('update_decky', { decky: name, patch: { archetype: archetype.value || null } }) }, 'Set')),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', id: 'forwards-l3', checked: d.forwards_l3, onchange: (e) => this.edit('update_decky', { decky: name, patch: { forwards_l3: e.target.checked }, force: true }) }), ' Routes between its LANs (forwards_l3)'),
      h('h3', {}, 'LANs'),
      h('ul', {}, d.lans.map((lan) => h('li', {}, lan, lan === d.home_lan ? ' (home)' : h('button', { class: 'small', onclick: () => this.edit('detach_decky', { decky: name, lan }) }, 'Detach')))),
      otherLans.length ? h('div', { class: 'row' }, lanSelect, h('button', { id: 'attach', onclick: () => this.edit('attach_decky', { decky: name, lan: lanSelect.value }) }, 'Attach')) : null,
      h('h3', {}, 'Services'),
      h('ul', { class: 'services' }, d.services.map((sv) => h('li', {}, sv, ' ', h('button', { class: 'small configure', dataset: { service: sv }, onclick: () => this.configure(d, sv) }, 'Configure'), h('button', { class: 'small', onclick: () => this.edit('update_decky', { decky: name, services: d.services.filter((x) => x !== sv) }) }, 'Remove')))),
      h('div', { class: 'row' }, addService, h('button', { onclick: () => addService.value && this.edit('update_decky', { decky: name, services: [...d.services, addService.value] }) }, 'Add service')),
      h('div', { id: 'service-form' }),
      this.ctx.confirmButton('Remove decky', () => this.edit('remove_decky', { decky: name }), { class: 'danger' }),
    );
  },

  /** A configuration form built from the service's schema. */
  async configure(d, service) {
    const holder = this.inspector.querySelector('#service-form');
    let schema;
    try {
      schema = await api.get(`/api/v1/topologies/services/${encodeURIComponent(service)}/schema`);
    } catch (err) {
      return this.showError(err);
    }
    const current = d.service_config?.[service] || {};
    const fields = schema.fields.map((f) => ({ f, ...fieldInput(f, current[f.key] ?? f.default) }));
    const save = () => {
      const config = {};
      for (const { f, read } of fields) {
        const value = read();
        if (value !== null && value !== '') config[f.key] = value;
      }
      this.edit('update_decky', { decky: d.name, patch: { service_config: { ...d.service_config, [service]: config } } });
    };
    const rows = fields.map(({ f, element }) => h('label', { title: f.help, dataset: { key: f.key } }, f.label, ' ', element));
    replace(holder, h('form', { class: 'service-form', onsubmit: (e) => { e.preventDefault(); save(); } }, h('h4', {}, `${service} (${schema.ports.join(', ')})`), h('p', { class: 'hint' }, schema.description), rows.length ? rows : h('p', {}, 'No settings.'), h('button', { type: 'submit' }, 'Save configuration')));
  },
};

function fact(label, value) {
  return [h('dt', {}, label), h('dd', {}, value === undefined || value === null ? '—' : String(value))];
}

/** How a LAN meets the host's network: a bridge, or macvlan/ipvlan on an interface and range. */
function attachmentText(a) {
  if (!a || a.mode === 'bridge') return 'bridge (gateway ports published on the host)';
  return `${a.mode} on ${a.interface}, range ${a.ip_range}, router ${a.gateway}`;
}

function posText(p) {
  return p ? `${Math.round(p.x)}, ${Math.round(p.y)}` : '—';
}

/** The input for one schema field (by its `type`) and how to read its value back. */
function fieldInput(f, value) {
  const choices = f.enum || [];
  switch (f.type) {
    case 'bool': {
      const element = h('input', { type: 'checkbox', checked: !!value });
      return { element, read: () => element.checked };
    }
    case 'int': {
      const element = h('input', { type: 'number', step: 1, value: value ?? '', placeholder: f.placeholder });
      return { element, read: () => (element.value === '' ? null : Number(element.value)) };
    }
    case 'textarea': {
      const element = h('textarea', { rows: 4, placeholder: f.placeholder }, value ?? '');
      return { element, read: () => element.value };
    }
    case 'enum': {
      const element = h('select', {}, choices.map((c) => h('option', { value: c, selected: c === value }, c)));
      return { element, read: () => element.value };
    }
    case 'multi_enum': {
      const chosen = new Set(Array.isArray(value) ? value : []);
      const element = h('select', { multiple: true, size: Math.min(6, choices.length) }, choices.map((c) => h('option', { value: c, selected: chosen.has(c) }, c)));
      return { element, read: () => [...element.selectedOptions].map((o) => o.value) };
    }
    default: {
      const element = h('input', { type: f.secret ? 'password' : 'text', value: value ?? '', placeholder: f.placeholder, autocomplete: 'off' });
      return { element, read: () => element.value };
    }
  }
}
