// Budgets and credits: every budget with its utilization and a linear forecast to the period's
// end, recent alerts, prepaid balances and their ledgers.

import { api, isAdmin } from '../api.js';
import { ratio, scaleUsd, cmpUsd, truncateUsd } from '../money.js';
import { h, money, time, table, fill, section, badge, errorBox } from '../ui.js';
import { creditsPath, grantForm, grantNotice } from './grant.js';

const MAX_KEYS = 500;

// The API's answer to the last grant, shown once on the page rendered after it.
let granted = null;

/** A utilization bar: spent (colour by level) and reserved, as a share of the limit. */
function bar(b) {
  const spent = Math.min(1, Math.max(0, ratio(b.spent_usd, b.limit_usd) ?? 0));
  const reserved = Math.min(1 - spent, Math.max(0, ratio(b.reserved_usd, b.limit_usd) ?? 0));
  const level = spent >= 1 ? 'bad' : spent >= 0.8 ? 'warn' : '';
  const percent = ratio(b.spent_usd, b.limit_usd);
  return h('div', { class: 'inline' },
    h('div', { class: 'bar', title: `spent ${b.spent_usd} + reserved ${b.reserved_usd} of ${b.limit_usd}` },
      h('span', { class: level, 'data-width': spent.toFixed(4) }),
      h('span', { class: 'reserved', 'data-left': spent.toFixed(4), 'data-width': reserved.toFixed(4) })),
    h('span', { class: 'utilization' }, percent === null ? '—' : `${(percent * 100).toFixed(1)}%`));
}

/** Bars get their widths from data attributes (the CSP allows no inline style attributes). */
function sizeBars(root) {
  for (const span of root.querySelectorAll('.bar > span')) {
    span.style.width = `${Number(span.dataset.width) * 100}%`;
    if (span.dataset.left) span.style.left = `${Number(span.dataset.left) * 100}%`;
  }
}

/**
 * Spend at the period's end if it goes on at the rate so far: spent × length ÷ elapsed, in
 * BigInt picodollars, shown to the micro-dollar (an estimate, not a ledger figure). None for
 * total budgets or before a minute has passed.
 */
export function forecast(b, now = Date.now()) {
  if (!b.resets_at || !b.period_start) return null;
  const start = Date.parse(b.period_start);
  const end = Date.parse(b.resets_at);
  const elapsed = now - start;
  if (elapsed < 60_000 || end <= start) return null;
  return truncateUsd(scaleUsd(b.spent_usd, end - start, Math.min(elapsed, end - start)), 6);
}

function ownerText(names, b) {
  if (b.scope === 'global') return 'Whole gateway';
  return `${b.scope} ${names.get(`${b.scope}:${b.id}`) ?? b.id}`;
}

/** "key alice" with the id in small type; the whole gateway's budget by that name. */
function owner(names, scope, id) {
  if (scope === 'global') return h('span', {}, 'Whole gateway');
  const name = names.get(`${scope}:${id}`);
  return h('span', { title: id }, `${scope.replace('_credit', ' balance')} ${name ?? id}`, name && name !== id ? h('span', { class: 'id' }, ` ${id}`) : null);
}

function budgetTable(budgets, names) {
  return table([
    { label: 'Budget of', value: (b) => owner(names, b.scope, b.id), sort: (b) => ownerText(names, b) },
    { label: 'Period', value: (b) => h('span', {}, b.period, ' ', badge(b.mode, b.mode === 'hard' ? 'bad' : '')) },
    { label: 'Limit', class: 'num', value: (b) => money(b.limit_usd, { class: 'money limit' }) },
    { label: 'Spent', class: 'num', value: (b) => money(b.spent_usd, { class: 'money spent' }) },
    { label: 'Reserved', class: 'num', value: (b) => money(b.reserved_usd, { class: 'money reserved' }) },
    { label: 'Remaining', class: 'num', value: (b) => money(b.remaining_usd, { class: 'money remaining' }) },
    { label: 'Utilization', value: bar, sort: (b) => ratio(b.spent_usd, b.limit_usd), desc: true },
    { label: 'Forecast at period end', class: 'num', value: (b) => {
      const f = forecast(b);
      if (f === null) return h('span', { class: 'muted' }, '—');
      return h('span', {}, money(f, { class: 'money forecast' }), cmpUsd(f, b.limit_usd) > 0 ? h('span', {}, ' ', badge('over', 'bad')) : null);
    } },
    { label: 'Resets', value: (b) => time(b.resets_at) },
  ], budgets, { id: 'budgets-table', empty: 'No budgets.', rowAttrs: (b) => ({ 'data-scope': b.scope, 'data-id': b.id }) });
}

async function ledgerPanel(path, target) {
  fill(target, h('p', { class: 'muted' }, 'Loading…'));
  try {
    const l = await api.get(path, { limit: 100 });
    fill(target,
      h('p', {}, `Ledger of ${l.owner} ${l.id}: balance `, money(l.balance_usd, { class: 'money ledger-balance' }), ', reserved ', money(l.reserved_usd), ', available ', money(l.available_usd)),
      table([
        { label: 'When', value: (e) => time(e.created_at) },
        { label: 'Kind', value: (e) => badge(e.kind, e.kind === 'usage' ? '' : 'ok') },
        { label: 'Amount', class: 'num', value: (e) => money(e.amount_usd, { class: 'money amount' }) },
        { label: 'Call', value: (e) => (e.usage_id ? h('a', { href: `#/audit?id=${encodeURIComponent(e.usage_id)}` }, e.usage_id) : '') },
        { label: 'Note', value: (e) => e.note ?? '' },
      ], l.data, { id: 'ledger-table', empty: 'No entries.' }),
      l.next_cursor ? h('p', { class: 'muted' }, 'Older entries: GET ', h('code', {}, `${path}?cursor=${l.next_cursor}`)) : null);
  } catch (e) {
    fill(target, errorBox(e));
  }
}

function balanceTable(balances, names, ledger) {
  return table([
    { label: 'Account', value: (b) => owner(names, b.owner, b.id) },
    { label: 'Balance', class: 'num', value: (b) => money(b.balance_usd, { class: 'money balance' }) },
    { label: 'Reserved', class: 'num', value: (b) => money(b.reserved_usd) },
    { label: 'Available', class: 'num', value: (b) => money(b.available_usd, { class: 'money available' }) },
    { label: '', value: (b) => h('button', { type: 'button', class: 'secondary', 'data-ledger': `${b.owner}:${b.id}`, onclick: () => ledger(b) }, 'Ledger') },
  ], balances, { id: 'balances-table', empty: 'No prepaid balances.', rowAttrs: (b) => ({ 'data-owner': b.owner, 'data-id': b.id }) });
}

/** An alert's message, its amounts exact; the whole payload in the tooltip. */
function alertText(a) {
  const p = a.payload ?? {};
  const amounts = ['spent_usd', 'limit_usd', 'projected_usd', 'cost_usd', 'reserved_usd', 'needed_usd', 'remaining_usd', 'balance_usd']
    .filter((k) => typeof p[k] === 'string')
    .map((k) => h('span', {}, ` ${k.replace('_usd', '')} `, money(p[k])));
  return h('span', { title: JSON.stringify(p, null, 1) }, p.message ?? a.type, amounts);
}

export async function render(el, { query, go }) {
  const ledgerBox = h('div', { id: 'ledger' }, h('p', { class: 'muted' }, 'Choose an account to see its ledger.'));
  if (!isAdmin()) {
    const { data } = await api.get('/v1/key');
    const names = new Map([[`key:${data.id}`, data.name]]);
    const balances = data.balances ?? [];
    fill(el,
      h('h1', {}, 'Budgets & credits', h('small', {}, `Key ${data.name}`)),
      section('Budgets that apply to your calls', budgetTable(data.budgets, names)),
      section('Prepaid balance', balanceTable(balances, names, () => ledgerPanel('/v1/credits', ledgerBox)), ledgerBox),
    );
    sizeBars(el);
    if (data.balance) ledgerPanel('/v1/credits', ledgerBox);
    return;
  }
  const [keys, teams, alerts] = await Promise.all([
    api.get('/admin/keys'),
    api.get('/admin/teams'),
    api.get('/admin/alerts', { limit: 20 }),
  ]);
  const live = keys.filter((k) => !k.revoked_at).slice(0, MAX_KEYS);
  const [keyStates, teamStates] = await Promise.all([
    Promise.all(live.map((k) => api.get(`/admin/keys/${encodeURIComponent(k.id)}`))),
    Promise.all(teams.map((t) => api.get(`/admin/teams/${encodeURIComponent(t.id)}`))),
  ]);
  const names = new Map([...keys.map((k) => [`key:${k.id}`, k.name]), ...teams.map((t) => [`team:${t.id}`, t.name])]);
  // Every budget once: a key's status lists its own, its team's and the gateway's.
  const budgets = new Map();
  for (const k of keyStates) for (const b of k.budgets) budgets.set(`${b.scope}:${b.id}`, b);
  for (const t of teamStates) if (t.budget_status) budgets.set(`team:${t.id}`, t.budget_status);
  const order = { global: 0, team: 1, key: 2 };
  const list = [...budgets.values()].sort((a, b) => order[a.scope] - order[b.scope] || a.id.localeCompare(b.id));
  const balances = [
    ...teamStates.filter((t) => t.balance).map((t) => t.balance),
    ...keyStates.filter((k) => k.balance).map((k) => k.balance),
  ];
  const ledger = (b) => ledgerPanel(creditsPath(`${b.owner}:${b.id}`), ledgerBox);
  // Any live key or team may be credited (a first grant opens its account).
  const accounts = [
    ...teams.map((t) => [`team:${t.id}`, `team ${t.name}${t.name === t.id ? '' : ` (${t.id})`}`]),
    ...live.map((k) => [`key:${k.id}`, `key ${k.name} (${k.id})`]),
  ];
  const shown = query.get('ledger') ?? '';
  const notice = granted;
  granted = null;
  const onGranted = (account, answer) => {
    granted = answer;
    go('budgets', { ledger: account });
  };
  fill(el,
    h('h1', {}, 'Budgets & credits', h('small', {}, `${list.length} budgets · ${balances.length} prepaid balances`)),
    keys.length > MAX_KEYS ? h('div', { class: 'notice' }, `Only the first ${MAX_KEYS} keys are read.`) : null,
    section('Budgets', budgetTable(list, names),
      h('p', { class: 'muted' }, 'Forecast: spend at the end of the period if it goes on at the rate so far (spent × period ÷ elapsed).')),
    section('Recent alerts', table([
      { label: 'When', value: (a) => time(a.created_at) },
      { label: 'Type', value: (a) => badge(a.type, a.type.includes('refusal') || a.type.includes('overrun') ? 'bad' : 'warn') },
      { label: 'Of', value: (a) => owner(names, a.scope.replace('_credit', ''), a.scope_id) },
      { label: 'What', value: alertText },
      { label: 'Delivery', value: (a) => badge(a.delivery.state, a.delivery.state === 'delivered' ? 'ok' : '') },
    ], alerts.data, { id: 'alerts-table', empty: 'No alerts.' })),
    section('Prepaid balances', notice ? grantNotice(notice, names.get(`${notice.owner}:${notice.id}`)) : null, balanceTable(balances, names, ledger),
      h('h3', {}, 'Add credit'), grantForm(accounts, shown, onGranted), ledgerBox),
  );
  sizeBars(el);
  if (/^(key|team):./.test(shown)) await ledgerPanel(creditsPath(shown), ledgerBox);
}
