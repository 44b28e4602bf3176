// Attackers: the one-line summary of a decoy event for the live feed, and the attacker
// page (path, credentials and commands per hop). Every field here is attacker-written and
// reaches the page only as text.

import * as api from './api.js';
import { h, replace, clip } from './dom.js';

/** What a decoy event says, in one line of plain text. */
export function eventSummary(event) {
  const p = event.payload || {};
  const parts = [];
  if (p.principal) parts.push(`user ${p.principal}`);
  if (p.secret?.value) parts.push(`${p.secret.kind === 'password' ? 'password' : p.secret.kind} ${p.secret.value}`);
  if (p.command) parts.push(`$ ${p.command}`);
  const d = p.details && typeof p.details === 'object' ? p.details : {};
  for (const key of ['method', 'path', 'user_agent', 'file', 'reason']) if (d[key] !== undefined) parts.push(`${key} ${typeof d[key] === 'string' ? d[key] : JSON.stringify(d[key])}`);
  return parts.join(' · ');
}

export async function openAttacker(root, topology, id, ctx) {
  const detail = await api.get(`/api/v1/attackers/${encodeURIComponent(id)}?topology=${encodeURIComponent(topology)}`);
  const a = detail.summary ?? detail;
  const creds = (list) =>
    list.length
      ? h('table', { class: 'creds' }, h('tr', {}, h('th', {}, 'user'), h('th', {}, 'secret'), h('th', {}, 'accepted')), list.map((c) => h('tr', {}, h('td', { class: 'attacker-text' }, clip(c.user)), h('td', { class: 'attacker-text' }, clip(c.secret)), h('td', {}, c.accepted ? 'yes' : 'no'))))
      : h('p', { class: 'hint' }, 'none');
  replace(
    root,
    h('header', { class: 'editor-head' },
      h('button', { onclick: () => ctx.navigate(`#/t/${encodeURIComponent(topology)}`) }, `← ${topology}`),
      h('h1', {}, 'Attacker ', h('span', { class: 'attacker-text', id: 'attacker-id' }, a.id))),
    h('section', { class: 'page' },
      h('dl', {},
        h('dt', {}, 'First seen'), h('dd', {}, a.first_seen),
        h('dt', {}, 'Last seen'), h('dd', {}, a.last_seen),
        h('dt', {}, 'Deckies'), h('dd', {}, a.deckies.join(', ')),
        h('dt', {}, 'LANs'), h('dd', {}, a.lans.join(', ')),
        h('dt', {}, 'Deepest hop'), h('dd', {}, String(a.deepest_hop))),
      h('h2', {}, 'Credentials'),
      creds(a.credentials),
      h('h2', {}, 'Path'),
      h('ol', { class: 'path', id: 'attacker-path' },
        detail.path.map((hop) =>
          h('li', { class: 'hop-detail' },
            h('h3', {}, `${hop.service} on ${hop.decky}`, hop.lan ? ` (${hop.lan})` : '', ` · depth ${hop.depth}`),
            h('p', {}, 'from ', h('span', { class: 'attacker-text' }, hop.source), hop.via ? ` via session ${hop.via}` : ' (from outside)', ` · ${hop.first_seen} → ${hop.last_seen}`),
            creds(hop.credentials),
            hop.commands.length ? h('pre', { class: 'commands attacker-text' }, hop.commands.map((c) => `$ ${clip(c, 1000)}`).join('\n')) : null,
          ))),
    ),
  );
}
