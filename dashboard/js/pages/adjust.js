// The admin's adjustment form in a call record's detail on the Audit page: appends a
// correction entry to the call through POST /admin/usage/{id}/adjustments (the record itself
// never changes). A correction's amount is sent exactly as typed, a decimal string: never
// parsed to a float here, and validated by the server, whose message is shown in the form.

import { api } from '../api.js';
import { h, select, money, sendForm } from '../ui.js';

const KINDS = [
  ['correction', 'correction (by an amount)'],
  ['refund', 'refund (the whole net cost back)'],
  ['reprice', 'reprice (at the current price)'],
];

/** What the API answered: the entry's change and the call's new net cost. */
export function adjustmentNotice(answer) {
  return h('div', { class: 'notice', id: 'adjust-done' }, `Recorded a ${answer.kind} of `, money(answer.cost_delta_usd, { class: 'money recorded-delta' }),
    '; the call\'s net cost is now ', money(answer.net_cost_usd, { class: 'money recorded-net' }), '.');
}

/** The form for one record; `onRecorded(answer)` runs after the API accepted the entry. */
export function adjustmentForm(record, onRecorded) {
  const message = h('div', { id: 'adjust-message' });
  const amount = h('input', { name: 'cost_delta_usd', id: 'adjust-amount', inputmode: 'decimal', autocomplete: 'off', size: 16, placeholder: '-0.0015' });
  const amountLabel = h('label', {}, 'Change (USD, + or −)', amount);
  const kind = select('kind', KINDS, 'correction', { id: 'adjust-kind' });
  // Only a correction takes an amount; the others are computed by the server.
  kind.addEventListener('change', () => { amountLabel.hidden = kind.value !== 'correction'; });
  const submit = h('button', { type: 'submit', id: 'adjust-submit' }, 'Record adjustment');
  const form = h('form', { class: 'toolbar', id: 'adjust-form', 'data-for': record.id },
    h('label', {}, 'Kind', kind), amountLabel,
    h('label', {}, 'Reason', h('input', { name: 'reason', id: 'adjust-reason', maxlength: 500, size: 28, placeholder: 'why (kept with the entry)' })),
    submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const body = { kind: kind.value };
    // The amount goes as the string typed (trimmed): the server parses it as a decimal.
    if (kind.value === 'correction') body.cost_delta_usd = String(data.get('cost_delta_usd') ?? '').trim();
    const reason = String(data.get('reason') ?? '').trim();
    if (reason) body.reason = reason;
    await sendForm({ message, submit, staleId: 'adjust-done' }, async () => {
      onRecorded(await api.post(`/admin/usage/${encodeURIComponent(record.id)}/adjustments`, body));
    });
  });
  return h('div', { class: 'adjust' }, h('h2', {}, 'Record an adjustment'), form, message);
}
