// app: the shell. Sign-in state, the header (navigation, live state, the
// notification bell, sign-out) and a hash router that mounts one view at
// a time into <main>. Each view returns a function that unmounts it.

import { api, ApiError, onUnauthorized, session } from './api.js';
import { h, clear } from './dom.js';
import { Live } from './live.js';
import { Bell } from './bell.js';
import { Names } from './names.js';
import { signIn } from './views/signin.js';
import { customerTickets, inbox, ticketView } from './views/tickets.js';
import { roomsList, roomView } from './views/rooms.js';
import { usersView } from './views/users.js';

const main = document.getElementById('main');
const top = document.getElementById('top');
const nav = document.getElementById('nav');
const liveState = document.getElementById('live-state');
const toastEl = document.getElementById('toast');

const STATE_TEXT = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  polling: 'Auto-updating',
  stopped: '',
};

const ctx = {
  live: new Live(),
  names: new Names(),
  me: null,
  isStaff: false,
  // A view's complaint after the session ended (its request answered 401
  // too) would hide the one message that matters.
  toast: (text) => { if (ctx.me) toast(text); },
  go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
};

let unmount = null;
let bell = null;
let toastTimer = null;

function toast(text) {
  toastEl.textContent = text;
  toastEl.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { toastEl.hidden = true; }, 6000);
}

ctx.live.on('state', (s) => {
  liveState.textContent = STATE_TEXT[s] || '';
  liveState.dataset.state = s;
});

function navLinks() {
  const links = ctx.isStaff ?
    [['#/inbox', 'Inbox'], ['#/rooms', 'Rooms']] :
    [['#/tickets', 'My tickets'], ['#/rooms', 'Rooms']];
  if (ctx.me.role === 'admin') links.push(['#/users', 'Users']);
  clear(nav).append(...links.map(([href, label]) =>
    h('li', {}, h('a', { href, dataset: { nav: href } }, label))));
}

function markNav(hash) {
  for (const a of nav.querySelectorAll('a')) {
    const on = hash.startsWith(a.dataset.nav);
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// The routes: pattern -> view(ctx, main, ...captures)
const ROUTES = [
  [/^#\/tickets\/?$/, (c, m) => c.isStaff ? inbox(c, m) : customerTickets(c, m),
    'Tickets'],
  [/^#\/tickets\/(\d+)$/, ticketView, 'Ticket'],
  [/^#\/inbox\/?$/, (c, m) => c.isStaff ? inbox(c, m) : customerTickets(c, m),
    'Inbox'],
  [/^#\/rooms\/?$/, roomsList, 'Rooms'],
  [/^#\/rooms\/(\d+)$/, roomView, 'Room'],
  [/^#\/users\/?$/, usersView, 'Users'],
];

function route() {
  if (unmount) {
    unmount();
    unmount = null;
  }
  clear(main);
  if (!ctx.me) {
    top.hidden = true;
    document.title = 'Sign in · chatdesk';
    unmount = signIn(ctx, main, started);
    return;
  }
  const hash = location.hash || '';
  for (const [rx, view, title] of ROUTES) {
    const m = hash.match(rx);
    if (m) {
      markNav(hash);
      document.title = title + ' · chatdesk';
      if (bell) bell.render();
      ctx.live.watch({});
      unmount = view(ctx, main, ...m.slice(1).map(Number)) || null;
      // A screen reader starts reading the new view, not the old spot.
      if (navigated) main.focus({ preventScroll: true });
      return;
    }
  }
  location.replace(ctx.isStaff ? '#/inbox' : '#/tickets');
}

// After a sign-in (or a reload with a session in this tab).
function started(user) {
  ctx.me = user;
  ctx.isStaff = user.role === 'agent' || user.role === 'admin';
  ctx.names.put(user);
  document.getElementById('me-name').textContent = user.name;
  document.body.dataset.role = user.role;
  navLinks();
  top.hidden = false;
  bell = new Bell(ctx, document.getElementById('bell'));
  ctx.bell = bell;
  ctx.live.start();
  route();
}

function signedOut(message) {
  ctx.live.stop();
  if (bell) bell.destroy();
  bell = ctx.bell = null;
  session.clear();
  ctx.me = null;
  ctx.names.clear();
  delete document.body.dataset.role;
  if (location.hash && location.hash !== '#/') history.replaceState(null, '',
    location.pathname);
  route();
  if (message) toast(message);
}

// Several requests in flight may all answer 401: one sign-out.
onUnauthorized(() => {
  if (ctx.me) signedOut('Your session ended. Please sign in again.');
});

document.getElementById('sign-out').addEventListener('click', async () => {
  try {
    await api('DELETE', '/tokens/current');
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) {
      toast('Could not sign out: ' + e.message);
      return;
    }
  }
  signedOut('Signed out.');
});

let navigated = false;
window.addEventListener('hashchange', () => {
  navigated = true;
  route();
});

(async function boot() {
  const s = session.load();
  if (s && s.token) {
    try {
      // The session may have been revoked since: ask.
      const me = await api('GET', '/users/me');
      session.save(s.token, me);
      started(me);
      return;
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 401) {
        started(s.user);
        return;
      }
    }
  }
  route();
})();
