// The official `@anthropic-ai/sdk` TypeScript SDK against Tollgate's /v1/messages, on a model
// behind an Anthropic-kind provider (passed through) and one behind an OpenAI-kind provider
// (translated): the streaming helper's final message, plain calls and tool use carry the
// content and exactly the usage the gateway recorded; errors arrive as the SDK's own classes.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { MODELS, expectedCost, startGateway } from './lib/gateway.mjs';
import { TEXT, TOOL, script } from './lib/mock-upstream.mjs';

const gw = await startGateway();
after(() => gw.close());
const client = gw.anthropic();

const TOOLS = [{ name: TOOL.name, description: 'weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];

/** Anthropic usage: input_tokens leaves out cache reads and writes, which the record counts as input. */
async function assertUsage(usage, requestId, u, { streamed }) {
  const record = await gw.generation(requestId);
  assert.equal(record.status, 'ok');
  assert.equal(record.streamed, streamed);
  assert.equal(record.usage_source, 'upstream');
  assert.deepEqual(
    { input: record.input_tokens, cached: record.cached_input_tokens, output: record.output_tokens },
    { input: u.input, cached: u.cached, output: u.output },
  );
  assert.ok(usage, 'the message has usage');
  assert.equal(usage.input_tokens, record.input_tokens - record.cached_input_tokens - record.cache_write_tokens);
  assert.equal(usage.cache_read_input_tokens ?? 0, record.cached_input_tokens);
  assert.equal(usage.cache_creation_input_tokens ?? 0, record.cache_write_tokens);
  assert.equal(usage.output_tokens, record.output_tokens);
  assert.equal(record.cost_usd, expectedCost(u));
  return record;
}

for (const { id: model, kind } of MODELS) {
  test(`messages.stream().finalMessage() has the text and the recorded usage (${kind}-kind provider)`, async () => {
    const u = { input: 1234, cached: 200, output: 567 };
    const stream = client.messages.stream({ model, max_tokens: 1000, messages: [{ role: 'user', content: script({ usage: u }) }] });
    const deltas = [];
    stream.on('text', (delta) => deltas.push(delta));
    const message = await stream.finalMessage();
    assert.equal(deltas.join(''), TEXT.join(''));
    assert.equal(message.role, 'assistant');
    assert.equal(message.model, model);
    assert.equal(message.stop_reason, 'end_turn');
    assert.equal(message.content.length, 1);
    assert.equal(message.content[0].type, 'text');
    assert.equal(message.content[0].text, TEXT.join(''));
    await assertUsage(message.usage, gw.lastRequestId(), u, { streamed: true });
  });

  test(`messages.create() without streaming has the text, usage and x-tollgate-cost (${kind}-kind provider)`, async () => {
    const u = { input: 2048, cached: 1024, output: 99 };
    const { data: message, response } = await client.messages
      .create({ model, max_tokens: 1000, messages: [{ role: 'user', content: script({ usage: u }) }] })
      .withResponse();
    assert.equal(message.type, 'message');
    assert.equal(message.content[0].text, TEXT.join(''));
    assert.equal(message.stop_reason, 'end_turn');
    // The SDK reads the call id from `request-id`.
    assert.equal(message._request_id, response.headers.get('x-request-id'));
    const record = await assertUsage(message.usage, response.headers.get('x-request-id'), u, { streamed: false });
    assert.equal(response.headers.get('x-tollgate-cost'), record.cost_usd);
  });

  test(`messages.create({stream: true}) iterates the raw events (${kind}-kind provider)`, async () => {
    const u = { input: 321, cached: 0, output: 45 };
    const { data: stream, response } = await client.messages
      .create({ model, max_tokens: 1000, messages: [{ role: 'user', content: script({ usage: u }) }], stream: true })
      .withResponse();
    const events = [];
    for await (const event of stream) events.push(event);
    const types = events.map((e) => e.type);
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    assert.ok(types.includes('content_block_start') && types.includes('content_block_stop') && types.includes('message_delta'));
    const text = events.filter((e) => e.type === 'content_block_delta').map((e) => e.delta.text).join('');
    assert.equal(text, TEXT.join(''));
    const delta = events.find((e) => e.type === 'message_delta');
    assert.equal(delta.delta.stop_reason, 'end_turn');
    assert.equal(delta.usage.output_tokens, u.output);
    const record = await gw.generation(response.headers.get('x-request-id'));
    assert.equal(record.input_tokens, u.input);
    assert.equal(record.output_tokens, u.output);
    assert.equal(record.cost_usd, expectedCost(u));
  });

  test(`messages.stream() with tools: the helper assembles the streamed tool_use input (${kind}-kind provider)`, async () => {
    const u = { input: 777, cached: 0, output: 33 };
    const stream = client.messages.stream({ model, max_tokens: 1000, tools: TOOLS,
      messages: [{ role: 'user', content: script({ usage: u }) }] });
    const partial = [];
    stream.on('inputJson', (delta) => partial.push(delta));
    const message = await stream.finalMessage();
    assert.equal(message.stop_reason, 'tool_use');
    assert.equal(message.content.length, 1);
    const [block] = message.content;
    assert.equal(block.type, 'tool_use');
    assert.ok(block.id, 'the tool_use block has an id');
    assert.equal(block.name, TOOL.name);
    assert.deepEqual(block.input, TOOL.input);
    assert.deepEqual(JSON.parse(partial.join('')), TOOL.input);
    await assertUsage(message.usage, gw.lastRequestId(), u, { streamed: true });
  });

  test(`an upstream 429 reaches the SDK as RateLimitError with retry-after (${kind}-kind provider)`, async () => {
    const err = await client.messages
      .create({ model, max_tokens: 100, messages: [{ role: 'user', content: script({ status: 429, headers: { 'retry-after': '7' } }) }] })
      .then(() => null, (e) => e);
    assert.ok(err instanceof Anthropic.RateLimitError, `got ${err}`);
    assert.equal(err.status, 429);
    assert.equal(err.headers.get('retry-after'), '7');
    assert.equal(err.error?.error?.type, 'rate_limit_error');
    const record = await gw.generation(err.headers.get('x-request-id'));
    assert.equal(record.status, 'upstream_error');
    assert.equal(record.http_status, 429);
    assert.equal(record.cost_usd, '0.000000');
  });

  test(`an overloaded upstream (529) is OverloadedError, also from the stream helper (${kind}-kind provider)`, async () => {
    const messages = [{ role: 'user', content: script({ status: 529 }) }];
    await assert.rejects(client.messages.create({ model, max_tokens: 100, messages }),
      (e) => e instanceof Anthropic.OverloadedError && e.status === 529 && e.error?.error?.type === 'overloaded_error');
    await assert.rejects(client.messages.stream({ model, max_tokens: 100, messages }).finalMessage(),
      (e) => e instanceof Anthropic.OverloadedError && e.status === 529);
  });
}

test('an unknown model is NotFoundError, a wrong key AuthenticationError', async () => {
  const messages = [{ role: 'user', content: 'hi' }];
  await assert.rejects(client.messages.create({ model: 'no-such-model', max_tokens: 10, messages }),
    (e) => e instanceof Anthropic.NotFoundError && e.status === 404 && e.error?.error?.type === 'not_found_error');
  await assert.rejects(client.messages.stream({ model: 'no-such-model', max_tokens: 10, messages }).finalMessage(),
    (e) => e instanceof Anthropic.NotFoundError && e.status === 404);
  await assert.rejects(gw.anthropic({ apiKey: 'tg-wrong' }).messages.create({ model: 'sdk-an', max_tokens: 10, messages }),
    (e) => e instanceof Anthropic.AuthenticationError && e.status === 401);
});
