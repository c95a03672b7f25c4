// Keys and teams (admin): spend, limits and balances; create a key (its secret shown once),
// disable, enable and revoke keys.

import { api } from '../api.js';
import { periodRange } from '../period.js';
import { toPicos } from '../money.js';
import { h, money, time, table, fill, section, badge, select, errorBox } from '../ui.js';

function keyState(k) {
  if (k.revoked_at) return badge('revoked', 'bad');
  if (k.disabled) return badge('disabled', 'warn');
  if (k.expires_at && Date.parse(k.expires_at) < Date.now()) return badge('expired', 'warn');
  return badge('active', 'ok');
}

function budgetText(b) {
  if (!b) return h('span', { class: 'muted' }, 'none');
  return h('span', {}, money(b.limit_usd), ` ${b.period} `, badge(b.mode, b.mode === 'hard' ? 'bad' : ''));
}

export async function render(el, { go }) {
  const { from, to } = periodRange('30d');
  const [keys, teams, spendByKey, spendByTeam] = await Promise.all([
    api.get('/admin/keys'),
    api.get('/admin/teams'),
    api.get('/admin/spend', { from: from.toISOString(), to: to.toISOString(), group_by: 'key' }),
    api.get('/admin/spend', { from: from.toISOString(), to: to.toISOString(), group_by: 'team' }),
  ]);
  const teamStates = await Promise.all(teams.map((t) => api.get(`/admin/teams/${encodeURIComponent(t.id)}`)));
  const keyStates = new Map((await Promise.all(keys.filter((k) => !k.revoked_at).map((k) => api.get(`/admin/keys/${encodeURIComponent(k.id)}`)))).map((k) => [k.id, k]));
  const spentKey = new Map(spendByKey.rows.map((r) => [r.key, r]));
  const spentTeam = new Map(spendByTeam.rows.map((r) => [r.team, r]));
  const message = h('div', { id: 'keys-message' });

  const act = async (what, fn) => {
    fill(message);
    try {
      await fn();
      go('keys', { done: `${what} ${Date.now()}` });
    } catch (e) {
      fill(message, errorBox(e));
    }
  };

  const actions = (k) => {
    if (k.revoked_at) return h('span', { class: 'muted' }, 'revoked ', time(k.revoked_at));
    const revoke = h('button', { type: 'button', class: 'danger', 'data-action': 'revoke' }, 'Revoke');
    revoke.addEventListener('click', () => {
      if (revoke.dataset.armed) {
        act(`Revoked ${k.id}`, () => api.del(`/admin/keys/${encodeURIComponent(k.id)}`));
      } else {
        revoke.dataset.armed = 'true';
        revoke.textContent = 'Confirm revoke (final)';
      }
    });
    return h('div', { class: 'inline' },
      h('button', { type: 'button', class: 'secondary', 'data-action': k.disabled ? 'enable' : 'disable', onclick: () => act(`${k.disabled ? 'Enabled' : 'Disabled'} ${k.id}`, () => api.patch(`/admin/keys/${encodeURIComponent(k.id)}`, { disabled: !k.disabled })) }, k.disabled ? 'Enable' : 'Disable'),
      revoke);
  };

  // Create a key.
  const secretBox = h('div', { id: 'new-secret' });
  const teamOptions = [['', 'No team'], ...teams.map((t) => [t.id, t.name === t.id ? t.id : `${t.name} (${t.id})`])];
  const form = h('form', { class: 'toolbar', id: 'create-key' },
    h('label', {}, 'Name', h('input', { name: 'name', required: true, maxlength: 200, id: 'new-key-name' })),
    h('label', {}, 'Team', select('team', teamOptions, '')),
    h('label', {}, 'Budget (USD)', h('input', { name: 'limit_usd', inputmode: 'decimal', pattern: '\\d+(\\.\\d{1,12})?', placeholder: 'none', size: 10 })),
    h('label', {}, 'Period', select('period', [['monthly', 'monthly'], ['weekly', 'weekly'], ['daily', 'daily'], ['total', 'total']], 'monthly')),
    h('label', {}, 'Mode', select('mode', [['hard', 'hard'], ['soft', 'soft']], 'hard')),
    h('button', { type: 'submit', id: 'create-key-submit' }, 'Create key'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const body = { name: String(data.get('name')).trim() };
    if (data.get('team')) body.team = data.get('team');
    if (data.get('limit_usd')) body.budget = { limit_usd: String(data.get('limit_usd')), period: data.get('period'), mode: data.get('mode') };
    fill(secretBox);
    try {
      const created = await api.post('/admin/keys', body);
      // The secret exists only in this answer: shown here once, never stored by the page.
      fill(secretBox, h('div', { class: 'notice' },
        h('p', {}, h('strong', {}, `Key ${created.name} (${created.id}) created.`), ' Copy its secret now: it cannot be shown again.'),
        h('div', { class: 'secret', id: 'new-key-secret' }, created.key),
        h('p', {}, h('button', { type: 'button', class: 'secondary', onclick: () => { fill(secretBox); go('keys', { created: created.id }); } }, 'I have copied it'))));
      form.reset();
    } catch (err) {
      fill(secretBox, errorBox(err));
    }
  });

  fill(el,
    h('h1', {}, 'Keys & teams', h('small', {}, 'spend over the last 30 days')),
    message,
    section('New key', form, secretBox),
    section('Keys', table([
      { label: 'Name', value: (k) => h('span', {}, k.name, h('br'), h('span', { class: 'id' }, k.id)), sort: (k) => k.name.toLowerCase() },
      { label: 'Prefix', value: (k) => h('code', { class: 'nowrap' }, `${k.key_prefix}…`) },
      { label: 'Team', value: (k) => k.team ?? h('span', { class: 'muted' }, '—'), sort: (k) => k.team ?? '' },
      { label: 'State', value: keyState, sort: (k) => (k.revoked_at ? 2 : k.disabled ? 1 : 0) },
      { label: 'Spend', class: 'num', value: (k) => money(spentKey.get(k.id)?.cost_usd ?? '0', { class: 'money key-spend' }), sort: (k) => toPicos(spentKey.get(k.id)?.cost_usd ?? '0'), desc: true },
      { label: 'Budget', value: (k) => budgetText(k.budget) },
      { label: 'Spent this period', class: 'num', value: (k) => {
        const b = keyStates.get(k.id)?.budgets.find((x) => x.scope === 'key');
        return b ? money(b.spent_usd) : h('span', { class: 'muted' }, '—');
      } },
      { label: 'Balance', class: 'num', value: (k) => money(keyStates.get(k.id)?.balance?.available_usd ?? null, { class: 'money key-balance' }) },
      { label: 'Rate limits', value: (k) => (k.rate_limits ? h('code', {}, JSON.stringify(k.rate_limits)) : h('span', { class: 'muted' }, '—')) },
      { label: 'Created', value: (k) => time(k.created_at), sort: (k) => k.created_at },
      { label: '', value: actions },
    ], keys, { id: 'keys-table', rowAttrs: (k) => ({ 'data-id': k.id }) })),
    section('Teams', table([
      { label: 'Team', value: (t) => h('span', {}, t.name, h('br'), h('code', { class: 'muted' }, t.id)), sort: (t) => t.name },
      { label: 'Spend', class: 'num', value: (t) => money(spentTeam.get(t.id)?.cost_usd ?? '0', { class: 'money team-spend' }), sort: (t) => toPicos(spentTeam.get(t.id)?.cost_usd ?? '0'), desc: true },
      { label: 'Budget', value: (t) => budgetText(t.budget) },
      { label: 'Spent this period', class: 'num', value: (t) => (t.budget_status ? money(t.budget_status.spent_usd) : h('span', { class: 'muted' }, '—')) },
      { label: 'Balance', class: 'num', value: (t) => money(t.balance?.available_usd ?? null) },
      { label: 'Keys', class: 'num', value: (t) => String(keys.filter((k) => k.team === t.id && !k.revoked_at).length) },
    ], teamStates, { id: 'teams-table', rowAttrs: (t) => ({ 'data-id': t.id }) })),
  );
}
