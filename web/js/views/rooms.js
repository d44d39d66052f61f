// Rooms: the list (members see theirs, staff every room; staff may open
// one) and the room view with its messages, live, the typing line and
// who is online.
import { api, ApiError, failure } from '../api.js';
import { h, clear, firstId, insertById, prepend, when, field, statusLine, setStatus } from '../dom.js';

const TYPING_EVERY_MS = 3000;
const TYPING_SHOWN_MS = 5000;

// Features a server may lack (404): found out once per page load.
const missing = { typing: false, presence: false };

export function roomsList(ctx, main) {
  const list = h('ul', { class: 'rooms' });
  main.append(h('h1', {}, ctx.isStaff ? 'All rooms' : 'My rooms'),
    h('div', { class: 'split' }, h('section', { 'aria-label': 'Rooms' }, list),
      ctx.isStaff ? createForm() : null));

  function createForm() {
    const name = h('input', { name: 'name', required: true, maxlength: 100 });
    const members = h('input', { name: 'members', inputmode: 'numeric',
      pattern: '[0-9, ]*' });
    const status = statusLine();
    return h('form', { class: 'card', onsubmit: async (e) => {
      e.preventDefault();
      const ids = members.value.split(/[\s,]+/).filter(Boolean).map(Number);
      try {
        const r = await api('POST', '/rooms', { name: name.value, member_ids: ids });
        ctx.go('#/rooms/' + r.id);
      } catch (err) {
        setStatus(status, 'Could not create the room: ' + err.message, true);
      }
    } }, h('h2', {}, 'New room'), field('Name', name),
    field('Member ids', members, 'User ids, separated by commas'),
    h('button', { type: 'submit' }, 'Create room'), status);
  }

  (async () => {
    try {
      const r = await api('GET', '/rooms');
      if (!r.rooms.length)
        list.append(h('li', { class: 'muted' }, 'No rooms yet.'));
      for (const room of r.rooms)
        list.append(h('li', {}, h('a', { href: '#/rooms/' + room.id }, room.name),
          h('span', { class: 'meta' }, room.member_ids.length + ' members')));
    } catch (e) {
      ctx.toast('Could not load the rooms: ' + e.message);
    }
  })();
  return () => {};
}

export function roomView(ctx, main, id) {
  performance.mark('room-view-start');
  const title = h('h1', {}, 'Room');
  const log = h('ol', { class: 'messages', 'aria-label': 'Messages',
    'aria-live': 'polite', tabindex: '0' });
  const older = h('button', { type: 'button', class: 'link', hidden: true,
    onclick: () => loadOlder() }, 'Show earlier messages');
  const typingLine = h('p', { class: 'typing muted', 'aria-live': 'polite' });
  const online = h('ul', { class: 'members' });
  const side = h('aside', { class: 'side', 'aria-label': 'Members' },
    h('h2', {}, 'Members'), online);
  const box = h('textarea', { name: 'body', rows: 2, required: true,
    maxlength: 4096 });
  const status = statusLine();
  const sendButton = h('button', { type: 'submit' }, 'Send');
  const form = h('form', { class: 'composer', onsubmit: send },
    field('Message', box, 'Enter sends, Shift+Enter for a new line'),
    sendButton, status);
  main.append(h('p', {}, h('a', { href: '#/rooms' }, '← Rooms')), title,
    h('div', { class: 'room' },
      h('section', { class: 'chat', 'aria-label': 'Chat' }, older, log, typingLine, form),
      side));
  const shown = new Set();
  const typers = new Map();   // user id -> timer
  const present = new Set();
  let members = [];
  let nextBefore = null;
  let lastTyping = 0;
  let destroyed = false;

  function message(m) {
    if (shown.has(m.id)) return null;
    shown.add(m.id);
    const mine = m.user_id === ctx.me.id;
    return h('li', { class: 'message' + (mine ? ' mine' : ''), dataset: { id: m.id } },
      h('p', { class: 'by' }, ctx.names.label(m.user_id), ' · ', when(m.created_at)),
      h('p', { class: 'body' }, m.body));
  }

  function nearBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  function add(m) {
    // Older than the oldest shown while older pages exist: it comes with
    // "Show earlier messages", not at the bottom.
    const oldest = firstId(log);
    if (oldest !== null && m.id < oldest && nextBefore !== null) return;
    const stick = nearBottom();
    const el = message(m);
    if (!el) return;
    insertById(log, el, m.id);
    if (stick || m.user_id === ctx.me.id) log.scrollTop = log.scrollHeight;
    stopTyping(m.user_id);
  }

  function renderMembers() {
    clear(online);
    const ids = [...new Set([...members, ...present])];
    for (const uid of ids) {
      const on = present.has(uid);
      online.append(h('li', { class: on ? 'online' : '' }, ctx.names.label(uid),
        missing.presence ? null : h('span', { class: 'sr' }, on ? ' (online)' : ' (offline)')));
    }
  }

  function renderTyping() {
    const names = [...typers.keys()].filter((u) => u !== ctx.me.id);
    if (!names.length) {
      typingLine.textContent = '';
      return;
    }
    Promise.all(names.map((u) => ctx.names.get(u))).then((us) => {
      const n = us.map((u) => u.name);
      typingLine.textContent = n.length === 1 ? n[0] + ' is typing…' :
        n.join(', ') + ' are typing…';
    });
  }

  function stopTyping(uid) {
    if (!typers.has(uid)) return;
    clearTimeout(typers.get(uid));
    typers.delete(uid);
    renderTyping();
  }

  async function typing() {
    if (missing.typing || Date.now() - lastTyping < TYPING_EVERY_MS) return;
    lastTyping = Date.now();
    try {
      await api('POST', '/rooms/' + id + '/typing', {});
    } catch (e) {
      if (e instanceof ApiError && e.missing) missing.typing = true;
    }
  }

  async function loadPresence() {
    if (missing.presence) {
      side.classList.add('no-presence');
      return;
    }
    try {
      const r = await api('GET', '/rooms/' + id + '/presence');
      present.clear();
      r.online.forEach((u) => present.add(u));
    } catch (e) {
      if (e instanceof ApiError && e.missing) {
        missing.presence = true;
        side.classList.add('no-presence');
      }
    }
    renderMembers();
  }

  async function loadOlder() {
    const r = await api('GET', '/rooms/' + id + '/messages', null,
      { limit: 50, before: nextBefore });
    prepend(log, r.messages.slice().reverse().map(message));
    nextBefore = r.next_before;
    older.hidden = nextBefore === null;
  }

  async function send(e) {
    e.preventDefault();
    if (!box.value.trim()) return;
    sendButton.disabled = true;
    try {
      const m = await api('POST', '/rooms/' + id + '/messages', { body: box.value });
      box.value = '';
      setStatus(status, '');
      ctx.live.deliver({ type: 'message.created', room_id: id, message: m });
    } catch (err) {
      setStatus(status, failure('Could not send', err), true);
    } finally {
      sendButton.disabled = false;
      box.focus();
    }
  }

  box.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  box.addEventListener('input', typing);

  (async () => {
    try {
      const [room, page] = await Promise.all([
        api('GET', '/rooms/' + id),
        api('GET', '/rooms/' + id + '/messages', null, { limit: 50 }),
      ]);
      if (destroyed) return;
      performance.mark('room-data');
      title.textContent = room.name;
      members = room.member_ids;
      const frag = document.createDocumentFragment();
      for (const m of page.messages.slice().reverse()) {
        const el = message(m);
        if (el) frag.append(el);
      }
      log.append(frag);
      log.scrollTop = log.scrollHeight;
      // Timings for bench/web.py: data -> DOM built, and -> next frame.
      performance.mark('room-rendered');
      performance.measure('room-render', 'room-view-start', 'room-rendered');
      performance.measure('room-dom', 'room-data', 'room-rendered');
      requestAnimationFrame(() => {
        performance.mark('room-painted');
        performance.measure('room-frame', 'room-data', 'room-painted');
      });
      nextBefore = page.next_before;
      older.hidden = nextBefore === null;
      ctx.live.seen('room', id, Math.max(0, ...page.messages.map((m) => m.id)));
      ctx.live.watch({ rooms: [id] });
      renderMembers();
      loadPresence();
    } catch (e) {
      clear(main).append(h('h1', {}, e.status === 404 ? 'No such room' :
        'Could not load the room'), h('p', {}, e.message));
    }
  })();

  const offs = [
    ctx.live.on('message.created', (ev) => { if (ev.room_id === id) add(ev.message); }),
    ctx.live.on('typing', (ev) => {
      if (ev.room_id !== id || ev.user_id === ctx.me.id) return;
      clearTimeout(typers.get(ev.user_id));
      typers.set(ev.user_id, setTimeout(() => stopTyping(ev.user_id), TYPING_SHOWN_MS));
      renderTyping();
    }),
    ctx.live.on('presence', (ev) => {
      if (ev.room_id !== id) return;
      if (ev.online) present.add(ev.user_id);
      else present.delete(ev.user_id);
      renderMembers();
    }),
  ];
  return () => {
    destroyed = true;
    offs.forEach((f) => f());
    typers.forEach((t) => clearTimeout(t));
  };
}
