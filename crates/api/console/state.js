// The live state of one topology, folded from its event stream by a pure reducer:
// status, version, decky states, the mutation queue and the feed of decoy events.
// The editor renders from this; node tests drive it with recorded frames.

/** Decoy events kept for the feed (older ones drop off; the API has them all). */
export const FEED_LIMIT = 500;

const CONTROL = new Set([
  'snapshot', 'status', 'created', 'deleted', 'design_edited', 'layout_saved', 'decky.state',
  'mutation.enqueued', 'mutation.applying', 'mutation.applied', 'mutation.failed', 'error', 'message',
]);

export function initial() {
  return {
    status: null,
    statusAt: null,
    version: null,
    lastEventId: null,
    deckies: {},
    mutations: {},
    feed: [],
    designChanges: 0,
    deleted: false,
    error: null,
  };
}

/**
 * The state after reading a topology's summary (a GET of the topology): its status only if
 * it is not older than the last status the stream gave (a GET answered before a status
 * event must not undo it), its version only upwards (versions only grow).
 */
export function withSummary(state, summary) {
  const newer = !state.statusAt || Date.parse(summary.status_changed_at) >= Date.parse(state.statusAt);
  return {
    ...state,
    status: newer ? summary.status : state.status,
    statusAt: newer ? summary.status_changed_at : state.statusAt,
    version: Math.max(state.version ?? summary.version, summary.version),
  };
}

/** Mutations still pending or applying, oldest first. */
export function openMutations(state) {
  return Object.values(state.mutations)
    .filter((m) => m.state === 'pending' || m.state === 'applying')
    .sort((a, b) => a.id - b.id);
}

function withMutation(state, id, change) {
  if (!Number.isInteger(id)) return state;
  const before = state.mutations[id] || { id, op: change.op, state: 'pending', reason: null, codes: [] };
  return { ...state, mutations: { ...state.mutations, [id]: { ...before, ...change, op: change.op ?? before.op } } };
}

/** The state after `frame` ({event, id, data}); unknown frames leave it unchanged. */
export function reduce(state, frame) {
  const data = frame.data && typeof frame.data === 'object' ? frame.data : {};
  const payload = data.payload && typeof data.payload === 'object' ? data.payload : {};
  let next = frame.id !== null && frame.id !== undefined ? { ...state, lastEventId: Number(frame.id) } : state;
  switch (frame.event) {
    case 'snapshot': {
      const mutations = {};
      for (const m of data.in_flight || []) mutations[m.id] = { id: m.id, op: m.op, state: m.state, reason: m.reason, codes: m.codes || [] };
      return {
        ...next,
        status: data.status ?? next.status,
        statusAt: data.topology?.status_changed_at ?? next.statusAt,
        version: data.topology?.version ?? next.version,
        lastEventId: data.last_event_id ?? next.lastEventId,
        mutations,
      };
    }
    case 'status':
      return { ...next, status: payload.to ?? payload.state ?? next.status, statusAt: data.ts ?? next.statusAt };
    case 'mutation.enqueued':
      return {
        ...withMutation(next, payload.mutation_id, { op: payload.op, state: 'pending' }),
        version: payload.version ?? next.version,
      };
    case 'mutation.applying':
      return withMutation(next, payload.mutation_id, { op: payload.op, state: 'applying' });
    case 'mutation.applied':
      return {
        ...withMutation(next, payload.mutation_id, { op: payload.op, state: 'applied' }),
        designChanges: next.designChanges + 1,
      };
    case 'mutation.failed':
      return withMutation(next, payload.mutation_id, {
        op: payload.op,
        state: 'failed',
        reason: payload.reason ?? null,
        codes: payload.codes || [],
      });
    case 'decky.state': {
      const name = payload.decky ?? data.decky;
      if (!name) return next;
      return { ...next, deckies: { ...next.deckies, [name]: { state: payload.state, last_error: payload.last_error ?? null } } };
    }
    case 'design_edited':
      return { ...next, version: payload.version ?? next.version, designChanges: next.designChanges + 1 };
    case 'layout_saved':
      return { ...next, designChanges: next.designChanges + 1 };
    case 'deleted':
      return { ...next, deleted: true };
    case 'error':
      return { ...next, error: data.detail || data.error || 'stream error' };
    default:
      break;
  }
  if (CONTROL.has(frame.event) || !data.service) return next;
  const event = {
    id: data.id,
    ts: data.ts,
    kind: data.kind,
    decky: data.decky,
    service: data.service,
    source_ip: data.source_ip,
    payload,
  };
  const feed = next.feed.length >= FEED_LIMIT ? next.feed.slice(next.feed.length - FEED_LIMIT + 1) : next.feed.slice();
  feed.push(event);
  return { ...next, feed };
}

/** The feed events matching every non-empty filter field. */
export function filterFeed(feed, filter) {
  const want = (field, value) => !filter[field] || String(value ?? '').includes(filter[field]);
  return feed.filter((e) => want('decky', e.decky) && want('service', e.service) && want('kind', e.kind) && want('source', e.source_ip));
}
