// Deterministic layout (no physics): LANs in columns by their distance from the DMZ
// through bridge deckies, each LAN sized to hold its deckies in a grid; deckies are placed
// relative to their home LAN. Positions already stored are kept; only missing ones are
// computed, so the same topology always draws the same way in every browser.

import { intersects } from './geometry.js';

export const CARD = { w: 136, h: 46 };
export const GAP = 14;
export const PAD = 16;
export const HEADER = 34;
export const LAN_MIN = { w: 300, h: 150 };
export const MARGIN = 110;

/** Grid columns for a LAN of n deckies. */
export function columnsFor(n) {
  return Math.max(2, Math.ceil(Math.sqrt(Math.max(n, 1) * 1.6)));
}

/** Position (relative to its LAN) of grid slot i. */
export function slot(i, cols) {
  return { x: PAD + (i % cols) * (CARD.w + GAP), y: HEADER + Math.floor(i / cols) * (CARD.h + GAP) };
}

/** LAN name → its distance from the DMZ over LANs that share a decky (BFS, name order). */
export function depths(model) {
  const neighbours = new Map(model.lans.map((l) => [l.name, new Set()]));
  for (const d of model.deckies) {
    for (const a of d.lans) for (const b of d.lans) if (a !== b) neighbours.get(a)?.add(b);
  }
  const depth = new Map();
  const roots = model.lans.filter((l) => l.is_dmz).map((l) => l.name).sort();
  let frontier = roots;
  for (const r of roots) depth.set(r, 0);
  let level = 0;
  while (frontier.length) {
    level += 1;
    const next = [];
    for (const name of frontier) {
      for (const n of [...(neighbours.get(name) || [])].sort()) {
        if (!depth.has(n)) {
          depth.set(n, level);
          next.push(n);
        }
      }
    }
    frontier = next;
  }
  // LANs not reachable from the DMZ go one column further right.
  const last = Math.max(-1, ...depth.values()) + 1;
  for (const l of model.lans) if (!depth.has(l.name)) depth.set(l.name, last);
  return depth;
}

/**
 * Positions for a model `{lans: [{name, is_dmz, x, y}], deckies: [{name, home_lan, lans, x, y}]}`.
 * Returns `{lans: Map name → {x, y, w, h}, deckies: Map name → {x, y}}` (deckies relative to
 * their home LAN). With `force`, stored positions are ignored (the auto-layout button).
 */
export function layout(model, { force = false } = {}) {
  const byLan = new Map(model.lans.map((l) => [l.name, []]));
  for (const d of model.deckies) byLan.get(d.home_lan)?.push(d);
  const deckies = new Map();
  const sizes = new Map();
  for (const [lan, members] of byLan) {
    // Bridges first (the top-left slots, nearest the LANs they link), then by name.
    members.sort((a, b) => (b.lans.length > 1) - (a.lans.length > 1) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const cols = columnsFor(members.length);
    const placed = force ? [] : members.filter((d) => Number.isFinite(d.x) && Number.isFinite(d.y));
    const taken = placed.map((d) => ({ x: d.x, y: d.y, w: CARD.w, h: CARD.h }));
    for (const d of placed) deckies.set(d.name, { x: d.x, y: d.y });
    let i = 0;
    for (const d of members) {
      if (deckies.has(d.name)) continue;
      let p = slot(i, cols);
      while (taken.some((t) => intersects(t, { ...p, w: CARD.w, h: CARD.h }))) p = slot(++i, cols);
      i += 1;
      deckies.set(d.name, p);
      taken.push({ ...p, w: CARD.w, h: CARD.h });
    }
    sizes.set(lan, lanSize(members.map((d) => deckies.get(d.name))));
  }
  const lans = new Map();
  const unplaced = model.lans.filter((l) => force || !(Number.isFinite(l.x) && Number.isFinite(l.y)));
  for (const l of model.lans) if (!unplaced.includes(l)) lans.set(l.name, { x: l.x, y: l.y, ...sizes.get(l.name) });
  if (unplaced.length) {
    // Columns by depth; placed LANs (if any) stay, and the new columns start below them.
    let top = 40;
    for (const r of lans.values()) top = Math.max(top, r.y + r.h + MARGIN);
    if (lans.size === 0) top = 40;
    const depth = depths(model);
    const columns = new Map();
    for (const l of [...unplaced].sort((a, b) => depth.get(a.name) - depth.get(b.name) || (a.name < b.name ? -1 : 1))) {
      const c = depth.get(l.name);
      if (!columns.has(c)) columns.set(c, []);
      columns.get(c).push(l);
    }
    let x = 40;
    for (const c of [...columns.keys()].sort((a, b) => a - b)) {
      let y = top;
      let widest = 0;
      for (const l of columns.get(c)) {
        const size = sizes.get(l.name);
        lans.set(l.name, { x, y, ...size });
        y += size.h + MARGIN / 2;
        widest = Math.max(widest, size.w);
      }
      x += widest + MARGIN;
    }
  }
  return { lans, deckies };
}

/** The rect of a LAN holding its deckies at `positions` (relative), at least LAN_MIN. */
export function lanSize(positions) {
  let w = LAN_MIN.w;
  let h = LAN_MIN.h;
  for (const p of positions) {
    w = Math.max(w, p.x + CARD.w + PAD);
    h = Math.max(h, p.y + CARD.h + PAD);
  }
  return { w, h };
}
