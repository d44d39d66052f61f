// api: the one place that talks HTTP to chatdesk (API.md). The bearer
// token lives in sessionStorage: it survives a reload of the tab, is gone
// when the tab closes, and never appears in a URL.

const BASE = '/api/v1';
const KEY = 'chatdesk.session';

export class ApiError extends Error {
  constructor(status, code, message, field, retryAfter) {
    super(message || code || ('HTTP ' + status));
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
  }
  // A route this server does not have (yet): the UI hides the feature.
  get missing() {
    return this.status === 404 || this.status === 405;
  }
}

let unauthorized = () => {};

export const session = {
  load() {
    try {
      return JSON.parse(sessionStorage.getItem(KEY));
    } catch {
      return null;
    }
  },
  save(token, user) {
    sessionStorage.setItem(KEY, JSON.stringify({ token, user }));
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
  get token() {
    const s = this.load();
    return s ? s.token : null;
  },
  get user() {
    const s = this.load();
    return s ? s.user : null;
  },
};

// Called once when a request answers 401 with a token: the token was
// revoked, the user disabled, or the session is gone.
export function onUnauthorized(fn) {
  unauthorized = fn;
}

// api('GET', '/tickets', null, {status: 'open'}) -> parsed JSON (null for
// 204). Throws ApiError for any answer that is not 2xx.
export async function api(method, path, body = null, query = null, opts = {}) {
  let url = BASE + path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query))
      if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    const s = q.toString();
    if (s) url += '?' + s;
  }
  const headers = { Accept: 'application/json' };
  const token = session.token;
  if (token && !opts.anonymous) headers.Authorization = 'Bearer ' + token;
  const init = { method, headers, cache: 'no-store', signal: opts.signal };
  if (body !== null) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'the server cannot be reached');
  }
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (res.ok) return data;
  const err = (data && data.error) || {};
  const e = new ApiError(res.status, err.code, err.message, err.field,
    Number(res.headers.get('Retry-After')) || 0);
  if (res.status === 401 && token && !opts.anonymous) unauthorized(e);
  throw e;
}

// Follows next_before from a list route until it is null or max items.
export async function apiAll(path, key, query = {}, max = 500) {
  const out = [];
  let before = null;
  for (;;) {
    const page = await api('GET', path, null, { ...query, limit: 100, before });
    out.push(...page[key]);
    if (page.next_before === null || page.next_before === undefined ||
        out.length >= max)
      return out;
    before = page.next_before;
  }
}

// The line a form shows when a post failed: the wait for a rate limit,
// else what failed and why.
export function failure(what, err) {
  return err.status === 429 ?
    'Slow down: try again in ' + (err.retryAfter || 10) + ' s.' :
    what + ': ' + err.message;
}
