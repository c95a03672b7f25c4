// Shared set-up of the TypeScript SDK suite: starts the real `tollgate` binary (TOLLGATE_BIN)
// on a free port with a fresh SQLite database, the mock upstream behind two providers (one of
// each kind) with a model on each, and a caller key — as tests/sdk/conftest.py does for the
// Python suite. Each test file calls `startGateway()` once (node --test runs every file in its
// own process) and closes it in an `after` hook:
//
//   import { after } from 'node:test';
//   import { startGateway } from './lib/gateway.mjs';
//   const gw = await startGateway();
//   after(() => gw.close());
//   const client = gw.openai();           // or gw.anthropic()
//   ...; const record = await gw.generation(gw.lastRequestId());
//
// run.sh runs every `*.test.mjs` here, so a new endpoint's file (say responses.test.mjs for
// POST /v1/responses) needs only this; the mock upstream (lib/mock-upstream.mjs) answers the
// providers' own protocols, whatever the caller's endpoint.

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startMockUpstream } from './mock-upstream.mjs';

export const ADMIN = 'sdk-ts-admin-token';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The two models, behind an OpenAI-kind and an Anthropic-kind provider. */
export const MODELS = [
  { id: 'sdk-oa', kind: 'openai' },
  { id: 'sdk-an', kind: 'anthropic' },
];

/** Their price, USD per 1M tokens. */
export const PRICE = { input_per_mtok: '2.00', output_per_mtok: '6.00', cached_input_per_mtok: '0.20' };
const PICO_PER_TOKEN = { input: 2_000_000n, cached: 200_000n, output: 6_000_000n };

/** The exact cost of a call with this usage, as the gateway writes it (`cost_usd`). */
export function expectedCost({ input, cached = 0, output }) {
  const pico = BigInt(input - cached) * PICO_PER_TOKEN.input + BigInt(cached) * PICO_PER_TOKEN.cached
    + BigInt(output) * PICO_PER_TOKEN.output;
  const whole = pico / 10n ** 12n;
  const frac = (pico % 10n ** 12n).toString().padStart(12, '0').replace(/0+$/, '').padEnd(6, '0');
  return `${whole}.${frac}`;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function startGateway() {
  const binary = process.env.TOLLGATE_BIN ?? path.join(ROOT, 'target/debug/tollgate');
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'tollgate-sdk-ts-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = spawn(binary, ['serve'], {
    env: {
      ...process.env,
      TOLLGATE_LISTEN: `127.0.0.1:${port}`,
      TOLLGATE_DATABASE_URL: `sqlite://${tmp}/sdk.db`,
      TOLLGATE_ADMIN_TOKEN: ADMIN,
      TOLLGATE_SEEDS_DIR: path.join(ROOT, 'seeds'),
      TOLLGATE_LOG: 'warn',
    },
    // stdout would mix with the test runner's own report; the log goes to stderr.
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let gone = null;
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => resolve((gone = { code, signal })));
    proc.once('error', (error) => resolve((gone = { error: String(error) })));
  });

  // A set-up that fails part-way stops the server and the mock again: a running child would
  // keep the test process alive.
  let mock = null;
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (gone) throw new Error(`tollgate (${binary}) exited at start: ${JSON.stringify(gone)}`);
      try {
        if ((await fetch(`${base}/healthz`)).ok) break;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error('tollgate did not start within 15 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    mock = await startMockUpstream();
    const admin = adminClient(base);
    await admin('POST', '/admin/providers', { id: 'sdk-openai', kind: 'openai', base_url: `${mock.url}/v1` });
    await admin('POST', '/admin/providers', { id: 'sdk-anthropic', kind: 'anthropic', base_url: mock.url });
    for (const m of MODELS) {
      await admin('POST', '/admin/models', {
        id: m.id, name: m.id, provider: m.kind === 'openai' ? 'sdk-openai' : 'sdk-anthropic', price: PRICE,
        capabilities: ['chat', 'streaming', 'tools'],
      });
    }
    const { key } = await admin('POST', '/admin/keys', { name: 'sdk-ts' });
    return gateway({ base, key, mock, admin, async stop() {
      await mock.close();
      if (!gone) proc.kill('SIGTERM');
      const { code, signal, error } = await exited;
      await rm(tmp, { recursive: true, force: true });
      if (error || code !== 0) throw new Error(`tollgate exited with ${error ?? code ?? signal}`);
    } });
  } catch (e) {
    if (!gone) proc.kill('SIGKILL');
    await mock?.close();
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

function adminClient(base) {
  return async function admin(method, p, body) {
    const r = await fetch(`${base}${p}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
}

function gateway({ base, key, mock, admin, stop }) {
  // Every response the SDK clients receive, newest last: the stream helpers do not expose
  // their HTTP response, so a test reads `x-request-id` here.
  const seen = [];
  const recordingFetch = async (input, init) => {
    const r = await fetch(input, init);
    seen.push(r);
    return r;
  };
  return {
    base,
    key,
    mock,
    /** An admin API call: admin('POST', '/admin/keys', {...}) resolves to the JSON answer. */
    admin,
    seen,
    /** `x-request-id` of the last response an SDK client received. */
    lastRequestId() {
      const id = seen.at(-1)?.headers.get('x-request-id');
      if (!id) throw new Error('the last response had no x-request-id');
      return id;
    },
    /** The gateway's record of a call (GET /v1/generations/{id}, with the caller's key). */
    async generation(id) {
      const r = await fetch(`${base}/v1/generations/${id}`, { headers: { authorization: `Bearer ${key}` } });
      if (!r.ok) throw new Error(`GET /v1/generations/${id}: ${r.status} ${await r.text()}`);
      return (await r.json()).data;
    },
    /** SDK clients on the caller key, without retries; options override. */
    openai(opts = {}) {
      return new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0, fetch: recordingFetch, ...opts });
    },
    anthropic(opts = {}) {
      return new Anthropic({ baseURL: base, apiKey: key, maxRetries: 0, fetch: recordingFetch, ...opts });
    },
    /** Stops the mock and the server; fails unless the server exits 0 on SIGTERM. */
    close: stop,
  };
}
