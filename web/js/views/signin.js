// The sign-in form: POST /sessions with email and password.
import { api, session } from '../api.js';
import { h, field, statusLine, setStatus } from '../dom.js';

export function signIn(ctx, main, started) {
  const email = h('input', { type: 'email', name: 'email', required: true,
    autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { type: 'password', name: 'password',
    required: true, autocomplete: 'current-password', minlength: 1 });
  const status = statusLine();
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'card signin', onsubmit: submit },
    h('h1', {}, 'Sign in to chatdesk'),
    field('Email', email),
    field('Password', password),
    button, status);
  main.append(form);
  email.focus();

  async function submit(e) {
    e.preventDefault();
    button.disabled = true;
    setStatus(status, 'Signing in…');
    try {
      const r = await api('POST', '/sessions',
        { email: email.value.trim(), password: password.value }, null,
        { anonymous: true });
      password.value = '';
      session.save(r.token, r.user);
      started(r.user);
    } catch (err) {
      button.disabled = false;
      if (err.status === 401)
        setStatus(status, 'Wrong email or password.', true);
      else if (err.status === 429)
        setStatus(status, 'Too many attempts. Try again in ' +
          (err.retryAfter || 60) + ' seconds.', true);
      else
        setStatus(status, 'Could not sign in: ' + err.message, true);
      password.select();
    }
  }
  return () => {};
}
