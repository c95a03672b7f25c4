// The JSON API with the signed-in credential. The credential lives in sessionStorage (this tab
// only, gone when it closes); it is sent as a bearer token to the gateway's own origin only.

const STORE = 'tollgate.credential';

/** The signed-in credential: {token, role: 'admin' | 'key', key?: the /v1/key data}. */
export const session = {
  get() {
    try {
      return JSON.parse(sessionStorage.getItem(STORE) ?? 'null');
    } catch {
      return null;
    }
  },
  set(value) {
    sessionStorage.setItem(STORE, JSON.stringify(value));
  },
  clear() {
    sessionStorage.removeItem(STORE);
  },
};

export class ApiError extends Error {
  constructor(status, body, path) {
    const message = body?.error?.message ?? body?.message ?? `HTTP ${status}`;
    super(`${path}: ${message}`);
    this.status = status;
    this.body = body;
  }
}

function url(path, query) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, v);
  }
  return u.pathname + u.search;
}

async function request(method, path, { query, body, token, raw } = {}) {
  const credential = token ?? session.get()?.token;
  const headers = {};
  if (credential) headers.authorization = `Bearer ${credential}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(url(path, query), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit',
    cache: 'no-store',
  });
  if (raw) {
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null), path);
    return response;
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = { message: text };
  }
  if (!response.ok) throw new ApiError(response.status, json, path);
  return json;
}

export const api = {
  get: (path, query, opts = {}) => request('GET', path, { ...opts, query }),
  post: (path, body, opts = {}) => request('POST', path, { ...opts, body }),
  patch: (path, body, opts = {}) => request('PATCH', path, { ...opts, body }),
  del: (path, opts = {}) => request('DELETE', path, opts),
  raw: (method, path, opts = {}) => request(method, path, { ...opts, raw: true }),
};

/** True when the signed-in credential is the admin token. */
export function isAdmin() {
  return session.get()?.role === 'admin';
}

/**
 * Which endpoints a page reads: the admin's (any key, team, the whole gateway) or the key
 * holder's own (/v1/spend, /v1/usage, /v1/key, /v1/credits), which the server restricts to the
 * caller's key whatever the query says.
 */
export const scoped = {
  spend: () => (isAdmin() ? '/admin/spend' : '/v1/spend'),
  usage: () => (isAdmin() ? '/admin/usage' : '/v1/usage'),
};

/**
 * Signs in with a credential: an API key (`tg-…`) is checked with GET /v1/key, anything else
 * as the admin token with GET /admin/teams; the other is tried when the first is refused.
 */
export async function signIn(token) {
  const asKey = async () => {
    const { data } = await api.get('/v1/key', null, { token });
    return { token, role: 'key', key: { id: data.id, name: data.name, team: data.team } };
  };
  const asAdmin = async () => {
    await api.get('/admin/teams', null, { token });
    return { token, role: 'admin' };
  };
  const order = token.startsWith('tg-') ? [asKey, asAdmin] : [asAdmin, asKey];
  let last;
  for (const attempt of order) {
    try {
      const value = await attempt();
      session.set(value);
      return value;
    } catch (e) {
      last = e;
      if (!(e instanceof ApiError) || (e.status !== 401 && e.status !== 403)) throw e;
    }
  }
  throw last;
}
