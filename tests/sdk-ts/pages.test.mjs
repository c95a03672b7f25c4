// The JavaScript examples of the model pages (GET /models/{id}.md) run as written, with the
// official `openai` and `@anthropic-ai/sdk` packages, against the gateway the page names: on a
// model behind each provider kind. Each example is written beside node_modules, so that its
// imports resolve, and run by node as an ES module (they use top-level await).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MODELS, startGateway } from './lib/gateway.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);

const gw = await startGateway();
after(() => gw.close());

for (const { id } of MODELS) {
  test(`the JavaScript examples of the page of ${id} run as written`, async () => {
    const page = await (await fetch(`${gw.base}/models/${id}.md`)).text();
    const examples = [...page.matchAll(/```javascript\n([\s\S]*?)\n```/g)].map((m) => m[1]);
    // Chat Completions, Responses, Messages.
    assert.equal(examples.length, 3, page);
    for (const [i, code] of examples.entries()) {
      assert.ok(code.includes(gw.base) && code.includes(`"${id}"`), code);
      const file = path.join(HERE, `.page-example-${process.pid}-${id}-${i}.mjs`);
      await writeFile(file, code);
      try {
        const { stdout } = await run(process.execPath, [file], {
          env: { ...process.env, TOLLGATE_API_KEY: gw.key },
        });
        assert.ok(stdout.trim(), `printed nothing:\n${code}`);
      } finally {
        await rm(file, { force: true });
      }
    }
  });
}
