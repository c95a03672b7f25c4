// Overview: spend for the period against the previous one, spend over time stacked by a
// dimension, calls, tokens by kind, error rate, top keys and models. Every figure is the spend
// report's (sums and counts made by the server from its rollups, exact); the page adds nothing
// up itself.

import { api, isAdmin, scoped, session } from '../api.js';
import { stackedMoney, doughnut } from '../charts.js';
import { cmpUsd, subUsd, ratio } from '../money.js';
import { PERIODS, periodRange, timeZone, bucketLabels, shortLabel } from '../period.js';
import { h, money, count, card, section, select, table, fill } from '../ui.js';

const DIMENSIONS = [['model', 'Model'], ['provider', 'Provider'], ['team', 'Team'], ['key', 'Key']];
const GRAINS = [['hour', 'Hourly'], ['day', 'Daily'], ['week', 'Weekly']];

/**
 * A share of calls as a percentage with one decimal, rounded half up, from the two exact
 * counts in integer arithmetic ("1 of 3" → "33.3%"); "—" without calls.
 */
export function percentOf(part, whole) {
  const p = BigInt(part);
  const w = BigInt(whole);
  if (w === 0n) return '—';
  const tenths = (p * 2000n + w) / (2n * w);
  return `${tenths / 10n}.${tenths % 10n}%`;
}

/** Names of keys and teams (admin), for labels. */
export async function directory() {
  if (!isAdmin()) {
    const me = session.get()?.key;
    return { key: new Map(me ? [[me.id, me.name]] : []), team: new Map() };
  }
  const [keys, teams] = await Promise.all([api.get('/admin/keys'), api.get('/admin/teams')]);
  return { key: new Map(keys.map((k) => [k.id, k.name])), team: new Map(teams.map((t) => [t.id, t.name])) };
}

export function dimensionLabel(names, dim, value) {
  if (value === null || value === undefined || value === '') return dim === 'team' ? '(no team)' : '(none)';
  return names[dim]?.get(value) ?? value;
}

/** A key or team by its name, with its id in small type and in the tooltip. */
export function named(names, dim, value) {
  const label = dimensionLabel(names, dim, value);
  return h('span', { title: value ?? '' }, label, label !== value && value ? h('span', { class: 'id' }, ` ${value}`) : null);
}

export async function render(el, { query, go }) {
  const period = query.get('period') ?? '30d';
  const dim = query.get('by') ?? 'model';
  const grain = query.get('grain') ?? (period === '24h' ? 'hour' : 'day');
  const { from, to, prevFrom, prevTo } = periodRange(period);
  const tz = timeZone();
  const base = { from: from.toISOString(), to: to.toISOString() };
  const spendPath = scoped.spend();
  const [current, previous, series, byDim, byKey, byModel, names] = await Promise.all([
    api.get(spendPath, base),
    api.get(spendPath, { from: prevFrom.toISOString(), to: prevTo.toISOString() }),
    api.get(spendPath, { ...base, group_by: `${dim},${grain}`, tz }),
    api.get(spendPath, { ...base, group_by: dim }),
    api.get(spendPath, { ...base, group_by: 'key' }),
    api.get(spendPath, { ...base, group_by: 'model' }),
    directory(),
  ]);
  const t = current.total;
  const p = previous.total;
  const change = subUsd(t.cost_usd, p.cost_usd);
  const changeRatio = ratio(change, p.cost_usd);

  const params = (over) => ({ period, by: dim, grain, ...over });
  const toolbar = h('div', { class: 'toolbar' },
    h('label', {}, 'Period', select('period', PERIODS.map(([v, l]) => [v, l]), period, { id: 'period', onchange: (e) => go('overview', params({ period: e.target.value, grain: e.target.value === '24h' ? 'hour' : grain === 'hour' ? 'day' : grain })) })),
    h('label', {}, 'Stack by', select('by', isAdmin() ? DIMENSIONS : DIMENSIONS.filter(([d]) => d !== 'team' && d !== 'key'), dim, { id: 'stack-by', onchange: (e) => go('overview', params({ by: e.target.value })) })),
    h('label', {}, 'Buckets', select('grain', GRAINS, grain, { id: 'grain', onchange: (e) => go('overview', params({ grain: e.target.value })) })),
  );

  const trend = cmpUsd(change, '0');
  const cards = h('div', { class: 'cards', id: 'overview-cards' },
    card('Spend', money(t.cost_usd, { id: 'spend-current' }), h('span', {}, 'previous period ', money(p.cost_usd, { id: 'spend-previous' })), { 'data-figure': 'spend' }),
    card('Change', h('span', { class: trend > 0 ? 'up' : trend < 0 ? 'down' : '' }, trend > 0 ? '+' : '', money(change, { id: 'spend-change' })),
      changeRatio === null ? 'no spend before' : `${trend > 0 ? '+' : ''}${(changeRatio * 100).toFixed(1)}% vs previous`),
    card('Calls', count(t.requests, { id: 'calls-current' }), h('span', {}, 'previous ', count(p.requests, { id: 'calls-previous' }))),
    card('Input tokens', count(t.input_tokens, { id: 'tokens-input' }), h('span', {}, 'cached ', count(t.cached_input_tokens, { id: 'tokens-cached' }))),
    card('Output tokens', count(t.output_tokens, { id: 'tokens-output' }), h('span', {}, 'reasoning ', count(t.reasoning_tokens, { id: 'tokens-reasoning' }))),
    card('Error rate', h('span', { id: 'error-rate', 'data-errors': t.errors, 'data-calls': t.requests }, percentOf(t.errors, t.requests)),
      h('span', {}, count(t.errors, { id: 'errors-current' }), ' of ', count(t.requests), ' calls failed')),
  );

  // Spend over time, stacked.
  const labels = bucketLabels(grain, from, to);
  const groups = new Map();
  for (const row of series.rows) {
    const g = row[dim] ?? '';
    if (!groups.has(g)) groups.set(g, new Map());
    groups.get(g).set(row[grain], row.cost_usd);
    if (!labels.includes(row[grain])) labels.push(row[grain]);
  }
  labels.sort();
  // Biggest spender at the bottom of the stack: ordered by the server's total of each group.
  const totalOf = new Map(byDim.rows.map((r) => [r[dim] ?? '', r.cost_usd]));
  const ordered = [...groups.entries()].sort((a, b) => cmpUsd(totalOf.get(b[0]) ?? '0', totalOf.get(a[0]) ?? '0'));
  const canvas = h('canvas', { id: 'spend-chart', role: 'img', 'aria-label': `Spend by ${dim}, ${grain}` });
  const chartBox = h('div', { class: 'chart' }, canvas);
  const tokensCanvas = h('canvas', { id: 'tokens-chart', role: 'img', 'aria-label': 'Tokens by kind' });

  const kinds = [
    ['Input (uncached)', Math.max(0, t.input_tokens - t.cached_input_tokens)],
    ['Cached input', t.cached_input_tokens],
    ['Cache writes', t.cache_write_tokens],
    ['Output', t.output_tokens],
    ['Reasoning', t.reasoning_tokens],
  ];

  const top = (report, d) => report.rows.slice().sort((a, b) => cmpUsd(b.cost_usd, a.cost_usd)).slice(0, 10);
  const topTable = (report, d, id) => table([
    { label: d === 'key' ? 'Key' : 'Model', value: (r) => d === 'model' ? h('a', { href: `#/models/${encodeURIComponent(r.model)}` }, r.model) : h('a', { href: `#/audit?key=${encodeURIComponent(r.key ?? '')}` }, named(names, d, r[d])) },
    { label: 'Calls', class: 'num', value: (r) => count(r.requests) },
    { label: 'Tokens in / out', class: 'num', value: (r) => h('span', {}, count(r.input_tokens), ' / ', count(r.output_tokens)) },
    { label: 'Spend', class: 'num', value: (r) => money(r.cost_usd) },
  ], top(report, d), { id, rowAttrs: (r) => ({ 'data-id': r[d] ?? '' }) });

  fill(el,
    h('h1', {}, 'Overview', h('small', { id: 'range', 'data-from': base.from, 'data-to': base.to, 'data-prev-from': prevFrom.toISOString(), 'data-prev-to': prevTo.toISOString(), 'data-tz': tz },
      `${from.toLocaleString('en-GB')} – ${to.toLocaleString('en-GB')} (${tz})`)),
    isAdmin() ? null : h('div', { class: 'notice' }, 'Your key\'s own usage.'),
    toolbar, cards,
    section(`Spend over time by ${dim}`, chartBox),
    h('div', { class: 'row' },
      section('Top keys', isAdmin() ? topTable(byKey, 'key', 'top-keys') : topTable(byKey, 'key', 'top-keys')),
      section('Top models', topTable(byModel, 'model', 'top-models'))),
    h('div', { class: 'row' },
      section('Tokens by kind', h('div', { class: 'chart small' }, tokensCanvas)),
      section('Failed calls by model', h('p', { class: 'muted' }, 'Every call of the period whose status is not ok; the audit lists them by status.'),
        table([
          { label: 'Model', value: (r) => h('a', { href: `#/audit?model=${encodeURIComponent(r.model)}` }, r.model) },
          { label: 'Calls', class: 'num', value: (r) => count(r.requests) },
          { label: 'Failed', class: 'num', value: (r) => count(r.errors, { class: 'count errors' }) },
          { label: 'Error rate', class: 'num', value: (r) => h('span', { class: 'rate' }, percentOf(r.errors, r.requests)) },
        ], byModel.rows.filter((r) => r.errors > 0), { id: 'errors-table', empty: 'No failed calls in this period.', rowAttrs: (r) => ({ 'data-id': r.model }) }))),
  );
  stackedMoney(canvas, labels.map((l) => shortLabel(grain, l)), ordered.map(([g, m]) => ({
    label: dimensionLabel(names, dim, g),
    values: labels.map((l) => m.get(l) ?? null),
  })));
  doughnut(tokensCanvas, kinds.map(([k]) => k), kinds.map(([, v]) => v));
}
