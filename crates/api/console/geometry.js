// Pure geometry of the canvas: the view transform (screen = world × k + offset), zoom
// about the cursor, fitting bounds, hit tests and where a line meets a box. No DOM.

export const MIN_ZOOM = 0.05;
export const MAX_ZOOM = 4;

/** The identity view. */
export function identity() {
  return { x: 0, y: 0, k: 1 };
}

export function toWorld(view, sx, sy) {
  return { x: (sx - view.x) / view.k, y: (sy - view.y) / view.k };
}

export function toScreen(view, wx, wy) {
  return { x: wx * view.k + view.x, y: wy * view.k + view.y };
}

export function clampZoom(k) {
  return Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, k));
}

/** The view zoomed by `factor` keeping the world point under (sx, sy) where it is. */
export function zoomAt(view, sx, sy, factor) {
  const k = clampZoom(view.k * factor);
  const world = toWorld(view, sx, sy);
  return { k, x: sx - world.x * k, y: sy - world.y * k };
}

/** The view panned by a screen-space delta. */
export function pan(view, dx, dy) {
  return { ...view, x: view.x + dx, y: view.y + dy };
}

/** The smallest box holding every rect ({x, y, w, h}); null for none. */
export function boundsOf(rects) {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const r of rects) {
    minX = Math.min(minX, r.x);
    minY = Math.min(minY, r.y);
    maxX = Math.max(maxX, r.x + r.w);
    maxY = Math.max(maxY, r.y + r.h);
  }
  return minX === Infinity ? null : { x: minX, y: minY, w: maxX - minX, h: maxY - minY };
}

/** The view that shows `bounds` whole and centred in a width × height screen. */
export function fit(bounds, width, height, margin = 40) {
  if (!bounds || width <= 0 || height <= 0) return identity();
  const k = clampZoom(Math.min((width - 2 * margin) / Math.max(bounds.w, 1), (height - 2 * margin) / Math.max(bounds.h, 1), 1.5));
  return { k, x: (width - bounds.w * k) / 2 - bounds.x * k, y: (height - bounds.h * k) / 2 - bounds.y * k };
}

export function contains(rect, p) {
  return p.x >= rect.x && p.x <= rect.x + rect.w && p.y >= rect.y && p.y <= rect.y + rect.h;
}

export function intersects(a, b) {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/** The point of `rect`'s border nearest to `p` (the centre's projection when inside). */
export function nearestOnRect(rect, p) {
  const cx = Math.min(Math.max(p.x, rect.x), rect.x + rect.w);
  const cy = Math.min(Math.max(p.y, rect.y), rect.y + rect.h);
  if (cx !== p.x || cy !== p.y) return { x: cx, y: cy };
  // Inside: to the closest side.
  const d = [p.x - rect.x, rect.x + rect.w - p.x, p.y - rect.y, rect.y + rect.h - p.y];
  const m = Math.min(...d);
  if (m === d[0]) return { x: rect.x, y: p.y };
  if (m === d[1]) return { x: rect.x + rect.w, y: p.y };
  if (m === d[2]) return { x: p.x, y: rect.y };
  return { x: p.x, y: rect.y + rect.h };
}

/** The rect spanned by two corner points (a rubber-band selection). */
export function rectFrom(a, b) {
  return { x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), w: Math.abs(a.x - b.x), h: Math.abs(a.y - b.y) };
}
