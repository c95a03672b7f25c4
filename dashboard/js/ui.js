// Small DOM helpers: elements, exact money and counts, tables, messages.

import { formatUsd } from './money.js';

/** h('div', {class: 'x', onclick: f}, child, ...): an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * An amount of USD as the API gave it: the exact digits, with the raw string in `data-usd`
 * (what the browser tests compare with the API) and in the tooltip.
 */
export function money(s, attrs = {}) {
  if (s === null || s === undefined) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'money', 'data-usd': s, title: `USD ${s} (exact)`, ...attrs }, formatUsd(s));
}

/** A count, grouped, with the exact integer in `data-value`. */
export function count(n, attrs = {}) {
  if (n === null || n === undefined) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'count', 'data-value': String(n), ...attrs }, Number(n).toLocaleString('en-US'));
}

/** A time as the API gave it, shown in the browser's zone. */
export function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  return h('time', { datetime: iso, title: iso }, d.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' }));
}

export function badge(text, kind = '') {
  return h('span', { class: `badge ${kind}` }, text);
}

/** A status word with its colour. */
export function status(s) {
  return badge(s, s === 'ok' ? 'ok' : s === 'rejected' ? 'warn' : 'bad');
}

/**
 * A table: columns [{label, value(row) → node, sort?(row) → comparable, class?}], with
 * clickable headers for sortable columns. Returns the <table>.
 */
export function table(columns, rows, { id, rowAttrs, empty = 'Nothing to show.' } = {}) {
  const state = { col: null, dir: 1 };
  const tbody = h('tbody');
  const render = () => {
    let list = rows.slice();
    if (state.col !== null) {
      const key = columns[state.col].sort;
      list.sort((a, b) => {
        const x = key(a);
        const y = key(b);
        if (x === y) return 0;
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        return (x < y ? -1 : 1) * state.dir;
      });
    }
    fill(tbody, list.length === 0
      ? h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, empty))
      : list.map((r) => h('tr', rowAttrs ? rowAttrs(r) : {}, columns.map((c) => h('td', { class: c.class }, c.value(r))))));
  };
  const head = h('tr', {}, columns.map((c, i) => {
    if (!c.sort) return h('th', { class: c.class }, c.label);
    const th = h('th', { class: `sortable ${c.class ?? ''}`, tabindex: 0, 'data-col': c.key ?? c.label }, c.label);
    const activate = () => {
      state.dir = state.col === i ? -state.dir : (c.desc ? -1 : 1);
      state.col = i;
      head.querySelectorAll('th').forEach((t) => t.removeAttribute('aria-sort'));
      th.setAttribute('aria-sort', state.dir > 0 ? 'ascending' : 'descending');
      render();
    };
    th.addEventListener('click', activate);
    th.addEventListener('keydown', (e) => { if (e.key === 'Enter') activate(); });
    return th;
  }));
  render();
  return h('table', { class: 'grid', id }, h('thead', {}, head), tbody);
}

/** A labelled figure of the overview's cards. */
export function card(label, value, extra, attrs = {}) {
  return h('div', { class: 'card', ...attrs }, h('div', { class: 'card-label' }, label), h('div', { class: 'card-value' }, value), extra ? h('div', { class: 'card-extra' }, extra) : null);
}

export function section(title, ...children) {
  return h('section', { class: 'panel' }, h('h2', {}, title), ...children);
}

export function errorBox(e) {
  return h('div', { class: 'error', role: 'alert' }, String(e?.message ?? e));
}

/**
 * What the API said about a refused request, for a form: its own message (and the field it
 * names), without the request path an error box adds for a page that failed to load.
 */
export function apiMessage(e) {
  const err = e?.body?.error;
  if (!err?.message) return String(e?.message ?? e);
  return err.param && !err.message.includes(err.param) ? `${err.param}: ${err.message}` : err.message;
}

/** A form's error line: the API's message, marked for assistive technology. */
export function formError(e) {
  return h('div', { class: 'error form-error', role: 'alert', 'data-status': e?.status ?? '' }, apiMessage(e));
}

/**
 * Sends a form's request: clears its message and the previous success's notice (`staleId`),
 * which no longer describes what happens next, and disables its button meanwhile; a refusal
 * is shown in the message as the API's own words.
 */
export async function sendForm({ message, submit, staleId }, send) {
  fill(message);
  document.getElementById(staleId)?.remove();
  submit.disabled = true;
  try {
    await send();
  } catch (err) {
    fill(message, formError(err));
  } finally {
    submit.disabled = false;
  }
}

export function loading() {
  return h('div', { class: 'muted loading' }, 'Loading…');
}

/** A <select> of [value, label] pairs. */
export function select(name, options, selected, attrs = {}) {
  return h('select', { name, ...attrs }, options.map(([v, l]) => h('option', { value: v, selected: v === selected ? true : undefined }, l)));
}

/** Downloads a Blob under a file name. */
export function download(blob, name) {
  const a = h('a', { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}
