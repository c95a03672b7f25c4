// The playground of a model page: a system message, the model's default parameters from the
// catalog, suggested prompts; the answer streamed through the gateway
// (POST /v1/chat/completions) with the signed-in API key, and each turn's tokens and exact cost
// read back from its record (GET /v1/generations/{id}). The calls are metered like any other.

import { h, fill, money, count, errorBox } from '../ui.js';

const SUGGESTIONS = [
  'In two sentences, what are you best at?',
  'Write a haiku about cost dashboards.',
  'Explain prompt caching to a finance team in three bullet points.',
  'Return a JSON object with the keys "city" and "country" for the capital of France.',
];

const PARAMS = [
  ['temperature', 'Temperature', 0, 2, 0.1],
  ['max_tokens', 'Max tokens', 1, null, 1],
  ['top_p', 'Top p', 0, 1, 0.05],
  ['frequency_penalty', 'Frequency penalty', -2, 2, 0.1],
  ['presence_penalty', 'Presence penalty', -2, 2, 0.1],
];

/** Reads an SSE body, calling `onEvent(json)` for each `data:` line until `[DONE]`. */
async function readSse(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, cut).trim();
      buffer = buffer.slice(cut + 1);
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '[DONE]') return;
      try {
        onEvent(JSON.parse(data));
      } catch {
        /* not JSON: ignore */
      }
    }
  }
}

export function playground(model, who) {
  const box = h('div', { id: 'playground' });
  let keyToken = who?.role === 'key' ? who.token : null;
  const history = [];
  const defaults = model.default_parameters ?? {};
  const system = h('textarea', { id: 'pg-system', rows: 2, placeholder: 'System message (optional)' });
  const prompt = h('textarea', { id: 'pg-prompt', rows: 3, placeholder: 'Your message' });
  const inputs = Object.fromEntries(PARAMS.map(([k, , min, max, step]) => [k, h('input', {
    type: 'number', name: k, id: `pg-${k}`, min, max: max ?? undefined, step,
    value: defaults[k] ?? (k === 'max_tokens' ? Math.min(model.max_output_tokens ?? 1024, 1024) : ''),
  })]));
  const chat = h('div', { class: 'chat', id: 'pg-chat' });
  const status = h('div', { id: 'pg-status' });
  const send = h('button', { type: 'submit', id: 'pg-send' }, 'Send');
  const keyInput = h('input', { type: 'password', id: 'pg-key', placeholder: 'API key (tg-…) for the playground', autocomplete: 'off' });

  const body = () => {
    const messages = [];
    if (system.value.trim()) messages.push({ role: 'system', content: system.value });
    messages.push(...history);
    const out = { model: model.id, messages, stream: true, stream_options: { include_usage: true } };
    for (const [k] of PARAMS) {
      const v = inputs[k].value;
      if (v !== '') out[k] = k === 'max_tokens' ? parseInt(v, 10) : Number(v);
    }
    return out;
  };

  const run = async () => {
    const text = prompt.value.trim();
    if (!text) return;
    const token = keyToken ?? keyInput.value.trim();
    if (!token) {
      fill(status, errorBox('The playground calls the model with an API key: sign in with one, or enter one here.'));
      return;
    }
    fill(status);
    send.disabled = true;
    history.push({ role: 'user', content: text });
    chat.append(h('div', { class: 'turn user' }, h('div', { class: 'text' }, text)));
    prompt.value = '';
    const answer = h('div', { class: 'text' });
    const meta = h('div', { class: 'meta' }, 'streaming…');
    const turn = h('div', { class: 'turn assistant', 'data-state': 'streaming' }, answer, meta);
    chat.append(turn);
    try {
      const response = await fetch('/v1/chat/completions', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body()),
        credentials: 'omit',
      });
      const callId = response.headers.get('x-request-id');
      if (!response.ok) {
        const err = await response.json().catch(() => null);
        throw new Error(err?.error?.message ?? `HTTP ${response.status}`);
      }
      let content = '';
      await readSse(response, (event) => {
        const delta = event.choices?.[0]?.delta?.content;
        if (delta) {
          content += delta;
          answer.textContent = content;
        }
        if (event.error) throw new Error(event.error.message ?? 'stream error');
      });
      history.push({ role: 'assistant', content });
      // The record is committed before the stream ends, so it is there now.
      const record = await fetch(`/v1/generations/${encodeURIComponent(callId)}`, { headers: { authorization: `Bearer ${token}` }, credentials: 'omit' });
      if (!record.ok) throw new Error(`GET /v1/generations/${callId}: HTTP ${record.status}`);
      const { data } = await record.json();
      fill(meta,
        h('span', {}, 'in ', count(data.input_tokens, { class: 'count pg-in' })),
        h('span', {}, 'out ', count(data.output_tokens, { class: 'count pg-out' })),
        data.cached_input_tokens ? h('span', {}, 'cached ', count(data.cached_input_tokens)) : null,
        h('span', {}, 'cost ', money(data.cost_usd, { class: 'money pg-cost' })),
        h('span', {}, `${data.latency_ms} ms`),
        h('a', { href: `#/audit?id=${encodeURIComponent(callId)}`, 'data-call': callId }, callId));
      turn.dataset.state = 'done';
      turn.dataset.call = callId;
    } catch (e) {
      history.pop();
      turn.dataset.state = 'error';
      fill(meta, errorBox(e));
    } finally {
      send.disabled = false;
    }
  };

  const form = h('form', { id: 'pg-form' },
    keyToken ? null : h('p', {}, h('label', {}, 'API key ', keyInput), h('span', { class: 'muted' }, ' — the admin token cannot call models; the key is kept in this page only.')),
    h('label', {}, 'System message'), system,
    h('div', { class: 'params' }, PARAMS.map(([k, label]) => h('label', {}, label, inputs[k]))),
    h('div', { class: 'suggestions' }, SUGGESTIONS.map((s) => h('button', { type: 'button', onclick: () => { prompt.value = s; prompt.focus(); } }, s))),
    chat, prompt, h('div', { class: 'inline' }, send, h('button', { type: 'button', class: 'secondary', onclick: () => { history.length = 0; fill(chat); } }, 'New chat')), status);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    run();
  });
  if (!model.capabilities.includes('chat')) {
    return fill(box, h('p', { class: 'muted' }, 'This model does not take chat calls.'));
  }
  keyInput.addEventListener('change', () => { keyToken = null; });
  return fill(box, form);
}
