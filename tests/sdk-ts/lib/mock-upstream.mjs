// A minimal upstream speaking OpenAI Chat Completions and Anthropic Messages (JSON and SSE),
// for the TypeScript SDK suite. It runs in the test process, so a test can read what the
// gateway sent it (`mock.requests`).
//
// A call is scripted by its first user message: text of the form `mock:{...json...}` (see
// `script()`) chooses the usage the upstream reports, or an error status with headers; any
// other text gets the default answer and DEFAULT_USAGE. A request with tools is answered with
// a `get_weather` call for Paris.

import http from 'node:http';

export const TEXT = ['Hello', ' from', ' the', ' mock', ' upstream'];
export const DEFAULT_USAGE = { input: 1000, cached: 0, output: 500 };
export const TOOL = { name: 'get_weather', input: { city: 'Paris' } };
// The tool call's arguments, sent in these pieces when streamed.
const ARG_PIECES = ['{"city"', ': "Par', 'is"}'];

/**
 * The message text that scripts the mock's answer.
 *   usage: {input, cached, output} — input counts every prompt token, cached ones included
 *          (sent as OpenAI's prompt_tokens + cached_tokens, or Anthropic's input_tokens +
 *          cache_read_input_tokens).
 *   status, headers, errorType: answer with this error status and headers instead.
 */
export function script(directive) {
  return `mock:${JSON.stringify(directive)}`;
}

function directiveOf(body) {
  const first = (body.messages ?? []).find((m) => m.role === 'user');
  let text = first?.content;
  if (Array.isArray(text)) text = text.map((p) => p.text ?? '').join('');
  if (typeof text !== 'string' || !text.startsWith('mock:')) return {};
  return JSON.parse(text.slice('mock:'.length));
}

function sendJson(res, status, body, headers = {}) {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers });
  res.end(data);
}

function sendSse(res, events) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'close' });
  for (const e of events) res.write(e);
  res.end();
}

function openai(body, d, res) {
  const model = body.model;
  const u = { ...DEFAULT_USAGE, ...d.usage };
  const usage = {
    prompt_tokens: u.input, completion_tokens: u.output, total_tokens: u.input + u.output,
    prompt_tokens_details: { cached_tokens: u.cached },
  };
  const tools = Array.isArray(body.tools) && body.tools.length > 0;
  if (!body.stream) {
    const message = tools
      ? { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function',
          function: { name: TOOL.name, arguments: JSON.stringify(TOOL.input) } }] }
      : { role: 'assistant', content: TEXT.join('') };
    return sendJson(res, 200, { id: 'chatcmpl-mock', object: 'chat.completion', created: 1, model,
      choices: [{ index: 0, message, finish_reason: tools ? 'tool_calls' : 'stop' }], usage });
  }
  const chunk = (extra) => `data: ${JSON.stringify({ id: 'chatcmpl-mock', object: 'chat.completion.chunk', created: 1, model, ...extra })}\n\n`;
  const delta = (delta, finish = null) => chunk({ choices: [{ index: 0, delta, finish_reason: finish }] });
  const events = [];
  if (tools) {
    events.push(delta({ role: 'assistant', content: null }));
    events.push(delta({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: TOOL.name, arguments: '' } }] }));
    for (const p of ARG_PIECES) events.push(delta({ tool_calls: [{ index: 0, function: { arguments: p } }] }));
    events.push(delta({}, 'tool_calls'));
  } else {
    events.push(delta({ role: 'assistant', content: '' }));
    for (const t of TEXT) events.push(delta({ content: t }));
    events.push(delta({}, 'stop'));
  }
  if (body.stream_options?.include_usage) events.push(chunk({ choices: [], usage }));
  events.push('data: [DONE]\n\n');
  sendSse(res, events);
}

function anthropic(body, d, res) {
  const model = body.model;
  const u = { ...DEFAULT_USAGE, ...d.usage };
  const inputUsage = { input_tokens: u.input - u.cached, cache_read_input_tokens: u.cached, cache_creation_input_tokens: 0 };
  const tools = Array.isArray(body.tools) && body.tools.length > 0;
  const stop = tools ? 'tool_use' : 'end_turn';
  if (!body.stream) {
    const content = tools
      ? [{ type: 'tool_use', id: 'toolu_1', name: TOOL.name, input: TOOL.input }]
      : [{ type: 'text', text: TEXT.join('') }];
    return sendJson(res, 200, { id: 'msg_mock', type: 'message', role: 'assistant', model, content,
      stop_reason: stop, stop_sequence: null, usage: { ...inputUsage, output_tokens: u.output } });
  }
  const ev = (data) => `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
  const events = [
    ev({ type: 'message_start', message: { id: 'msg_mock', type: 'message', role: 'assistant', model, content: [],
      stop_reason: null, stop_sequence: null, usage: { ...inputUsage, output_tokens: 1 } } }),
    ev({ type: 'ping' }),
  ];
  if (tools) {
    events.push(ev({ type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_1', name: TOOL.name, input: {} } }));
    for (const p of ARG_PIECES) events.push(ev({ type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: p } }));
  } else {
    events.push(ev({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }));
    for (const t of TEXT) events.push(ev({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } }));
  }
  events.push(
    ev({ type: 'content_block_stop', index: 0 }),
    // message_delta carries the cumulative output count, as Anthropic's API does.
    ev({ type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: u.output } }),
    ev({ type: 'message_stop' }),
  );
  sendSse(res, events);
}

const ERROR_TYPES = { 400: 'invalid_request_error', 401: 'authentication_error', 404: 'not_found_error',
  429: 'rate_limit_error', 500: 'api_error', 529: 'overloaded_error' };

function scriptedError(kind, d, res) {
  const type = d.errorType ?? ERROR_TYPES[d.status] ?? 'api_error';
  const message = `mock upstream answered ${d.status}`;
  const body = kind === 'anthropic'
    ? { type: 'error', error: { type, message } }
    : { error: { message, type, param: null, code: null } };
  sendJson(res, d.status, body, d.headers ?? {});
}

/** Starts the mock on a free port; resolves to {url, requests, close()}. */
export async function startMockUpstream() {
  const requests = [];
  const server = http.createServer((req, res) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(parts).toString('utf8'));
      } catch {
        return sendJson(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: 'unreadable request' } });
      }
      requests.push({ method: req.method, path: req.url, headers: req.headers, body });
      const kind = req.url.endsWith('/chat/completions') ? 'openai' : req.url.endsWith('/v1/messages') ? 'anthropic' : null;
      if (req.method !== 'POST' || !kind) return sendJson(res, 404, { error: { message: 'no such route', type: 'not_found_error' } });
      const d = directiveOf(body);
      if (d.status) return scriptedError(kind, d, res);
      (kind === 'openai' ? openai : anthropic)(body, d, res);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    requests,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}
