// The console's view of topologies: the API's detail body turned into plain LANs and
// deckies by name, the names new items get, and documents made importable as copies. Pure.

/** `{lans, deckies}` from a `TopologyDetail` body. */
export function fromDetail(detail) {
  const lans = detail.lans.map((l) => ({ name: l.name, id: l.id, subnet: l.subnet, is_dmz: l.is_dmz, x: l.x ?? undefined, y: l.y ?? undefined }));
  const deckies = detail.deckies.map((d) => {
    const ips = d.decky_config?.ips_by_lan || {};
    return {
      name: d.name,
      uuid: d.uuid,
      home_lan: d.home_lan,
      lans: Object.keys(ips),
      ips,
      services: d.services || [],
      archetype: d.decky_config?.archetype ?? null,
      forwards_l3: !!d.decky_config?.forwards_l3,
      service_config: d.decky_config?.service_config || {},
      is_gateway: !!d.is_gateway,
      state: d.state,
      last_error: d.last_error,
      hostname: d.hostname,
      x: d.x ?? undefined,
      y: d.y ?? undefined,
    };
  });
  return { lans, deckies };
}

/** The first `prefix-N` (N from 1) not in `taken`. */
export function freshName(prefix, taken) {
  const base = String(prefix).toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^[^a-z]+/, '') || 'item';
  for (let n = 1; ; n++) {
    const name = `${base.slice(0, 56)}-${n}`;
    if (!taken.has(name)) return name;
  }
}

/** Drops a document's subnets and addresses, so the server allocates free ones. */
export function withoutAddresses(doc) {
  for (const lan of Array.isArray(doc.lans) ? doc.lans : []) if (lan && typeof lan === 'object') delete lan.subnet;
  for (const decky of Array.isArray(doc.deckies) ? doc.deckies : []) {
    for (const network of Array.isArray(decky?.networks) ? decky.networks : []) if (network && typeof network === 'object') delete network.ip;
  }
  return doc;
}
