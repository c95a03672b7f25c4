// Audit: the call records (newest first) filtered by key, team, model, status and time, in the
// API's cursor pages; a record's full detail with its adjustments; CSV and JSONL exports of the
// whole selection.

import { api, isAdmin, scoped } from '../api.js';
import { h, money, count, time, status as statusBadge, table, fill, section, select, download, errorBox, badge } from '../ui.js';
import { directory, named } from './overview.js';
import { adjustmentForm, adjustmentNotice } from './adjust.js';

const STATUSES = ['', 'ok', 'upstream_error', 'timeout', 'client_cancelled', 'stream_error', 'interrupted', 'rejected'];
const FILTERS = ['key', 'team', 'model', 'status', 'from', 'to'];
export const PAGE_SIZE = 25;

// Cursors of the pages before the current one, per selection, so "Newer" goes back exactly.
const trail = { selection: null, cursors: [] };

// The API's answer to the last adjustment recorded, shown once in the detail rendered after it.
let recorded = null;

/** An ISO time from a datetime-local value (the browser's zone), or ''. */
function isoOf(local) {
  if (!local) return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

function localOf(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export async function render(el, { query, go }) {
  const admin = isAdmin();
  const filters = Object.fromEntries(FILTERS.map((f) => [f, query.get(f) ?? '']));
  if (!admin) {
    filters.key = '';
    filters.team = '';
  }
  const limit = Number(query.get('limit') ?? PAGE_SIZE);
  const cursor = query.get('cursor') ?? '';
  const selectionId = JSON.stringify(filters);
  if (trail.selection !== selectionId || !cursor) {
    trail.selection = selectionId;
    trail.cursors = [];
  }
  const [page, names, models] = await Promise.all([
    api.get(scoped.usage(), { ...filters, limit, cursor }),
    directory(),
    api.get('/v1/models', { status: 'all' }),
  ]);

  const form = h('form', { class: 'toolbar', id: 'audit-filters' },
    admin ? h('label', {}, 'Key', select('key', [['', 'All keys'], ...[...names.key].map(([id, n]) => [id, `${n} (${id})`])], filters.key)) : null,
    admin ? h('label', {}, 'Team', select('team', [['', 'All teams'], ...[...names.team].map(([id, n]) => [id, n === id ? id : `${n} (${id})`])], filters.team)) : null,
    h('label', {}, 'Model', select('model', [['', 'All models'], ...models.data.map((m) => [m.id, m.id])], filters.model)),
    h('label', {}, 'Status', select('status', STATUSES.map((s) => [s, s || 'Any']), filters.status)),
    h('label', {}, 'From', h('input', { type: 'datetime-local', name: 'from', value: localOf(filters.from) })),
    h('label', {}, 'To', h('input', { type: 'datetime-local', name: 'to', value: localOf(filters.to) })),
    h('button', { type: 'submit', id: 'apply-filters' }, 'Apply'),
    h('button', { type: 'button', class: 'secondary', onclick: () => go('audit', {}) }, 'Clear'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const q = {};
    for (const f of FILTERS) {
      const v = String(data.get(f) ?? '');
      q[f] = f === 'from' || f === 'to' ? isoOf(v) : v;
    }
    go('audit', q);
  });

  const detail = h('div', { id: 'record-detail' }, h('p', { class: 'muted' }, 'Select a call to see its full record and adjustments.'));
  // After an adjustment, the same page is read again (the record's adjustments and net cost
  // as the API now has them), with the record selected.
  const onRecorded = (answer) => {
    recorded = answer;
    go('audit', { ...Object.fromEntries(query), id: answer.usage_id });
  };
  const notice = recorded;
  recorded = null;
  let selectedRow = null;
  const showDetail = (record, row) => {
    selectedRow?.classList.remove('selected');
    selectedRow = row;
    row?.classList.add('selected');
    fill(detail, notice?.usage_id === record.id ? adjustmentNotice(notice) : null,
      recordDetail(record, names), admin ? adjustmentForm(record, onRecorded) : null);
  };

  const rows = page.data;
  const grid = table([
    { label: 'Started', value: (r) => time(r.created_at) },
    admin ? { label: 'Key', value: (r) => h('span', { title: r.key_id ?? '' }, names.key.get(r.key_id) ?? r.key_id ?? '—') } : null,
    { label: 'Model', value: (r) => h('span', {}, r.model, r.requested_model ? h('span', { class: 'muted' }, ` (as ${r.requested_model})`) : null) },
    { label: 'Status', value: (r) => statusBadge(r.status) },
    { label: 'In', class: 'num', value: (r) => count(r.input_tokens) },
    { label: 'Out', class: 'num', value: (r) => count(r.output_tokens) },
    { label: 'Cost', class: 'num', value: (r) => money(r.cost_usd, { class: 'money cost' }) },
    { label: 'Net', class: 'num', value: (r) => h('span', {}, money(r.net_cost_usd, { class: 'money net' }), r.adjustments.length ? h('span', {}, ' ', badge(`${r.adjustments.length} adj.`, 'warn')) : null) },
  ].filter(Boolean), rows, {
    id: 'audit-table',
    empty: 'No calls match.',
    rowAttrs: (r) => ({ class: 'clickable', 'data-id': r.id, tabindex: 0, onclick: (e) => showDetail(r, e.currentTarget), onkeydown: (e) => { if (e.key === 'Enter') showDetail(r, e.currentTarget); } }),
  });

  const here = { ...filters, limit: limit === PAGE_SIZE ? '' : limit };
  const pageNumber = trail.cursors.length + 1;
  const pager = h('div', { class: 'pager' },
    h('button', { type: 'button', class: 'secondary', id: 'page-newer', disabled: pageNumber === 1 ? true : undefined, onclick: () => {
      trail.cursors.pop();
      const back = trail.cursors.at(-1) ?? '';
      go('audit', { ...here, cursor: back });
    } }, '← Newer'),
    h('span', { id: 'page-number', 'data-page': pageNumber }, `Page ${pageNumber} · ${rows.length} calls`),
    h('button', { type: 'button', class: 'secondary', id: 'page-older', disabled: page.next_cursor ? undefined : true, onclick: () => {
      trail.cursors.push(page.next_cursor);
      go('audit', { ...here, cursor: page.next_cursor });
    } }, 'Older →'),
  );

  const exportError = h('span');
  const exporter = (format) => async () => {
    fill(exportError);
    try {
      const r = await api.raw('GET', scoped.usage(), { query: { ...filters, format } });
      download(await r.blob(), `tollgate-usage.${format}`);
    } catch (e) {
      fill(exportError, errorBox(e));
    }
  };

  fill(el,
    h('h1', {}, 'Audit', h('small', {}, admin ? 'Every call, newest first' : 'Your key\'s calls, newest first')),
    section('Filters', form,
      h('div', { class: 'inline' }, 'Export the whole selection:',
        h('button', { type: 'button', class: 'secondary', id: 'export-csv', onclick: exporter('csv') }, 'CSV'),
        h('button', { type: 'button', class: 'secondary', id: 'export-jsonl', onclick: exporter('jsonl') }, 'JSONL'), exportError)),
    h('div', { class: 'split' },
      section('Calls', grid, pager),
      section('Record', detail)),
  );
  const wanted = query.get('id');
  if (wanted) {
    const record = rows.find((r) => r.id === wanted);
    if (record) showDetail(record, el.querySelector(`tr[data-id="${CSS.escape(wanted)}"]`));
  }
}

/** Every field of a record, and its adjustments with the net cost. */
export function recordDetail(r, names) {
  const field = (label, value) => [h('dt', {}, label), h('dd', {}, value ?? h('span', { class: 'muted' }, '—'))];
  return h('div', { 'data-id': r.id },
    h('dl', { class: 'detail' },
      field('Call id', h('code', {}, r.id)),
      field('Started', time(r.created_at)),
      field('Finished', time(r.finished_at)),
      field('Key', r.key_id ? named(names, 'key', r.key_id) : null),
      field('Team', r.team),
      field('Model', h('a', { href: `#/models/${encodeURIComponent(r.model)}` }, r.model)),
      field('Requested as', r.requested_model),
      field('Provider', r.provider),
      field('Upstream model', r.upstream_model),
      field('Endpoint', r.endpoint),
      field('Streamed', r.streamed ? 'yes' : 'no'),
      field('Status', h('span', {}, statusBadge(r.status), ` HTTP ${r.http_status}`, r.upstream_status ? ` (upstream ${r.upstream_status})` : '')),
      field('Input tokens', count(r.input_tokens)),
      field('Cached input', count(r.cached_input_tokens)),
      field('Cache writes', count(r.cache_write_tokens)),
      field('Output tokens', count(r.output_tokens)),
      field('Reasoning tokens', count(r.reasoning_tokens)),
      field('Images', count(r.images)),
      field('Usage from', r.usage_source),
      field('Price version', r.price_version_id),
      field('Cost', money(r.cost_usd, { id: 'detail-cost' })),
      field('Net cost', money(r.net_cost_usd, { id: 'detail-net' })),
      field('Latency', `${r.latency_ms} ms`),
      field('First token', r.time_to_first_token_ms === null || r.time_to_first_token_ms === undefined ? null : `${r.time_to_first_token_ms} ms`),
      field('Error', r.error),
      field('Note', r.usage_note),
    ),
    h('h2', {}, 'Adjustments'),
    table([
      { label: 'When', value: (a) => time(a.created_at) },
      { label: 'Kind', value: (a) => a.kind },
      { label: 'Change', class: 'num', value: (a) => money(a.cost_delta_usd, { class: 'money delta' }) },
      { label: 'Reason', value: (a) => a.reason ?? '' },
    ], r.adjustments, { id: 'adjustments-table', empty: 'None: the recorded cost stands.', rowAttrs: (a) => ({ 'data-id': a.id }) }),
  );
}
