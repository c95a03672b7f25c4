// The real `tollgate` binary (TOLLGATE_BIN) on a free port with a fresh SQLite database, the
// mock upstream of the TypeScript SDK suite (tests/sdk-ts/lib/mock-upstream.mjs) behind an
// OpenAI-kind and an Anthropic-kind provider, and helpers to call the admin API, a key's API
// and the gateway.

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMockUpstream, script } from '../../sdk-ts/lib/mock-upstream.mjs';

export { script };
export const ADMIN = 'browser-admin-token';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

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

async function call(base, token, method, p, body) {
  const r = await fetch(`${base}${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${text}`);
  return { json: text && r.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text, headers: r.headers };
}

export async function startGateway(env = {}) {
  const binary = process.env.TOLLGATE_BIN ?? path.join(ROOT, 'target/debug/tollgate');
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'tollgate-browser-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = spawn(binary, ['serve'], {
    env: {
      ...process.env,
      TOLLGATE_LISTEN: `127.0.0.1:${port}`,
      TOLLGATE_DATABASE_URL: `sqlite://${tmp}/browser.db`,
      TOLLGATE_ADMIN_TOKEN: ADMIN,
      TOLLGATE_SEEDS_DIR: path.join(ROOT, 'seeds'),
      TOLLGATE_LOG: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let gone = null;
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => resolve((gone = { code, signal })));
    proc.once('error', (error) => resolve((gone = { error: String(error) })));
  });
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
  } catch (e) {
    if (!gone) proc.kill('SIGKILL');
    await mock?.close();
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  const admin = async (method, p, body) => (await call(base, ADMIN, method, p, body)).json;
  return {
    base,
    mock,
    admin,
    /** Any call, refused or not: {status, json} (for the answers a form must show). */
    async raw(token, method, p, body) {
      const r = await fetch(`${base}${p}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: r.status, json: await r.json().catch(() => null) };
    },
    /** A key holder's API call. */
    as: async (key, method, p, body) => (await call(base, key, method, p, body)).json,
    /** A chat completion through the gateway with a key; resolves to {status, id}. */
    async chat(key, model, text) {
      const r = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model, max_tokens: 25000, messages: [{ role: 'user', content: text }] }),
      });
      await r.arrayBuffer();
      return { status: r.status, id: r.headers.get('x-request-id') };
    },
    async close() {
      await mock.close();
      if (!gone) proc.kill('SIGTERM');
      const { code, signal, error } = await exited;
      await rm(tmp, { recursive: true, force: true });
      if (error || code !== 0) throw new Error(`tollgate exited with ${error ?? code ?? signal}`);
    },
  };
}
