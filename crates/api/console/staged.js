// Staged live edits: on an active topology every canvas edit becomes one mutation-queue
// op held here until the operator previews (mutations:plan) and applies it. Pure: the
// list is a value; `stagedDiff` says what the staged edits would add and remove, so the
// canvas can draw them as ghosts before they exist.

/** Topology statuses whose edits are staged (a pending one is edited in place). */
export const STAGED_STATUSES = new Set(['active', 'degraded']);

/** States an edit moves through: staged → pending → applying → applied | failed. */
export const DONE = new Set(['applied', 'failed', 'rejected']);

export function stage(list, op, payload) {
  const key = list.reduce((m, e) => Math.max(m, e.key), 0) + 1;
  return [...list, { key, op, payload, state: 'staged', plan: null, mutationId: null, reason: null, codes: [] }];
}

export function unstage(list, key) {
  return list.filter((e) => e.key !== key);
}

/** Edits not sent yet. */
export function unsent(list) {
  return list.filter((e) => e.state === 'staged');
}

function patch(list, key, change) {
  return list.map((e) => (e.key === key ? { ...e, ...change } : e));
}

/** Records a preview's outcome (`PlanResult`) on an edit. */
export function withPlan(list, key, plan) {
  return patch(list, key, { plan: { accepted: plan.accepted, codes: plan.codes || [], actions: plan.actions || [], issues: plan.issues || [] } });
}

/** Records that an edit was enqueued as mutation `id`. */
export function enqueued(list, key, id) {
  return patch(list, key, { mutationId: id, state: 'pending' });
}

/** Records that the server refused to enqueue an edit. */
export function rejected(list, key, reason, codes) {
  return patch(list, key, { state: 'rejected', reason, codes });
}

/** Brings sent edits up to date with the live queue (the reducer's `mutations`). */
export function follow(list, mutations) {
  return list.map((e) => {
    const m = e.mutationId !== null ? mutations[e.mutationId] : null;
    if (!m || (m.state === e.state && m.reason === e.reason)) return e;
    return { ...e, state: m.state, reason: m.reason ?? null, codes: m.codes || [] };
  });
}

/** Drops finished edits. */
export function clearDone(list) {
  return list.filter((e) => !DONE.has(e.state));
}

/** One line saying what an edit does. */
export function describe(edit) {
  const p = edit.payload || {};
  switch (edit.op) {
    case 'add_lan':
      return `add ${p.is_dmz ? 'DMZ ' : ''}LAN ${p.name}${p.subnet ? ` (${p.subnet})` : ''}`;
    case 'remove_lan':
      return `remove LAN ${p.name}`;
    case 'update_lan':
      return `change LAN ${p.name}`;
    case 'add_decky':
      return `add decky ${p.name} to ${p.lan}${p.archetype ? ` as ${p.archetype}` : ''}`;
    case 'remove_decky':
      return `remove decky ${p.decky}`;
    case 'attach_decky':
      return `attach ${p.decky} to ${p.lan}${p.forwards_l3 ? ' (routing)' : ''}`;
    case 'detach_decky':
      return `detach ${p.decky} from ${p.lan}`;
    case 'update_decky':
      return `change decky ${p.decky}${p.services ? `: services ${p.services.join(', ')}` : ''}`;
    default:
      return `${edit.op}`;
  }
}

/**
 * What the edits not yet applied would change in `model` ({lans, deckies} as the editor
 * holds them), in order: added and removed LANs and deckies, added and removed
 * memberships, changed deckies.
 */
export function stagedDiff(model, list) {
  const out = { lansAdded: [], lansRemoved: [], deckiesAdded: [], deckiesRemoved: [], edgesAdded: [], edgesRemoved: [], deckiesChanged: [] };
  const lans = new Set(model.lans.map((l) => l.name));
  const deckies = new Map(model.deckies.map((d) => [d.name, new Set(d.lans)]));
  for (const edit of list) {
    if (DONE.has(edit.state)) continue;
    const p = edit.payload || {};
    switch (edit.op) {
      case 'add_lan':
        if (!lans.has(p.name)) {
          lans.add(p.name);
          out.lansAdded.push({ name: p.name, is_dmz: !!p.is_dmz, x: p.x, y: p.y });
        }
        break;
      case 'remove_lan':
        if (lans.delete(p.name)) out.lansRemoved.push(p.name);
        break;
      case 'add_decky':
        if (!deckies.has(p.name)) {
          deckies.set(p.name, new Set([p.lan]));
          out.deckiesAdded.push({ name: p.name, home_lan: p.lan, lans: [p.lan], archetype: p.archetype ?? null, services: p.services || [], x: p.x, y: p.y });
        }
        break;
      case 'remove_decky':
        if (deckies.delete(p.decky)) out.deckiesRemoved.push(p.decky);
        break;
      case 'attach_decky':
        if (deckies.has(p.decky) && !deckies.get(p.decky).has(p.lan)) {
          deckies.get(p.decky).add(p.lan);
          out.edgesAdded.push({ decky: p.decky, lan: p.lan });
        }
        break;
      case 'detach_decky':
        if (deckies.get(p.decky)?.delete(p.lan)) out.edgesRemoved.push({ decky: p.decky, lan: p.lan });
        break;
      case 'update_decky':
        if (!out.deckiesChanged.includes(p.decky)) out.deckiesChanged.push(p.decky);
        break;
      default:
        break;
    }
  }
  return out;
}
