// The admin's credit grant form on the Budgets page: adds prepaid credit (or records a refund
// of credit) to a key's or a team's account through POST /admin/{keys,teams}/{id}/credits.
// The amount is sent exactly as typed, a decimal string: never parsed to a float here, and
// validated by the server, whose message is shown in the form when it refuses.

import { api } from '../api.js';
import { h, select, money, sendForm } from '../ui.js';

/** The credits endpoint of an account ("key:<id>" or "team:<id>"). */
export function creditsPath(account) {
  const [owner, ...rest] = account.split(':');
  const id = rest.join(':');
  return `/admin/${owner === 'team' ? 'teams' : 'keys'}/${encodeURIComponent(id)}/credits`;
}

/** What the API answered to a grant: the amount and the account's new balance. */
export function grantNotice(answer, name) {
  return h('div', { class: 'notice', id: 'grant-done' }, `Added a ${answer.kind} of `, money(answer.amount_usd, { class: 'money granted' }),
    ` to ${answer.owner} ${name ?? answer.id}; its balance is now `, money(answer.balance_usd, { class: 'money new-balance' }), '.');
}

/**
 * The form. `accounts` are [value, label] pairs ("key:<id>" / "team:<id>"); `onGranted(account,
 * answer)` runs after the API accepted the grant, with its JSON (the new balance).
 */
export function grantForm(accounts, selected, onGranted) {
  const message = h('div', { id: 'grant-message' });
  const amount = h('input', { name: 'amount_usd', id: 'grant-amount', inputmode: 'decimal', autocomplete: 'off', required: true, size: 14, placeholder: '25.00' });
  const submit = h('button', { type: 'submit', id: 'grant-submit' }, 'Add credit');
  const form = h('form', { class: 'toolbar', id: 'grant-form' },
    h('label', {}, 'Account', select('account', [['', 'Choose a key or team…'], ...accounts], selected ?? '', { id: 'grant-account', required: true })),
    h('label', {}, 'Amount (USD)', amount),
    h('label', {}, 'Kind', select('kind', [['grant', 'grant (top-up)'], ['refund', 'refund']], 'grant', { id: 'grant-kind' })),
    h('label', {}, 'Note', h('input', { name: 'note', id: 'grant-note', maxlength: 500, size: 24, placeholder: 'optional' })),
    submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const account = String(data.get('account'));
    // The amount goes as the string typed (trimmed): the server parses it as a decimal.
    const body = { amount_usd: String(data.get('amount_usd')).trim(), kind: String(data.get('kind')) };
    const note = String(data.get('note') ?? '').trim();
    if (note) body.note = note;
    await sendForm({ message, submit, staleId: 'grant-done' }, async () => {
      const answer = await api.post(creditsPath(account), body);
      form.reset();
      onGranted(account, answer);
    });
  });
  return h('div', {}, form, message);
}
