// Users (admins): the list, with disable and revoke-tokens where the
// server has them, and the form that creates a user and shows its
// password once.
import { api, apiAll, ApiError } from '../api.js';
import { h, clear, when, field, select, statusLine, setStatus } from '../dom.js';

// 16 random bytes, base64url: what an admin hands over once.
function newPassword() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...b)).replace(/\+/g, '-')
    .replace(/\//g, '_').replace(/=+$/, '');
}

// Users created since the page loaded: what the list shows on a server
// that cannot list users.
const created = [];

export function usersView(ctx, main) {
  if (ctx.me.role !== 'admin') {
    main.append(h('h1', {}, 'Users'), h('p', {}, 'Only admins manage users.'));
    return () => {};
  }
  const listArea = h('section', { 'aria-label': 'Users' });
  const name = h('input', { name: 'name', required: true, maxlength: 100,
    autocomplete: 'off' });
  const email = h('input', { name: 'email', type: 'email', required: true,
    autocomplete: 'off' });
  const role = select('role', [['customer', 'customer'], ['agent', 'agent'],
    ['admin', 'admin']], 'customer');
  const password = h('input', { name: 'password', type: 'text', minlength: 10,
    maxlength: 1024, autocomplete: 'new-password' });
  const status = statusLine();
  const once = h('div', { class: 'once', hidden: true, role: 'region',
    'aria-label': 'New user credentials', tabindex: '-1' });
  const form = h('form', { class: 'card', onsubmit: create },
    h('h2', {}, 'Create a user'),
    field('Name', name), field('Email', email), field('Role', role),
    field('Password', password, 'At least 10 characters; leave empty to generate one'),
    h('button', { type: 'submit' }, 'Create user'), status, once);
  main.append(h('h1', {}, 'Users'), h('div', { class: 'split' }, listArea, form));

  async function create(e) {
    e.preventDefault();
    const pw = password.value || newPassword();
    setStatus(status, 'Creating…');
    try {
      const r = await api('POST', '/users', { name: name.value,
        email: email.value.trim(), role: role.value, password: pw });
      setStatus(status, 'Created ' + r.user.email + '.');
      created.unshift(r.user);
      // Shown once: nothing keeps it after this view is left.
      clear(once).append(
        h('p', {}, 'Give these to ', r.user.name, ' now; they are not shown again.'),
        h('dl', {}, h('dt', {}, 'Email'), h('dd', {}, r.user.email),
          h('dt', {}, 'Password'), h('dd', {}, h('code', { class: 'secret' }, pw))));
      once.hidden = false;
      once.focus();
      form.reset();
      load();
    } catch (err) {
      setStatus(status, err.status === 409 ? 'A user with this email exists.' :
        'Could not create the user: ' + err.message, true);
    }
  }

  async function act(u, what, button) {
    try {
      if (what === 'disable' || what === 'enable') {
        const r = await api('PATCH', '/users/' + u.id, { disabled: what === 'disable' });
        if (!('disabled' in r)) {
          ctx.toast('This server cannot disable users yet.');
          return;
        }
        ctx.toast(r.name + (r.disabled ? ' is disabled and signed out.' : ' is enabled.'));
      } else {
        await api('DELETE', '/users/' + u.id + '/tokens');
        ctx.toast(u.name + "'s tokens are revoked.");
      }
      load();
    } catch (err) {
      ctx.toast(err instanceof ApiError && err.missing ?
        'This server cannot do that yet.' : 'Failed: ' + err.message);
      button.focus();
    }
  }

  async function load() {
    let users;
    let note = null;
    try {
      users = await apiAll('/users', 'users', {}, 1000);
    } catch (err) {
      if (!(err instanceof ApiError && err.missing)) {
        clear(listArea).append(h('p', { class: 'muted' },
          'Could not load the users: ' + err.message));
        return;
      }
      users = created;
      note = h('p', { class: 'muted' }, 'This server cannot list users yet; ' +
        'these are the users created from this page since it was loaded.');
    }
    const rows = users.map((u) => {
      ctx.names.put(u);
      const self = u.id === ctx.me.id;
      const dis = h('button', { type: 'button', disabled: self,
        onclick: (e) => act(u, u.disabled ? 'enable' : 'disable', e.target) },
      u.disabled ? 'Enable' : 'Disable');
      const rev = h('button', { type: 'button',
        onclick: (e) => act(u, 'revoke', e.target) }, 'Revoke tokens');
      return h('tr', { class: u.disabled ? 'disabled' : '', dataset: { id: u.id } },
        h('td', {}, String(u.id)), h('td', {}, u.name), h('td', {}, u.email || ''),
        h('td', {}, u.role), h('td', {}, when(u.created_at)),
        h('td', { class: 'actions' }, 'disabled' in u ? dis : null, rev));
    });
    clear(listArea).append(note || '', h('div', { class: 'scroll' }, h('table', {},
      h('caption', { class: 'sr' }, 'Users'),
      h('thead', {}, h('tr', {}, ['#', 'Name', 'Email', 'Role', 'Created', '']
        .map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows))));
  }

  load();
  return () => {};
}
