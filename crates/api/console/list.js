// The topology list: status, version, counts and running deckies per topology; deploy,
// teardown and delete (a second click confirms); create blank or generated (every
// generator parameter), import and export a document.

import * as api from './api.js';
import { h, replace } from './dom.js';
import { withoutAddresses } from './model.js';

const LIVE = new Set(['active', 'degraded', 'deploying']);

export async function openList(root, ctx) {
  const page = await api.get('/api/v1/topologies?limit=500');
  const body = h('tbody', { id: 'topology-rows' });
  replace(
    root,
    h('header', { class: 'editor-head' }, h('h1', {}, 'Topologies'), h('span', { class: 'meta' }, `${page.total} in all`), h('span', { class: 'spacer' }), h('button', { id: 'refresh', onclick: () => ctx.navigate('#/', true) }, 'Refresh'), h('button', { onclick: () => ctx.signOut() }, 'Sign out')),
    h('section', { class: 'page' },
      h('table', { class: 'topologies' }, h('thead', {}, h('tr', {}, ['name', 'status', 'version', 'LANs', 'deckies running', 'created', ''].map((c) => h('th', {}, c)))), body),
      createForms(ctx)),
  );
  for (const t of page.data) body.append(row(t, ctx));
  // Counts come from each topology's body (served from the API's cache), a few at a time.
  const queue = [...page.data];
  const worker = async () => {
    for (let t = queue.shift(); t; t = queue.shift()) {
      try {
        const detail = await api.get(api.topo(t.name));
        const cells = body.querySelector(`tr[data-id="${t.id}"]`);
        if (!cells) continue;
        const running = detail.deckies.filter((d) => d.state === 'running').length;
        cells.querySelector('.lans').textContent = String(detail.lans.length);
        cells.querySelector('.deckies').textContent = `${running}/${detail.deckies.length}`;
      } catch {
        // The row keeps its placeholder.
      }
    }
  };
  await Promise.all([worker(), worker(), worker()]);
}

function row(t, ctx) {
  const act = async (label, fn) => {
    try {
      await fn();
      ctx.toast(`${t.name}: ${label} done`);
    } catch (err) {
      ctx.toast(`${t.name}: ${err.message}`, 'error');
    }
    ctx.navigate('#/', true);
  };
  return h('tr', { dataset: { id: t.id, name: t.name } },
    h('td', {}, h('a', { href: `#/t/${encodeURIComponent(t.name)}`, class: 'open' }, t.name)),
    h('td', {}, h('span', { class: `pill status-${t.status}` }, t.status)),
    h('td', {}, String(t.version)),
    h('td', { class: 'lans' }, '…'),
    h('td', { class: 'deckies' }, '…'),
    h('td', {}, t.created_at.slice(0, 19).replace('T', ' ')),
    h('td', { class: 'actions' },
      LIVE.has(t.status)
        ? ctx.confirmButton('Teardown', () => act('teardown', () => api.post(api.topo(t.name, '/teardown'))))
        : ctx.confirmButton('Deploy', () => act('deploy', () => api.post(api.topo(t.name, '/deploy'))), { class: 'deploy' }),
      h('button', { class: 'export', onclick: async () => {
        try {
          ctx.download(`${t.name}.json`, JSON.stringify(await api.get(api.topo(t.name, '/export')), null, 2));
        } catch (err) {
          ctx.toast(`${t.name}: ${err.message}`, 'error');
        }
      } }, 'Export'),
      ctx.confirmButton('Delete', () => act('delete', () => api.del(api.topo(t.name))), { class: 'danger' })));
}

function createForms(ctx) {
  const field = (name, label, attrs = {}) => h('label', {}, label, ' ', h('input', { name, ...attrs }));
  const blank = h('form', { id: 'create-blank', class: 'card-form', onsubmit: async (e) => {
    e.preventDefault();
    const name = new FormData(e.target).get('name');
    try {
      await api.post('/api/v1/topologies/blank', { name });
      ctx.navigate(`#/t/${encodeURIComponent(name)}`);
    } catch (err) {
      ctx.toast(err.message, 'error');
    }
  } }, h('h2', {}, 'New blank topology'), field('name', 'Name', { required: true, pattern: '[a-z][a-z0-9\\-]{0,62}' }), h('button', { type: 'submit' }, 'Create'));

  const numeric = (name, label, min, max, step, value) => field(name, label, { type: 'number', min, max, step, value });
  const generated = h('form', { id: 'create-generated', class: 'card-form', onsubmit: async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    const body = { name: form.get('name') };
    for (const key of ['depth', 'branching_factor', 'deckies_per_lan_min', 'deckies_per_lan_max', 'seed']) if (form.get(key) !== '') body[key] = Number(form.get(key));
    for (const key of ['bridge_forward_probability', 'cross_edge_probability']) if (form.get(key) !== '') body[key] = Number(form.get(key));
    for (const key of ['subnet_base', 'target_host_uuid']) if (form.get(key)) body[key] = form.get(key);
    body.mode = form.get('mode');
    body.lures = form.get('lures');
    body.gateway = form.get('gateway') === 'on';
    const explicit = String(form.get('services_explicit') || '').split(/[\s,]+/).filter(Boolean);
    if (explicit.length) body.services_explicit = explicit;
    else body.randomize_services = form.get('randomize_services') === 'on';
    try {
      await api.post('/api/v1/topologies', body);
      ctx.navigate(`#/t/${encodeURIComponent(body.name)}`);
    } catch (err) {
      ctx.toast(`${err.message}${err.codes.length ? ` [${err.codes.join(', ')}]` : ''}`, 'error');
    }
  } },
  h('h2', {}, 'Generate a maze'),
  field('name', 'Name', { required: true, pattern: '[a-z][a-z0-9\\-]{0,62}' }),
  numeric('depth', 'Depth', 1, 16, 1, 3),
  numeric('branching_factor', 'Branching', 1, 8, 1, 2),
  numeric('deckies_per_lan_min', 'Deckies per LAN, min', 0, 32, 1, 1),
  numeric('deckies_per_lan_max', 'max', 1, 32, 1, 3),
  numeric('bridge_forward_probability', 'Bridges route (p)', 0, 1, 0.05, 1),
  numeric('cross_edge_probability', 'Cross edges (p)', 0, 1, 0.05, 0),
  numeric('seed', 'Seed', 0, undefined, 1, ''),
  field('subnet_base', 'Subnet base', { placeholder: '172.16.0.0/12' }),
  h('label', {}, 'Lures ', h('select', { name: 'lures' }, ['sparse', 'rich', 'none'].map((v) => h('option', { value: v }, v)))),
  h('label', {}, 'Mode ', h('select', { name: 'mode' }, ['unihost', 'agent'].map((v) => h('option', { value: v }, v)))),
  field('target_host_uuid', 'Agent host (agent mode)'),
  h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'gateway', checked: true }), ' DMZ gateway publishes its ports'),
  h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'randomize_services', checked: true }), ' Random services'),
  field('services_explicit', 'or these services', { placeholder: 'ssh http' }),
  h('button', { type: 'submit' }, 'Generate'));

  const file = h('input', { type: 'file', accept: 'application/json,.json', id: 'import-file' });
  const rename = h('input', { name: 'import-name', placeholder: 'the document\'s name', pattern: '[a-z][a-z0-9\\-]{0,62}' });
  const fresh = h('input', { type: 'checkbox', name: 'fresh-addresses' });
  const imported = h('form', { id: 'import', class: 'card-form', onsubmit: async (e) => {
    e.preventDefault();
    const chosen = file.files[0];
    if (!chosen) return ctx.toast('Choose a document first', 'error');
    if (chosen.size > 4 << 20) return ctx.toast('The document is larger than 4 MiB', 'error');
    let doc;
    try {
      doc = JSON.parse(await chosen.text());
    } catch {
      return ctx.toast('The file is not JSON', 'error');
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return ctx.toast('The document is not a JSON object', 'error');
    if (rename.value) doc.name = rename.value;
    if (fresh.checked) withoutAddresses(doc);
    try {
      const created = await api.post('/api/v1/topologies/import', doc);
      ctx.navigate(`#/t/${encodeURIComponent(created.name)}`);
    } catch (err) {
      ctx.toast(`${err.message}${err.codes.length ? ` [${err.codes.join(', ')}]` : ''}`, 'error');
    }
  } },
  h('h2', {}, 'Import a document'),
  file,
  h('label', {}, 'As ', rename),
  h('label', { class: 'check', title: 'Drop the subnets and addresses of the document; the server allocates free ones (to import a copy beside the original)' }, fresh, ' New subnets and addresses'),
  h('button', { type: 'submit' }, 'Import'));
  return h('div', { class: 'create' }, blank, generated, imported);
}
