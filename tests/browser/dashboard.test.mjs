// The dashboard in a real browser (headless Chromium driven by playwright-core) against the
// real binary: calls are made through the gateway first, then every figure the pages show is
// compared with the API's exact JSON. Any console error or uncaught page error fails the run.
// Screenshots of each page go to tests/browser/output/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startGateway, script, ADMIN } from './lib/gateway.mjs';

const OUTPUT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'output');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const PRICE_OA = { input_per_mtok: '2.00', output_per_mtok: '6.00', cached_input_per_mtok: '0.20' };
const PRICE_AN = { input_per_mtok: '3.00', output_per_mtok: '15.00', cached_input_per_mtok: '0.30' };
// bt-oa's first price, in effect from a past date; PRICE_OA replaces it now (two points of
// history).
const PRICE_OA_OLD = { input_per_mtok: '2.50', output_per_mtok: '7.50', effective_from: '2025-01-01T00:00:00Z' };

let gw;
let browser;
const consoleErrors = [];
const keys = {};

/** The amount a page shows, normalised: "$1,234.5" → "1234.5" and "0.004200" → "0.0042". */
function norm(s) {
  const t = String(s).replace(/[$,\s]/g, '');
  const [w, f = ''] = t.split('.');
  const frac = f.replace(/0+$/, '');
  return frac ? `${w}.${frac}` : w;
}

/** Asserts a `.money` element shows exactly the API's amount (attribute and text). */
async function assertMoney(locator, expected, what) {
  await locator.waitFor();
  const attr = await locator.getAttribute('data-usd');
  const text = await locator.textContent();
  assert.equal(attr, expected, `${what}: data-usd`);
  assert.equal(norm(text), norm(expected), `${what}: shown "${text}" vs API "${expected}"`);
}

async function assertCount(locator, expected, what) {
  assert.equal(await locator.getAttribute('data-value'), String(expected), what);
}

/** A share as the overview writes it (one decimal, half up), from the API's two counts. */
function percent(part, whole) {
  return `${(Math.round((part * 1000) / whole) / 10).toFixed(1)}%`;
}

/**
 * Runs `action`, which makes the page send requests the API refuses with `status` on purpose:
 * Chromium logs each as "Failed to load resource: … status of <status>", which is expected
 * here and taken out of the console errors; any other console error stays and fails the run.
 */
async function expectRefusals(status, action) {
  const before = consoleErrors.length;
  await action();
  const added = consoleErrors.splice(before);
  const expected = new RegExp(`Failed to load resource: the server responded with a status of ${status}\\b`);
  const others = added.filter((e) => !expected.test(e));
  consoleErrors.push(...others);
  assert.ok(added.length > others.length, `the page logged the expected ${status}`);
}

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, timezoneId: 'UTC', locale: 'en-GB' });
  const page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(`${page.url()}: ${msg.text()}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`${page.url()}: uncaught ${e.message}`));
  return page;
}

async function open(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  const pageId = `#page-${hash.replace(/^#\/?/, '').split(/[/?]/)[0]}`;
  await page.locator(`${pageId}[data-ready="true"]`).waitFor({ timeout: 15_000 });
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(OUTPUT, `${name}.png`), fullPage: true });
}

before(async () => {
  await mkdir(OUTPUT, { recursive: true });
  gw = await startGateway({ TOLLGATE_GLOBAL_BUDGET: '{"limit_usd":"100","period":"monthly","mode":"hard"}' });
  await gw.admin('POST', '/admin/providers', { id: 'bt-openai', kind: 'openai', base_url: `${gw.mock.url}/v1` });
  await gw.admin('POST', '/admin/providers', { id: 'bt-anthropic', kind: 'anthropic', base_url: gw.mock.url });
  await gw.admin('POST', '/admin/models', { id: 'bt-oa', name: 'Browser OA', provider: 'bt-openai', price: PRICE_OA_OLD, context_length: 128000, capabilities: ['chat', 'streaming', 'tools'], default_params: { temperature: '0.7', max_tokens: 256 } });
  await gw.admin('POST', '/admin/models', { id: 'bt-an', name: 'Browser AN', provider: 'bt-anthropic', price: PRICE_AN, context_length: 200000, capabilities: ['chat', 'streaming', 'tools'] });
  await gw.admin('POST', '/admin/models', { id: 'bt-cheap', name: 'Browser Cheap', provider: 'bt-openai', price: { input_per_mtok: '0.10', output_per_mtok: '0.40' }, context_length: 128000, capabilities: ['chat', 'streaming', 'tools'] });
  await gw.admin('POST', '/admin/models/bt-oa/prices', PRICE_OA);
  await gw.admin('PUT', '/admin/models/bt-oa/related', { related: ['bt-an', 'bt-cheap'] });
  await gw.admin('POST', '/admin/teams', { id: 'research', name: 'Research', budget: { limit_usd: '5.00', period: 'monthly', mode: 'hard' } });
  await gw.admin('POST', '/admin/teams', { id: 'ops', name: 'Ops' });
  for (const [name, body] of [
    ['alice', { team: 'research', budget: { limit_usd: '0.05', period: 'daily', mode: 'soft' } }],
    ['bob', { team: 'ops' }],
    ['carol', {}],
  ]) {
    const created = await gw.admin('POST', '/admin/keys', { name, ...body });
    keys[name] = { id: created.id, secret: created.key };
  }
  await gw.admin('POST', `/admin/keys/${keys.carol.id}/credits`, { amount_usd: '2.50', note: 'prepaid' });
  // Calls: varied usage, two models, one upstream error, one refused model.
  const plan = [
    ['alice', 'bt-oa', { usage: { input: 1234, cached: 200, output: 321 } }],
    ['alice', 'bt-oa', { usage: { input: 5000, output: 777 } }],
    ['alice', 'bt-an', { usage: { input: 999, output: 111 } }],
    ['alice', 'bt-oa', { status: 500 }],
    ['bob', 'bt-an', { usage: { input: 4321, cached: 1000, output: 1234 } }],
    ['bob', 'bt-oa', { usage: { input: 17, output: 3 } }],
    ['carol', 'bt-oa', { usage: { input: 100000, output: 20000 } }],
  ];
  for (let i = 0; i < 3; i += 1) {
    for (const [who, model, directive] of plan) {
      await gw.chat(keys[who].secret, model, script(directive));
    }
  }
  for (let i = 0; i < 4; i += 1) await gw.chat(keys.alice.secret, 'bt-cheap', `plain ${i}`);
  // A refund on one of alice's calls, shown beside its record.
  const page = await gw.as(keys.alice.secret, 'GET', '/v1/usage?limit=1&model=bt-an');
  keys.alice.refunded = page.data[0].id;
  await gw.admin('POST', `/admin/usage/${keys.alice.refunded}/adjustments`, { kind: 'refund', reason: 'browser test' });

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
});

after(async () => {
  await browser?.close();
  await gw?.close();
});

test('the dashboard is served with its assets and a strict content security policy', async () => {
  const r = await fetch(`${gw.base}/dashboard`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/html/);
  const csp = r.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /connect-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  const js = await fetch(`${gw.base}/dashboard/js/app.js`);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  const chart = await fetch(`${gw.base}/dashboard/vendor/chart.umd.min.js`);
  assert.equal(chart.status, 200);
  const again = await fetch(`${gw.base}/dashboard/js/app.js`, { headers: { 'if-none-match': js.headers.get('etag') } });
  assert.equal(again.status, 304);
  assert.equal((await fetch(`${gw.base}/dashboard/nope.js`)).status, 404);
});

test('admin: overview, budgets, audit, catalog, model, keys and savings show the API\'s figures', async () => {
  const page = await newPage();
  await page.goto(`${gw.base}/dashboard`);
  await page.locator('#page-login').waitFor();
  await shot(page, '00-login');
  await page.fill('#token', ADMIN);
  await page.click('#sign-in');
  await page.locator('#page-overview[data-ready="true"]').waitFor();
  assert.equal(await page.getAttribute('#who-role', 'data-role'), 'admin');

  // Overview: the period's totals, the previous period, top models and keys.
  const range = page.locator('#range');
  const from = await range.getAttribute('data-from');
  const to = await range.getAttribute('data-to');
  const q = (extra = '') => `/admin/spend?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}${extra}`;
  const total = (await gw.admin('GET', q())).total;
  const previous = (await gw.admin('GET', `/admin/spend?from=${encodeURIComponent(await range.getAttribute('data-prev-from'))}&to=${encodeURIComponent(from)}`)).total;
  assert.notEqual(total.cost_usd, '0.000000', 'calls were made first');
  await assertMoney(page.locator('#spend-current'), total.cost_usd, 'overview spend');
  await assertMoney(page.locator('#spend-previous'), previous.cost_usd, 'previous period');
  await assertCount(page.locator('#calls-current'), total.requests, 'calls');
  await assertCount(page.locator('#tokens-input'), total.input_tokens, 'input tokens');
  await assertCount(page.locator('#tokens-cached'), total.cached_input_tokens, 'cached tokens');
  await assertCount(page.locator('#tokens-output'), total.output_tokens, 'output tokens');
  // The error rate: the spend report's exact counts of the whole period, which are the
  // ledger's (every record of the period, read here in one page).
  const usage = await gw.admin('GET', `/admin/usage?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&limit=1000`);
  assert.ok(usage.data.length < 1000 && !usage.next_cursor);
  assert.equal(total.requests, usage.data.length);
  assert.equal(total.errors, usage.data.filter((c) => c.status !== 'ok').length);
  assert.ok(total.errors > 0);
  assert.equal(await page.getAttribute('#error-rate', 'data-errors'), String(total.errors));
  assert.equal(await page.getAttribute('#error-rate', 'data-calls'), String(total.requests));
  assert.equal(await page.textContent('#error-rate'), percent(total.errors, total.requests));
  await assertCount(page.locator('#errors-current'), total.errors, 'failed calls');
  const byModel = (await gw.admin('GET', q('&group_by=model'))).rows;
  const failing = byModel.filter((r) => r.errors > 0);
  assert.ok(failing.length > 0);
  assert.equal(await page.locator('#errors-table tbody tr[data-id]').count(), failing.length);
  for (const row of failing) {
    await assertCount(page.locator(`#errors-table tr[data-id="${row.model}"] .count.errors`), row.errors, `failed calls of ${row.model}`);
  }
  for (const row of byModel) {
    await assertMoney(page.locator(`#top-models tr[data-id="${row.model}"] .money`), row.cost_usd, `top model ${row.model}`);
  }
  const byKey = (await gw.admin('GET', q('&group_by=key'))).rows;
  for (const row of byKey) {
    await assertMoney(page.locator(`#top-keys tr[data-id="${row.key}"] .money`), row.cost_usd, `top key ${row.key}`);
  }
  // Top models are ordered by spend, biggest first.
  const shownOrder = await page.locator('#top-models tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.id));
  const apiOrder = byModel.slice().sort((a, b) => Number(b.cost_usd) - Number(a.cost_usd)).map((r) => r.model);
  assert.deepEqual(shownOrder, apiOrder);
  assert.equal(await page.locator('#spend-chart').count(), 1);
  await shot(page, '01-overview-admin');
  await page.selectOption('#stack-by', 'key');
  await page.locator('#page-overview[data-ready="true"]').waitFor();
  await page.selectOption('#grain', 'hour');
  await page.locator('#page-overview[data-ready="true"]').waitFor();
  await shot(page, '02-overview-by-key-hourly');

  // Budgets: each row against the key's or team's status.
  await open(page, '#/budgets');
  const alice = await gw.admin('GET', `/admin/keys/${keys.alice.id}`);
  const research = await gw.admin('GET', '/admin/teams/research');
  const expected = [
    ...alice.budgets,
    research.budget_status,
  ];
  for (const b of expected) {
    const row = page.locator(`#budgets-table tr[data-scope="${b.scope}"][data-id="${b.id}"]`);
    await assertMoney(row.locator('.money.limit'), b.limit_usd, `${b.scope} ${b.id} limit`);
    await assertMoney(row.locator('.money.spent'), b.spent_usd, `${b.scope} ${b.id} spent`);
    await assertMoney(row.locator('.money.remaining'), b.remaining_usd, `${b.scope} ${b.id} remaining`);
  }
  assert.ok(expected.some((b) => b.scope === 'global'), 'the gateway budget is listed');
  const ledger = await gw.admin('GET', `/admin/keys/${keys.carol.id}/credits`);
  const balanceRow = page.locator(`#balances-table tr[data-owner="key"][data-id="${keys.carol.id}"]`);
  await assertMoney(balanceRow.locator('.money.balance'), ledger.balance_usd, 'carol balance');
  await balanceRow.locator('button').click();
  await page.locator('#ledger-table').waitFor();
  const amounts = await page.locator('#ledger-table .money.amount').evaluateAll((els) => els.map((e) => e.dataset.usd));
  assert.deepEqual(amounts, ledger.data.map((e) => e.amount_usd));
  assert.ok(ledger.data.some((e) => e.kind === 'usage') && ledger.data.some((e) => e.kind === 'grant'));
  await shot(page, '03-budgets-admin');

  // Audit: pages of 5 through the cursor, as the API pages them; a record's detail.
  await open(page, '#/audit?limit=5');
  const apiIds = [];
  let cursor = '';
  for (;;) {
    const p = await gw.admin('GET', `/admin/usage?limit=5${cursor ? `&cursor=${cursor}` : ''}`);
    apiIds.push(p.data.map((r) => [r.id, r.cost_usd, r.net_cost_usd]));
    if (!p.next_cursor) break;
    cursor = p.next_cursor;
  }
  assert.ok(apiIds.length >= 4, 'several pages');
  for (let i = 0; i < apiIds.length; i += 1) {
    assert.equal(await page.getAttribute('#page-number', 'data-page'), String(i + 1));
    const rows = await page.locator('#audit-table tbody tr[data-id]').evaluateAll((trs) => trs.map((tr) => [tr.dataset.id, tr.querySelector('.money.cost').dataset.usd, tr.querySelector('.money.net').dataset.usd]));
    assert.deepEqual(rows, apiIds[i], `audit page ${i + 1}`);
    if (i === 1) await shot(page, '04-audit-page-2');
    if (i < apiIds.length - 1) {
      await page.click('#page-older');
      await page.locator(`#page-number[data-page="${i + 2}"]`).waitFor();
    } else {
      assert.equal(await page.locator('#page-older').isDisabled(), true);
    }
  }
  await page.click('#page-newer');
  await page.locator(`#page-number[data-page="${apiIds.length - 1}"]`).waitFor();
  // Filtered by key and model, then a refunded record's detail.
  await open(page, `#/audit?key=${keys.alice.id}&model=bt-an`);
  const filtered = await gw.admin('GET', `/admin/usage?key=${keys.alice.id}&model=bt-an`);
  const shownIds = await page.locator('#audit-table tbody tr[data-id]').evaluateAll((trs) => trs.map((tr) => tr.dataset.id));
  assert.deepEqual(shownIds, filtered.data.map((r) => r.id));
  await page.click(`#audit-table tr[data-id="${keys.alice.refunded}"]`);
  const refunded = filtered.data.find((r) => r.id === keys.alice.refunded);
  await assertMoney(page.locator('#detail-cost'), refunded.cost_usd, 'detail cost');
  await assertMoney(page.locator('#detail-net'), refunded.net_cost_usd, 'detail net cost');
  await assertMoney(page.locator('#adjustments-table .money.delta'), refunded.adjustments[0].cost_delta_usd, 'adjustment');
  assert.equal(refunded.net_cost_usd, '0.000000');
  // Export: the CSV download is the API's.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
  const csvPath = path.join(OUTPUT, 'export.csv');
  await download.saveAs(csvPath);
  const csv = await (await import('node:fs/promises')).readFile(csvPath, 'utf8');
  const apiCsv = await gw.admin('GET', `/admin/usage?key=${keys.alice.id}&model=bt-an&format=csv`);
  assert.equal(csv, apiCsv);
  await shot(page, '05-audit-detail');

  // Catalog: prices as the API writes them; sorting by input price.
  await open(page, '#/catalog');
  const models = (await gw.admin('GET', '/v1/models')).data;
  for (const m of models.filter((x) => x.pricing)) {
    await assertMoney(page.locator(`#catalog-table tr[data-id="${m.id}"] .money.input-price`), m.pricing.input_per_mtok, `${m.id} input price`);
    await assertMoney(page.locator(`#catalog-table tr[data-id="${m.id}"] .money.output-price`), m.pricing.output_per_mtok, `${m.id} output price`);
  }
  await page.click('#catalog-table th[data-col="input"]');
  const sorted = await page.locator('#catalog-table tbody tr .money.input-price').evaluateAll((els) => els.map((e) => Number(e.dataset.usd)));
  assert.deepEqual(sorted, sorted.slice().sort((a, b) => a - b), 'ascending by input price');
  await shot(page, '06-catalog');

  // A model page: price history and the what-if of its real usage on related models.
  await open(page, '#/models/bt-oa');
  const detail = await gw.admin('GET', '/v1/models/bt-oa');
  await assertMoney(page.locator('#current-price [data-rate="input_per_mtok"]'), detail.pricing.input_per_mtok, 'current input price');
  assert.equal(await page.locator('#price-history-table tbody tr').count(), detail.price_history.length);
  assert.equal(detail.price_history.length, 2);
  const spent = (await gw.admin('GET', `/admin/spend?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&model=bt-oa`)).total;
  const related = await gw.admin('GET', `/v1/models/bt-oa/related?input_tokens=${spent.input_tokens}&output_tokens=${spent.output_tokens}`);
  const relatedRows = related.related;
  assert.ok(relatedRows.length >= 2);
  for (const r of relatedRows) {
    await assertMoney(page.locator(`#related-table tr[data-id="${r.id}"] .money.what-if`), r.estimated_cost_usd, `what-if on ${r.id}`);
  }
  await shot(page, '07-model');

  // Keys: create one (secret shown once), disable it, revoke it.
  await open(page, '#/keys');
  await page.fill('#new-key-name', 'from-the-dashboard');
  await page.click('#create-key-submit');
  const secret = await page.locator('#new-key-secret').textContent();
  assert.match(secret, /^tg-/);
  const created = (await gw.admin('GET', '/admin/keys')).find((k) => k.name === 'from-the-dashboard');
  assert.equal(created.key_prefix, secret.slice(0, 10));
  await shot(page, '08-keys-created');
  await page.click('#new-secret button');
  await page.locator('#page-keys[data-ready="true"]').waitFor();
  await page.click(`#keys-table tr[data-id="${created.id}"] button[data-action="disable"]`);
  await page.locator(`#keys-table tr[data-id="${created.id}"] button[data-action="enable"]`).waitFor();
  assert.equal((await gw.admin('GET', `/admin/keys/${created.id}`)).disabled, true);
  await page.click(`#keys-table tr[data-id="${created.id}"] button[data-action="revoke"]`);
  await page.click(`#keys-table tr[data-id="${created.id}"] button[data-action="revoke"]`);
  await page.locator(`#keys-table tr[data-id="${created.id}"] button[data-action="revoke"]`).waitFor({ state: 'detached' });
  assert.ok((await gw.admin('GET', '/admin/keys')).find((k) => k.id === created.id).revoked_at);
  for (const row of byKey) {
    await assertMoney(page.locator(`#keys-table tr[data-id="${row.key}"] .money.key-spend`), row.cost_usd, `key spend ${row.key}`);
  }
  await shot(page, '09-keys');

  // Savings: the recommendations, biggest first.
  await open(page, '#/savings');
  const rec = await gw.admin('GET', `/admin/recommendations?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
  const savings = rec.models.flatMap((m) => m.alternatives.filter((a) => Number(a.saving_usd) > 0).map((a) => a.saving_usd));
  const shownSavings = await page.locator('#savings-table .money.saving').evaluateAll((els) => els.map((e) => e.dataset.usd));
  assert.deepEqual(shownSavings, savings.slice().sort((a, b) => Number(b) - Number(a)));
  assert.ok(shownSavings.length > 0);
  await shot(page, '10-savings');
  await page.context().close();
});

test('a key holder signs in through the URL fragment and sees only their own data', async () => {
  const page = await newPage();
  await page.goto(`${gw.base}/dashboard#token=${keys.alice.secret}`);
  await page.locator('#page-overview[data-ready="true"]').waitFor();
  assert.equal(new URL(page.url()).hash.includes('token'), false, 'the token left the address bar');
  assert.equal(await page.evaluate(() => location.href.includes('tg-')), false);
  const stored = await page.evaluate(() => sessionStorage.getItem('tollgate.credential'));
  assert.ok(stored.includes(keys.alice.secret), 'kept in sessionStorage');
  assert.equal(await page.getAttribute('#who-role', 'data-role'), 'key');
  const navPages = await page.locator('#nav a').evaluateAll((as) => as.map((a) => a.dataset.page));
  assert.deepEqual(navPages, ['overview', 'budgets', 'audit', 'catalog']);

  const range = page.locator('#range');
  const from = encodeURIComponent(await range.getAttribute('data-from'));
  const to = encodeURIComponent(await range.getAttribute('data-to'));
  const own = (await gw.as(keys.alice.secret, 'GET', `/v1/spend?from=${from}&to=${to}`)).total;
  const everyone = (await gw.admin('GET', `/admin/spend?from=${from}&to=${to}`)).total;
  assert.notEqual(own.cost_usd, everyone.cost_usd);
  await assertMoney(page.locator('#spend-current'), own.cost_usd, 'own spend');
  await assertCount(page.locator('#calls-current'), own.requests, 'own calls');
  const topKeys = await page.locator('#top-keys tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.id));
  assert.deepEqual(topKeys, [keys.alice.id]);
  await shot(page, '11-overview-key');

  // Audit: alice's records only, as /v1/usage gives them.
  await open(page, '#/audit?limit=100');
  const mine = await gw.as(keys.alice.secret, 'GET', '/v1/usage?limit=100');
  const ids = await page.locator('#audit-table tbody tr[data-id]').evaluateAll((trs) => trs.map((tr) => tr.dataset.id));
  assert.deepEqual(ids, mine.data.map((r) => r.id));
  const all = await gw.admin('GET', '/admin/usage?limit=1000');
  const others = new Set(all.data.filter((r) => r.key_id !== keys.alice.id).map((r) => r.id));
  assert.ok(others.size > 0);
  assert.equal(ids.filter((id) => others.has(id)).length, 0, 'no other key\'s call is shown');
  // A key filter in the address is ignored: the server answers for the caller's key only.
  await open(page, `#/audit?key=${keys.bob.id}`);
  const idsWithBob = await page.locator('#audit-table tbody tr[data-id]').evaluateAll((trs) => trs.map((tr) => tr.dataset.id));
  assert.equal(idsWithBob.filter((id) => others.has(id)).length, 0);
  await shot(page, '12-audit-key');

  // Budgets: the key's own, team's and gateway's, as /v1/key gives them.
  await open(page, '#/budgets');
  const { data: me } = await gw.as(keys.alice.secret, 'GET', '/v1/key');
  for (const b of me.budgets) {
    const row = page.locator(`#budgets-table tr[data-scope="${b.scope}"][data-id="${b.id}"]`);
    await assertMoney(row.locator('.money.spent'), b.spent_usd, `own ${b.scope} budget spent`);
    await assertMoney(row.locator('.money.limit'), b.limit_usd, `own ${b.scope} budget limit`);
  }
  assert.equal(await page.locator('#alerts-table').count(), 0, 'no alerts of others');
  await shot(page, '13-budgets-key');

  // Admin pages are refused, and the admin API answers 401 to the key anyway.
  await page.evaluate(() => { location.hash = '#/keys'; });
  await page.locator('#admin-only').waitFor();
  const refused = await fetch(`${gw.base}/admin/keys`, { headers: { authorization: `Bearer ${keys.alice.secret}` } });
  assert.equal(refused.status, 401);

  // The playground: a streamed answer with the key, its tokens and exact cost from the record.
  await open(page, '#/models/bt-oa');
  assert.equal(await page.inputValue('#pg-temperature'), '0.7', 'default parameters from the catalog');
  assert.equal(await page.inputValue('#pg-max_tokens'), '256');
  await page.fill('#pg-system', 'Be brief.');
  await page.fill('#pg-prompt', 'Hello there');
  await page.click('#pg-send');
  const turn = page.locator('#pg-chat .turn.assistant[data-state="done"]');
  await turn.waitFor({ timeout: 15_000 });
  assert.equal((await turn.locator('.text').textContent()), 'Hello from the mock upstream');
  const callId = await turn.getAttribute('data-call');
  const { data: record } = await gw.as(keys.alice.secret, 'GET', `/v1/generations/${callId}`);
  await assertMoney(turn.locator('.money.pg-cost'), record.cost_usd, 'playground turn cost');
  await assertCount(turn.locator('.count.pg-in'), record.input_tokens, 'playground input tokens');
  await assertCount(turn.locator('.count.pg-out'), record.output_tokens, 'playground output tokens');
  const sent = gw.mock.requests.at(-1).body;
  assert.equal(sent.messages[0].role, 'system');
  assert.equal(sent.temperature, 0.7);
  await shot(page, '14-playground');
  await page.click('#sign-out');
  await page.locator('#page-login').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('tollgate.credential')), null);
  await page.context().close();
});

test('admin forms: a credit grant and an adjustment, sent as exact strings and checked by the server', async () => {
  const page = await newPage();
  await page.goto(`${gw.base}/dashboard#token=${ADMIN}`);
  await page.locator('#page-overview[data-ready="true"]').waitFor();

  // Grant: an amount with more significant digits than a float holds, to bob (no account yet).
  await open(page, '#/budgets');
  const amount = '1234567.123456789012';
  assert.notEqual(String(Number(amount)), amount, 'a float would not keep this amount');
  const bobCredits = `/admin/keys/${keys.bob.id}/credits`;
  assert.equal((await gw.admin('GET', bobCredits)).data.length, 0);
  await page.selectOption('#grant-account', `key:${keys.bob.id}`);
  await page.fill('#grant-amount', amount);
  await page.fill('#grant-note', 'from the dashboard');
  await page.click('#grant-submit');
  await page.locator('#grant-done').waitFor();
  await page.locator('#page-budgets[data-ready="true"] #ledger-table').waitFor();
  const bob = await gw.admin('GET', bobCredits);
  assert.equal(bob.data.length, 1);
  assert.equal(norm(bob.data[0].amount_usd), amount);
  assert.equal(bob.data[0].note, 'from the dashboard');
  await assertMoney(page.locator('#grant-done .money.granted'), bob.data[0].amount_usd, 'granted amount');
  await assertMoney(page.locator('#grant-done .money.new-balance'), bob.balance_usd, 'balance after the grant');
  await assertMoney(page.locator('.money.ledger-balance'), bob.balance_usd, 'ledger balance');
  await assertMoney(page.locator(`#balances-table tr[data-owner="key"][data-id="${keys.bob.id}"] .money.balance`), bob.balance_usd, 'bob in the balances');
  const entries = await page.locator('#ledger-table .money.amount').evaluateAll((els) => els.map((e) => e.dataset.usd));
  assert.deepEqual(entries, bob.data.map((e) => e.amount_usd));
  await shot(page, '15-budgets-granted');

  // Refused grants: the API's own message in the form, and nothing written.
  const carolCredits = `/admin/keys/${keys.carol.id}/credits`;
  const carolBefore = await gw.admin('GET', carolCredits);
  for (const bad of ['-5', '1.0000000000001', 'ten dollars']) {
    const api = await gw.raw(ADMIN, 'POST', carolCredits, { amount_usd: bad, kind: 'grant' });
    assert.equal(api.status, 400, bad);
    await page.selectOption('#grant-account', `key:${keys.carol.id}`);
    await page.fill('#grant-amount', bad);
    await expectRefusals(400, async () => {
      await page.click('#grant-submit');
      await page.locator('#grant-message .form-error').waitFor();
    });
    const shown = await page.textContent('#grant-message .form-error');
    assert.ok(shown.includes(api.json.error.message), `"${shown}" shows "${api.json.error.message}"`);
  }
  await shot(page, '16-budgets-grant-refused');
  assert.deepEqual((await gw.admin('GET', carolCredits)).data, carolBefore.data);

  // An adjustment: a correction of −1 picodollar on one of alice's calls, shown beside it.
  const calls = await gw.admin('GET', `/admin/usage?key=${keys.alice.id}&model=bt-oa&status=ok`);
  const target = calls.data[0];
  assert.equal(target.adjustments.length, 0);
  await open(page, `#/audit?key=${keys.alice.id}&model=bt-oa`);
  await page.click(`#audit-table tr[data-id="${target.id}"]`);
  await page.selectOption('#adjust-kind', 'correction');
  await page.fill('#adjust-amount', '-0.000000000001');
  await page.fill('#adjust-reason', 'rounding');
  await page.click('#adjust-submit');
  await page.locator('#adjust-done').waitFor();
  await page.locator(`#page-audit[data-ready="true"] #record-detail [data-id="${target.id}"]`).waitFor();
  const after = (await gw.admin('GET', `/admin/usage?key=${keys.alice.id}&model=bt-oa&status=ok`)).data.find((r) => r.id === target.id);
  assert.equal(after.adjustments.length, 1);
  const adj = after.adjustments[0];
  assert.equal(norm(adj.cost_delta_usd), '-0.000000000001');
  assert.equal(adj.reason, 'rounding');
  assert.equal(adj.kind, 'correction');
  await assertMoney(page.locator(`#adjustments-table tr[data-id="${adj.id}"] .money.delta`), adj.cost_delta_usd, 'the new adjustment');
  await assertMoney(page.locator('#detail-net'), after.net_cost_usd, 'net cost after the adjustment');
  await assertMoney(page.locator('#adjust-done .money.recorded-net'), after.net_cost_usd, 'the answer\'s net cost');
  const row = page.locator(`#audit-table tr[data-id="${target.id}"]`);
  await assertMoney(row.locator('.money.net'), after.net_cost_usd, 'the record\'s row');
  assert.match(await row.textContent(), /1 adj\./);
  await shot(page, '17-audit-adjusted');

  // Refused adjustments: the API's message in the form, nothing appended.
  for (const [kind, delta, status] of [['correction', '', 400], ['correction', '-1000', 422], ['correction', '0.1234567890123', 400]]) {
    const api = await gw.raw(ADMIN, 'POST', `/admin/usage/${target.id}/adjustments`, { kind, cost_delta_usd: delta });
    assert.equal(api.status, status, `${kind} ${delta}`);
    await page.fill('#adjust-amount', delta);
    await expectRefusals(status, async () => {
      await page.click('#adjust-submit');
      await page.locator('#adjust-message .form-error').waitFor();
    });
    const shown = await page.textContent('#adjust-message .form-error');
    assert.ok(shown.includes(api.json.error.message), `"${shown}" shows "${api.json.error.message}"`);
  }
  await shot(page, '18-audit-adjustment-refused');
  const still = (await gw.admin('GET', `/admin/usage?key=${keys.alice.id}&model=bt-oa&status=ok`)).data.find((r) => r.id === target.id);
  assert.equal(still.adjustments.length, 1);
  await page.context().close();
});

test('a key holder sees no admin form, and the API refuses them the same requests', async () => {
  const page = await newPage();
  await page.goto(`${gw.base}/dashboard#token=${keys.alice.secret}`);
  await page.locator('#page-overview[data-ready="true"]').waitFor();
  await open(page, '#/budgets');
  assert.equal(await page.locator('#grant-form').count(), 0);
  await open(page, '#/audit');
  const first = page.locator('#audit-table tbody tr[data-id]').first();
  const id = await first.getAttribute('data-id');
  await first.click();
  await page.locator(`#record-detail [data-id="${id}"]`).waitFor();
  assert.equal(await page.locator('#adjust-form').count(), 0);
  const ledgerBefore = await gw.admin('GET', `/admin/keys/${keys.alice.id}/credits`);
  const recordBefore = (await gw.admin('GET', `/admin/usage?key=${keys.alice.id}&limit=1000`)).data.find((r) => r.id === id);
  // The same requests the forms send, from the page with the key's credential.
  let answers;
  await expectRefusals(401, async () => {
    answers = await page.evaluate(async ({ keyId, callId }) => {
      const { token } = JSON.parse(sessionStorage.getItem('tollgate.credential'));
      const post = async (p, body) => {
        const r = await fetch(p, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
        return r.status;
      };
      return [
        await post(`/admin/keys/${encodeURIComponent(keyId)}/credits`, { amount_usd: '100' }),
        await post(`/admin/usage/${encodeURIComponent(callId)}/adjustments`, { kind: 'refund' }),
      ];
    }, { keyId: keys.alice.id, callId: id });
  });
  assert.deepEqual(answers, [401, 401]);
  assert.deepEqual((await gw.admin('GET', `/admin/keys/${keys.alice.id}/credits`)).data, ledgerBefore.data);
  const recordAfter = (await gw.admin('GET', `/admin/usage?key=${keys.alice.id}&limit=1000`)).data.find((r) => r.id === id);
  assert.deepEqual(recordAfter.adjustments, recordBefore.adjustments);
  await shot(page, '19-audit-key-no-form');
  await page.context().close();
});

test('a wrong credential is refused on the sign-in page', async () => {
  const page = await newPage();
  await page.goto(`${gw.base}/dashboard`);
  await page.fill('#token', 'tg-not-a-key');
  // The refused sign-in is an expected 401: not a page error.
  const before = consoleErrors.length;
  await page.click('#sign-in');
  await page.locator('#login-error .error').waitFor();
  consoleErrors.splice(before);
  await page.context().close();
});

test('no console errors on any page', () => {
  assert.deepEqual(consoleErrors, []);
});
