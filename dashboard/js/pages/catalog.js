// Catalog: every model with its price (USD per 1M tokens), context and capabilities, sortable;
// filtered by capability and text.

import { api } from '../api.js';
import { toPicos } from '../money.js';
import { h, money, count, table, fill, section, badge } from '../ui.js';

const price = (m, field) => m.pricing?.[field] ?? null;
const priceKey = (m, field) => (price(m, field) === null ? null : toPicos(price(m, field)));

export async function render(el, { query, go }) {
  const list = await api.get('/v1/models', { status: query.get('status') ?? 'active' });
  const models = list.data;
  const capabilities = [...new Set(models.flatMap((m) => m.capabilities))].sort();
  const wanted = (query.get('capability') ?? '').split(',').filter(Boolean);
  const text = (query.get('q') ?? '').toLowerCase();
  const shown = models.filter((m) => wanted.every((c) => m.capabilities.includes(c))
    && (!text || [m.id, m.name, m.provider, m.creator, ...(m.aliases ?? [])].some((s) => String(s ?? '').toLowerCase().includes(text))));

  const search = h('input', { type: 'search', name: 'q', id: 'catalog-search', placeholder: 'Search id, name, provider…', value: query.get('q') ?? '' });
  const filters = h('form', { class: 'toolbar', id: 'catalog-filters' },
    h('label', {}, 'Search', search),
    h('div', { class: 'caps' }, capabilities.map((c) => h('label', { class: 'inline' },
      h('input', { type: 'checkbox', name: 'capability', value: c, checked: wanted.includes(c) }), c))),
    h('button', { type: 'submit' }, 'Filter'));
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = new FormData(filters);
    go('catalog', { q: data.get('q'), capability: data.getAll('capability').join(',') });
  });
  filters.addEventListener('change', (e) => {
    if (e.target.type === 'checkbox') filters.requestSubmit();
  });

  fill(el,
    h('h1', {}, 'Catalog', h('small', {}, `${shown.length} of ${models.length} models · prices in USD per 1M tokens`)),
    section('Filters', filters),
    section('Models', table([
      { label: 'Model', key: 'model', value: (m) => h('span', {}, h('a', { href: `#/models/${encodeURIComponent(m.id)}`, class: 'model-link' }, m.name), h('br'), h('code', { class: 'muted' }, m.id)), sort: (m) => m.name.toLowerCase() },
      { label: 'Provider', key: 'provider', value: (m) => m.provider_name ?? m.provider, sort: (m) => m.provider },
      { label: 'Context', key: 'context', class: 'num', value: (m) => count(m.context_length), sort: (m) => m.context_length, desc: true },
      { label: 'Input', key: 'input', class: 'num', value: (m) => (m.pricing ? money(price(m, 'input_per_mtok'), { class: 'money input-price' }) : badge('price unknown', 'warn')), sort: (m) => priceKey(m, 'input_per_mtok') },
      { label: 'Output', key: 'output', class: 'num', value: (m) => (m.pricing ? money(price(m, 'output_per_mtok'), { class: 'money output-price' }) : ''), sort: (m) => priceKey(m, 'output_per_mtok') },
      { label: 'Cached input', key: 'cached', class: 'num', value: (m) => money(price(m, 'cached_input_per_mtok')), sort: (m) => priceKey(m, 'cached_input_per_mtok') },
      { label: 'Capabilities', key: 'capabilities', value: (m) => h('div', { class: 'caps' }, m.capabilities.map((c) => badge(c))), sort: (m) => m.capabilities.length, desc: true },
    ], shown, { id: 'catalog-table', rowAttrs: (m) => ({ 'data-id': m.id }) })),
  );
}
