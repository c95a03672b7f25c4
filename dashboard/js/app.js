// The dashboard's shell: sign-in, navigation and the hash router (#/page?query).

import { session, signIn } from './api.js';
import { h, fill, errorBox } from './ui.js';
import * as overview from './pages/overview.js';
import * as budgets from './pages/budgets.js';
import * as keys from './pages/keys.js';
import * as audit from './pages/audit.js';
import * as catalog from './pages/catalog.js';
import * as model from './pages/model.js';
import * as savings from './pages/savings.js';
import * as login from './pages/login.js';

const PAGES = [
  { path: 'overview', title: 'Overview', page: overview },
  { path: 'budgets', title: 'Budgets & credits', page: budgets },
  { path: 'keys', title: 'Keys & teams', page: keys, admin: true },
  { path: 'audit', title: 'Audit', page: audit },
  { path: 'catalog', title: 'Catalog', page: catalog },
  { path: 'savings', title: 'Savings', page: savings, admin: true },
];

/** The current route: {path, rest, query}. */
function route() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [pathPart, queryPart = ''] = raw.split('?');
  const [path, ...rest] = pathPart.split('/');
  return { path: path || 'overview', rest: rest.map(decodeURIComponent).join('/'), query: new URLSearchParams(queryPart) };
}

/** Moves to a route; `query` is an object or URLSearchParams. */
export function go(path, query) {
  const q = new URLSearchParams(query ?? {});
  for (const [k, v] of [...q]) if (v === '' || v === 'undefined') q.delete(k);
  const s = q.toString();
  const target = `#/${path}${s ? `?${s}` : ''}`;
  if (location.hash === target) render();
  else location.hash = target;
}

/**
 * A credential passed once in the fragment (`/dashboard#token=…`, for automation): kept in
 * sessionStorage and removed from the address bar and the history entry.
 */
async function takeFragmentToken() {
  const m = /^#token=([^&]*)/.exec(location.hash);
  if (!m) return false;
  const token = decodeURIComponent(m[1]);
  history.replaceState(null, '', location.pathname + location.search);
  session.clear();
  try {
    await signIn(token);
  } catch (e) {
    sessionStorage.setItem('tollgate.login-error', String(e.message ?? e));
  }
  return true;
}

function renderNav(current) {
  const who = session.get();
  const nav = document.getElementById('nav');
  const whoEl = document.getElementById('who');
  if (!who) {
    fill(nav);
    fill(whoEl);
    return;
  }
  fill(nav, PAGES.filter((p) => !p.admin || who.role === 'admin').map((p) => h('a', { href: `#/${p.path}`, class: p.path === current || (current === 'models' && p.path === 'catalog') ? 'active' : undefined, 'data-page': p.path }, p.title)));
  fill(whoEl,
    h('span', { id: 'who-role', 'data-role': who.role }, who.role === 'admin' ? 'Admin' : `Key ${who.key?.name ?? ''} (${who.key?.id ?? ''})`),
    h('button', { type: 'button', id: 'sign-out', onclick: () => { session.clear(); go('login'); } }, 'Sign out'));
}

let generation = 0;

async function render() {
  const mine = ++generation;
  const main = document.getElementById('main');
  const r = route();
  const who = session.get();
  if (!who || r.path === 'login') {
    renderNav('login');
    if (who && r.path === 'login') {
      go('overview');
      return;
    }
    document.title = 'Sign in · Tollgate';
    login.render(main, { onSignedIn: () => go('overview') });
    return;
  }
  renderNav(r.path);
  const entry = r.path === 'models' ? { title: r.rest, page: model } : PAGES.find((p) => p.path === r.path);
  if (!entry) {
    fill(main, errorBox(`No page '${r.path}'.`));
    return;
  }
  if (entry.admin && who.role !== 'admin') {
    fill(main, h('div', { class: 'notice', id: 'admin-only' }, `${entry.title} is for the admin; a key holder sees their own usage, budget, balance and the catalog.`));
    return;
  }
  document.title = `${entry.title} · Tollgate`;
  // The page is in the document while it renders (charts size themselves from their parent);
  // `data-ready` marks it complete.
  const content = h('div', { class: 'page', id: `page-${r.path}` }, h('div', { class: 'muted loading' }, 'Loading…'));
  fill(main, content);
  try {
    await entry.page.render(content, { ...r, go, isCurrent: () => mine === generation });
    if (mine === generation) content.dataset.ready = 'true';
  } catch (e) {
    if (mine !== generation) return;
    if (e.status === 401) {
      session.clear();
      sessionStorage.setItem('tollgate.login-error', 'The credential was refused; sign in again.');
      go('login');
      return;
    }
    console.warn(e);
    fill(main, errorBox(e));
  }
}

window.addEventListener('hashchange', async () => {
  if (await takeFragmentToken()) go('overview');
  else render();
});

(async () => {
  if (await takeFragmentToken()) {
    go('overview');
    return;
  }
  render();
})();
