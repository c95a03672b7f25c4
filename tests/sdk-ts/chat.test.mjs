// The official `openai` TypeScript SDK against Tollgate's /v1/chat/completions, on a model
// behind an OpenAI-kind provider (passed through) and one behind an Anthropic-kind provider
// (translated): the streaming helper's final completion, stream iteration, plain calls and
// tool calls carry the content and exactly the usage and cost the gateway recorded.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import OpenAI from 'openai';
import { MODELS, expectedCost, startGateway } from './lib/gateway.mjs';
import { TEXT, TOOL, script } from './lib/mock-upstream.mjs';

const gw = await startGateway();
after(() => gw.close());
const client = gw.openai();

const TOOLS = [{ type: 'function', function: { name: TOOL.name, description: 'weather',
  parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];

/** The OpenAI usage object must say exactly what the mock reported and the gateway recorded. */
async function assertUsage(usage, requestId, u, { streamed }) {
  const record = await gw.generation(requestId);
  assert.equal(record.status, 'ok');
  assert.equal(record.streamed, streamed);
  assert.equal(record.usage_source, 'upstream');
  assert.deepEqual(
    { input: record.input_tokens, cached: record.cached_input_tokens, output: record.output_tokens },
    { input: u.input, cached: u.cached, output: u.output },
  );
  assert.ok(usage, 'the completion has usage');
  assert.equal(usage.prompt_tokens, record.input_tokens);
  assert.equal(usage.completion_tokens, record.output_tokens);
  assert.equal(usage.total_tokens, record.input_tokens + record.output_tokens);
  assert.equal(usage.prompt_tokens_details?.cached_tokens, record.cached_input_tokens);
  assert.equal(record.cost_usd, expectedCost(u));
  // OpenRouter-style `usage.cost`, a JSON number; the exact decimal is the record's.
  assert.equal(usage.cost, Number(record.cost_usd));
  return record;
}

for (const { id: model, kind } of MODELS) {
  test(`stream().finalChatCompletion() has the text and the recorded usage (${kind}-kind provider)`, async () => {
    const u = { input: 1234, cached: 200, output: 567 };
    const stream = client.chat.completions.stream({
      model, messages: [{ role: 'user', content: script({ usage: u }) }], stream_options: { include_usage: true },
    });
    const deltas = [];
    stream.on('content', (delta) => deltas.push(delta));
    const completion = await stream.finalChatCompletion();
    assert.equal(deltas.join(''), TEXT.join(''));
    assert.equal(completion.choices.length, 1);
    assert.equal(completion.choices[0].message.content, TEXT.join(''));
    assert.equal(completion.choices[0].message.role, 'assistant');
    assert.equal(completion.choices[0].finish_reason, 'stop');
    assert.equal(completion.model, model);
    const record = await assertUsage(completion.usage, gw.lastRequestId(), u, { streamed: true });
    assert.equal(record.model, model);
    // The helper's own sum over the run agrees.
    const total = await stream.totalUsage();
    assert.equal(total.prompt_tokens, u.input);
    assert.equal(total.completion_tokens, u.output);
  });

  test(`create({stream: true}) iterates chunks; usage only when asked, recorded either way (${kind}-kind provider)`, async () => {
    const u = { input: 321, cached: 0, output: 45 };
    const { data: stream, request_id: requestId, response } = await client.chat.completions
      .create({ model, messages: [{ role: 'user', content: script({ usage: u }) }], stream: true })
      .withResponse();
    assert.equal(response.headers.get('content-type')?.split(';')[0], 'text/event-stream');
    assert.ok(requestId, 'the SDK reads x-request-id');
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), TEXT.join(''));
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1, 'every chunk has the same id');
    assert.ok(chunks.every((c) => !c.usage), 'no usage chunk without stream_options.include_usage');
    if (kind === 'openai') {
      // The gateway asks the upstream for usage all the same, to meter the call.
      assert.equal(gw.mock.requests.at(-1).body.stream_options?.include_usage, true);
    }
    const record = await gw.generation(requestId);
    assert.equal(record.status, 'ok');
    assert.equal(record.streamed, true);
    assert.equal(record.input_tokens, u.input);
    assert.equal(record.output_tokens, u.output);
    assert.equal(record.cost_usd, expectedCost(u));
  });

  test(`create() without streaming has the text, usage and x-tollgate-cost (${kind}-kind provider)`, async () => {
    const u = { input: 2048, cached: 1024, output: 99 };
    const { data: completion, request_id: requestId, response } = await client.chat.completions
      .create({ model, messages: [{ role: 'user', content: script({ usage: u }) }] })
      .withResponse();
    assert.equal(completion.choices[0].message.content, TEXT.join(''));
    assert.equal(completion.choices[0].finish_reason, 'stop');
    assert.equal(completion._request_id, requestId);
    const record = await assertUsage(completion.usage, requestId, u, { streamed: false });
    assert.equal(response.headers.get('x-tollgate-cost'), record.cost_usd);
  });

  test(`stream() with tools: the helper assembles the streamed tool call (${kind}-kind provider)`, async () => {
    const u = { input: 777, cached: 0, output: 33 };
    const stream = client.chat.completions.stream({
      model, messages: [{ role: 'user', content: script({ usage: u }) }], tools: TOOLS,
      stream_options: { include_usage: true },
    });
    const done = [];
    stream.on('tool_calls.function.arguments.done', (e) => done.push(e));
    const completion = await stream.finalChatCompletion();
    const { message, finish_reason } = completion.choices[0];
    assert.equal(finish_reason, 'tool_calls');
    assert.equal(message.tool_calls.length, 1);
    const [call] = message.tool_calls;
    assert.equal(call.type, 'function');
    assert.ok(call.id, 'the tool call has an id');
    assert.equal(call.function.name, TOOL.name);
    assert.deepEqual(JSON.parse(call.function.arguments), TOOL.input);
    assert.equal(done.length, 1);
    assert.equal(done[0].name, TOOL.name);
    assert.deepEqual(JSON.parse(done[0].arguments), TOOL.input);
    await assertUsage(completion.usage, gw.lastRequestId(), u, { streamed: true });
  });

  test(`an upstream 429 reaches the SDK as RateLimitError with retry-after (${kind}-kind provider)`, async () => {
    const err = await client.chat.completions
      .create({ model, messages: [{ role: 'user', content: script({ status: 429, headers: { 'retry-after': '7' } }) }] })
      .then(() => null, (e) => e);
    assert.ok(err instanceof OpenAI.RateLimitError, `got ${err}`);
    assert.equal(err.status, 429);
    assert.equal(err.headers.get('retry-after'), '7');
    assert.equal(err.type, 'rate_limit_error');
    const record = await gw.generation(err.headers.get('x-request-id'));
    assert.equal(record.status, 'upstream_error');
    assert.equal(record.http_status, 429);
    assert.equal(record.upstream_status, 429);
    assert.equal(record.cost_usd, '0.000000');
  });

  test(`an overloaded upstream (529) is a 503 InternalServerError, also from the stream helper (${kind}-kind provider)`, async () => {
    const messages = [{ role: 'user', content: script({ status: 529 }) }];
    await assert.rejects(client.chat.completions.create({ model, messages }),
      (e) => e instanceof OpenAI.InternalServerError && e.status === 503);
    await assert.rejects(client.chat.completions.stream({ model, messages }).finalChatCompletion(),
      (e) => e instanceof OpenAI.InternalServerError && e.status === 503);
  });
}

test('an unknown model is NotFoundError, a wrong key AuthenticationError', async () => {
  const messages = [{ role: 'user', content: 'hi' }];
  await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404);
  await assert.rejects(
    client.chat.completions.stream({ model: 'no-such-model', messages }).finalChatCompletion(),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404);
  await assert.rejects(gw.openai({ apiKey: 'tg-wrong' }).chat.completions.create({ model: 'sdk-oa', messages }),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
});
