// Sign-in: the admin token, or an API key (whose holder sees only their own usage, budget,
// balance and the catalog).

import { signIn } from '../api.js';
import { h, fill } from '../ui.js';

export function render(main, { onSignedIn }) {
  const error = h('div', { id: 'login-error' });
  const pending = sessionStorage.getItem('tollgate.login-error');
  if (pending) {
    sessionStorage.removeItem('tollgate.login-error');
    fill(error, h('div', { class: 'error', role: 'alert' }, pending));
  }
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', placeholder: 'Admin token or API key (tg-…)', required: true });
  const button = h('button', { type: 'submit', id: 'sign-in' }, 'Sign in');
  const form = h('form', {
    onsubmit: async (e) => {
      e.preventDefault();
      button.disabled = true;
      fill(error);
      try {
        await signIn(input.value.trim());
        onSignedIn();
      } catch (err) {
        fill(error, h('div', { class: 'error', role: 'alert' }, err.status === 401 ? 'Neither the admin token nor a valid API key.' : String(err.message ?? err)));
      } finally {
        button.disabled = false;
      }
    },
  }, h('label', { for: 'token' }, 'Credential'), input, button);
  fill(main, h('div', { class: 'login panel', id: 'page-login', 'data-ready': 'true' },
    h('h1', {}, 'Sign in to Tollgate'),
    h('p', { class: 'muted' }, 'The admin token shows every key, team and budget. An API key shows only its own usage, budget and balance, and the catalog. The credential is kept in this tab only (sessionStorage).'),
    error, form));
  input.focus();
}
