// Savings (admin): the recommendations from real usage — each model used, re-priced on every
// related model that supports what it does — biggest saving first.

import { api } from '../api.js';
import { cmpUsd, toPicos } from '../money.js';
import { PERIODS, periodRange } from '../period.js';
import { h, money, count, table, fill, section, select } from '../ui.js';

export async function render(el, { query, go }) {
  const period = query.get('period') ?? '30d';
  const { from, to } = periodRange(period);
  const rec = await api.get('/admin/recommendations', { from: from.toISOString(), to: to.toISOString() });
  const rows = rec.models.flatMap((m) => m.alternatives
    .filter((a) => toPicos(a.saving_usd) > 0n)
    .map((a) => ({ from: m.model, fromCost: m.cost_usd, requests: m.usage.requests, ...a })))
    .sort((a, b) => cmpUsd(b.saving_usd, a.saving_usd));
  fill(el,
    h('h1', {}, 'Savings', h('small', {}, 'the same calls, re-priced on related models that support them')),
    h('div', { class: 'toolbar' }, h('label', {}, 'Period', select('period', PERIODS.map(([v, l]) => [v, l]), period, { id: 'savings-period', onchange: (e) => go('savings', { period: e.target.value }) }))),
    section('Recommendations, biggest saving first', table([
      { label: 'Instead of', value: (r) => h('a', { href: `#/models/${encodeURIComponent(r.from)}` }, r.from) },
      { label: 'Calls', class: 'num', value: (r) => count(r.requests) },
      { label: 'Cost', class: 'num', value: (r) => money(r.fromCost) },
      { label: 'Use', value: (r) => h('a', { href: `#/models/${encodeURIComponent(r.model)}` }, r.name ?? r.model) },
      { label: 'Would have cost', class: 'num', value: (r) => money(r.cost_usd, { class: 'money alt-cost' }) },
      { label: 'Saving', class: 'num', value: (r) => money(r.saving_usd, { class: 'money saving' }) },
    ], rows, { id: 'savings-table', empty: 'No cheaper related model supports what the models used do.', rowAttrs: (r) => ({ 'data-from': r.from, 'data-to': r.model }) })),
  );
}
