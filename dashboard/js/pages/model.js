// A model's page: prices, price history as a chart, related models with what this model's real
// usage would have cost on each (the what-if re-pricing), and the playground.

import { api, isAdmin, scoped, session } from '../api.js';
import { priceSteps } from '../charts.js';
import { periodRange } from '../period.js';
import { h, money, count, table, fill, section, badge, time } from '../ui.js';
import { playground } from './playground.js';

const RATES = [
  ['input_per_mtok', 'Input'],
  ['output_per_mtok', 'Output'],
  ['cached_input_per_mtok', 'Cached input'],
  ['cache_write_per_mtok', 'Cache write'],
  ['reasoning_per_mtok', 'Reasoning'],
];

function priceList(p) {
  if (!p) return h('p', {}, badge('price unknown', 'warn'), ' Calls are refused until an admin sets a price.');
  const field = (label, value) => [h('dt', {}, label), h('dd', {}, value)];
  return h('dl', { class: 'detail', id: 'current-price' },
    RATES.filter(([k]) => p[k] !== null && p[k] !== undefined).map(([k, l]) => field(`${l} / 1M tokens`, money(p[k], { 'data-rate': k }))),
    field('Per request', money(p.per_request)),
    field('Per image', money(p.per_image)),
    (p.tiers ?? []).length ? field('Long-context tiers', h('code', {}, JSON.stringify(p.tiers))) : null,
    field('Effective from', time(p.effective_from)));
}

export async function render(el, { rest: id }) {
  const { from, to } = periodRange('30d');
  const range = { from: from.toISOString(), to: to.toISOString() };
  const [m, usage] = await Promise.all([
    api.get(`/v1/models/${encodeURIComponent(id)}`),
    api.get(scoped.spend(), { ...range, model: id }),
  ]);
  const t = usage.total;
  const [related, recommendations] = await Promise.all([
    api.get(`/v1/models/${encodeURIComponent(m.id)}/related`, t.requests > 0 ? { input_tokens: t.input_tokens, output_tokens: t.output_tokens } : {}),
    isAdmin() && t.requests > 0 ? api.get('/admin/recommendations', range) : null,
  ]);
  const exact = new Map((recommendations?.models.find((r) => r.model === m.id)?.alternatives ?? []).map((a) => [a.model, a]));

  // Price history: one point per version, stepped.
  const history = (m.price_history ?? []).slice().sort((a, b) => String(a.effective_from).localeCompare(String(b.effective_from)));
  const canvas = h('canvas', { id: 'price-chart', role: 'img', 'aria-label': 'Price history' });
  const rates = RATES.filter(([k]) => history.some((v) => v[k] !== null && v[k] !== undefined));

  const profile = t.requests > 0
    ? h('span', {}, 'Your usage of this model in the last 30 days (', count(t.requests), ' calls, ', count(t.input_tokens), ' input and ', count(t.output_tokens), ' output tokens) cost ', money(t.cost_usd, { id: 'model-usage-cost' }), '. Here is what it would have cost on each related model.')
    : 'No usage of this model in the last 30 days: costs below are for 1,000 input and 1,000 output tokens.';
  const relatedRows = related.related ?? [];
  const relatedPrices = new Map((m.related ?? []).map((r) => [r.id, r.pricing]));

  fill(el,
    h('h1', {}, m.name, h('small', {}, h('code', {}, m.id), ` · ${m.provider_name ?? m.provider}`, m.status !== 'active' ? badge(m.status, 'warn') : null)),
    h('p', {}, m.description ?? ''),
    h('div', { class: 'row' },
      section('Current price (USD)', priceList(m.pricing)),
      section('Model', h('dl', { class: 'detail' },
        h('dt', {}, 'Context'), h('dd', {}, count(m.context_length)),
        h('dt', {}, 'Max output'), h('dd', {}, count(m.max_output_tokens)),
        h('dt', {}, 'Capabilities'), h('dd', { class: 'caps' }, m.capabilities.map((c) => badge(c))),
        h('dt', {}, 'Input'), h('dd', {}, (m.input_modalities ?? []).join(', ')),
        h('dt', {}, 'Aliases'), h('dd', {}, (m.aliases ?? []).join(', ') || '—'),
        h('dt', {}, 'Creator'), h('dd', {}, m.creator ?? '—'),
        h('dt', {}, 'Markdown'), h('dd', {}, h('a', { href: `/models/${encodeURIComponent(m.id)}.md` }, `/models/${m.id}.md`))))),
    section('Price history', history.length ? h('div', { class: 'chart small' }, canvas) : h('p', { class: 'muted' }, 'No price versions.'),
      table([
        { label: 'Effective from', value: (v) => time(v.effective_from) },
        ...rates.map(([k, l]) => ({ label: l, class: 'num', value: (v) => money(v[k]) })),
      ], history.slice().reverse(), { id: 'price-history-table' })),
    section('Related models: what if', h('p', { class: 'muted', id: 'what-if-profile' }, profile),
      table([
        { label: 'Model', value: (r) => h('a', { href: `#/models/${encodeURIComponent(r.id)}` }, r.name ?? r.id) },
        { label: 'Input / output per 1M', class: 'num', value: (r) => {
          const p = relatedPrices.get(r.id);
          return p ? h('span', {}, money(p.input_per_mtok), ' / ', money(p.output_per_mtok)) : badge('price unknown', 'warn');
        } },
        { label: 'Cost of this usage', class: 'num', value: (r) => money(r.estimated_cost_usd ?? null, { class: 'money what-if' }) },
        { label: 'Saving', class: 'num', value: (r) => money(r.saving_usd ?? null, { class: 'money saving' }) },
        isAdmin() && t.requests > 0 ? { label: 'Exact re-pricing of the whole mix', class: 'num', value: (r) => (exact.has(r.id) ? money(exact.get(r.id).cost_usd, { class: 'money exact-mix' }) : h('span', { class: 'muted', title: 'not a recommendation: lacks a capability, modality or context of this model' }, '—')) } : null,
        { label: 'Supports', value: (r) => h('div', { class: 'caps' }, Object.entries(r.supports ?? {}).filter(([k, v]) => k !== 'all' && typeof v === 'boolean').map(([k, v]) => badge(k, v ? 'ok' : 'bad'))) },
      ].filter(Boolean), relatedRows, { id: 'related-table', empty: 'No related models.', rowAttrs: (r) => ({ 'data-id': r.id }) })),
    section('Playground', playground(m, session.get())),
  );
  if (history.length) {
    // The latest version again at today, so the current price is a segment, not a point.
    const points = [...history, { ...history.at(-1), effective_from: new Date().toISOString() }];
    priceSteps(canvas, points.map((v, i) => (i === points.length - 1 ? 'now' : String(v.effective_from ?? '').slice(0, 10))), rates.map(([k, l]) => ({ label: l, values: points.map((v) => v[k] ?? null) })));
  }
}
