// The API client: bearer token kept in sessionStorage (per tab, gone when the tab
// closes; never localStorage), JSON in and out, one error type carrying the server's
// `{detail, error, issues}` body.

const TOKEN_KEY = 'decnet.token';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.issues = this.body.issues || [];
  }

  /** The refusal codes the server gave. */
  get codes() {
    return [...new Set(this.issues.map((i) => i.code).filter(Boolean))];
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

let onUnauthorized = () => {};

/** What to do when the server says the token is no longer good. */
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

/** One request; resolves to the parsed body (or null), rejects with ApiError. */
export async function call(method, path, body) {
  const headers = { accept: 'application/json' };
  const bearer = token();
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, { detail: `the server cannot be reached (${err.message})` });
  }
  const text = await response.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { detail: text.slice(0, 300) };
    }
  }
  if (response.status === 401 && path !== '/api/v1/auth/login') {
    setToken(null);
    onUnauthorized();
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body ?? {});
export const put = (path, body) => call('PUT', path, body);
export const del = (path) => call('DELETE', path);

/** `/api/v1/topologies/<name>` with the name escaped for a path. */
export function topo(name, rest = '') {
  return `/api/v1/topologies/${encodeURIComponent(name)}${rest}`;
}
