// Tickets: a customer's list and the form to open one, the staff inbox
// with its filters, and the ticket view (conversation, reply, changes).
import { api, apiAll, ApiError, failure } from '../api.js';
import { h, clear, firstId, insertById, prepend, when, field, select, statusLine, setStatus, debounce }
  from '../dom.js';

const STATUSES = ['open', 'pending', 'closed'];
const PRIORITIES = ['low', 'normal', 'high', 'urgent'];
const FILTER_KEY = 'chatdesk.inbox';

function badge(kind, value) {
  return h('span', { class: 'badge ' + kind + '-' + value }, value);
}

// ---- a customer's tickets ---------------------------------------------

export function customerTickets(ctx, main) {
  const list = h('ul', { class: 'tickets', 'aria-live': 'polite' });
  const subject = h('input', { name: 'subject', required: true, maxlength: 200 });
  const body = h('textarea', { name: 'body', required: true, rows: 5 });
  const prio = select('priority', PRIORITIES.map((p) => [p, p]), 'normal');
  const status = statusLine();
  const form = h('form', { class: 'card', onsubmit: open },
    h('h2', {}, 'Open a ticket'),
    field('Subject', subject),
    field('What do you need help with?', body),
    field('Priority', prio),
    h('button', { type: 'submit' }, 'Open ticket'), status);
  main.append(h('h1', {}, 'My tickets'),
    h('div', { class: 'split' }, h('section', { 'aria-label': 'Tickets' }, list), form));

  let last = null;
  async function load() {
    try {
      const r = await api('GET', '/tickets', null, { limit: 50 });
      // Unchanged: leave the DOM (and the keyboard focus) alone.
      const sig = JSON.stringify(r.tickets);
      if (sig === last) return;
      last = sig;
      clear(list);
      if (!r.tickets.length)
        list.append(h('li', { class: 'muted' }, 'No tickets yet.'));
      for (const t of r.tickets)
        list.append(h('li', { class: 'ticket', dataset: { id: t.id } },
          h('a', { href: '#/tickets/' + t.id }, t.subject),
          h('span', { class: 'meta' }, badge('status', t.status), ' ',
            'last activity ', when(t.last_activity_at))));
    } catch (e) {
      ctx.toast('Could not load your tickets: ' + e.message);
    }
  }

  async function open(e) {
    e.preventDefault();
    setStatus(status, 'Sending…');
    try {
      const t = await api('POST', '/tickets', {
        subject: subject.value, body: body.value, priority: prio.value,
      });
      ctx.go('#/tickets/' + t.id);
    } catch (err) {
      setStatus(status, failure('Could not open the ticket', err), true);
    }
  }

  const reload = debounce(load, 200);
  const offs = [ctx.live.on('tick', reload), ctx.live.on('ticket.updated', reload)];
  load();
  return () => offs.forEach((f) => f());
}

// ---- the staff inbox ----------------------------------------------------

export function inbox(ctx, main) {
  const saved = JSON.parse(sessionStorage.getItem(FILTER_KEY) || 'null') ||
    { status: 'open', assignee: 'any', priority: 'any' };
  const fStatus = select('status', [['any', 'Any'], ...STATUSES.map((s) => [s, s])],
    saved.status);
  const fAssignee = select('assignee', [['any', 'Anyone'], ['mine', 'Mine'],
    ['unassigned', 'Unassigned']], saved.assignee);
  const fPriority = select('priority', [['any', 'Any'],
    ...PRIORITIES.map((p) => [p, p])], saved.priority);
  const filters = h('form', { class: 'filters', 'aria-label': 'Filter tickets',
    onchange: () => { save(); lastSig = null; known = null; load(); }, onsubmit: (e) => e.preventDefault() },
  field('Status', fStatus), field('Assignee', fAssignee),
  field('Priority', fPriority));
  const count = h('p', { class: 'muted', role: 'status' });
  const rows = h('tbody', {});
  const table = h('table', { class: 'inbox' },
    h('caption', { class: 'sr' }, 'Tickets'),
    h('thead', {}, h('tr', {}, ['#', 'Subject', 'Requester', 'Assignee',
      'Priority', 'Status', 'Last activity'].map((c) => h('th', { scope: 'col' }, c)))),
    rows);
  main.append(h('h1', {}, 'Inbox'), filters, count, h('div', { class: 'scroll' }, table));
  let known = null;
  let lastSig = null;

  function save() {
    sessionStorage.setItem(FILTER_KEY, JSON.stringify({
      status: fStatus.value, assignee: fAssignee.value, priority: fPriority.value,
    }));
  }

  async function load() {
    const q = {};
    if (fStatus.value !== 'any') q.status = fStatus.value;
    if (fAssignee.value === 'mine') q.assignee_id = ctx.me.id;
    // The API filters by status and assignee id; "unassigned" and the
    // priority are filtered here, over the newest 300.
    const clientSide = fAssignee.value === 'unassigned' || fPriority.value !== 'any';
    let tickets;
    try {
      tickets = clientSide ? await apiAll('/tickets', 'tickets', q, 300) :
        (await api('GET', '/tickets', null, { ...q, limit: 100 })).tickets;
    } catch (e) {
      ctx.toast('Could not load the inbox: ' + e.message);
      return;
    }
    if (fAssignee.value === 'unassigned')
      tickets = tickets.filter((t) => t.assignee_id === null);
    if (fPriority.value !== 'any')
      tickets = tickets.filter((t) => t.priority === fPriority.value);
    const sig = JSON.stringify(tickets);
    if (sig === lastSig) return;   // unchanged: keep the focus where it is
    lastSig = sig;
    const fresh = new Set(tickets.map((t) => t.id));
    clear(rows);
    for (const t of tickets) {
      const isNew = known !== null && !known.has(t.id);
      rows.append(h('tr', { class: isNew ? 'new' : '', dataset: { id: t.id } },
        h('td', {}, String(t.id)),
        h('td', {}, h('a', { href: '#/tickets/' + t.id }, t.subject)),
        h('td', {}, ctx.names.label(t.requester_id)),
        h('td', {}, t.assignee_id ? ctx.names.label(t.assignee_id) :
          h('span', { class: 'muted' }, 'unassigned')),
        h('td', {}, badge('priority', t.priority)),
        h('td', {}, badge('status', t.status)),
        h('td', {}, when(t.last_activity_at))));
    }
    known = fresh;
    count.textContent = tickets.length === 1 ? '1 ticket' : tickets.length + ' tickets';
  }

  const reload = debounce(load, 200);
  const offs = ['tick', 'ticket.updated', 'notification.created']
    .map((t) => ctx.live.on(t, reload));
  load();
  return () => offs.forEach((f) => f());
}

// ---- one ticket ---------------------------------------------------------

// The staff users, for the assignee choice; null if the server cannot
// list users (GET /users is newer than some servers).
async function staffUsers(ctx) {
  try {
    const [agents, admins] = await Promise.all([
      apiAll('/users', 'users', { role: 'agent' }, 200),
      apiAll('/users', 'users', { role: 'admin' }, 200),
    ]);
    const all = [...agents, ...admins];
    all.forEach((u) => ctx.names.put(u));
    // A disabled user cannot act on a ticket: not offered as assignee.
    return all.filter((u) => !u.disabled)
      .sort((a, b) => a.name.localeCompare(b.name));
  } catch (e) {
    if (e instanceof ApiError && e.missing) return null;
    throw e;
  }
}

export function ticketView(ctx, main, id) {
  const head = h('header', { class: 'ticket-head' });
  const convo = h('ol', { class: 'conversation', 'aria-label': 'Conversation' });
  const older = h('button', { type: 'button', class: 'link', hidden: true,
    onclick: () => loadOlder() }, 'Show earlier replies');
  const reply = h('textarea', { name: 'body', rows: 4, required: true });
  const replyStatus = statusLine();
  const sendButton = h('button', { type: 'submit' }, 'Send reply');
  const replyForm = h('form', { class: 'reply', onsubmit: send },
    field('Reply', reply, 'Ctrl+Enter sends'), sendButton, replyStatus);
  const controls = h('div', { class: 'controls' });
  main.append(h('p', {}, h('a', { href: ctx.isStaff ? '#/inbox' : '#/tickets' },
    ctx.isStaff ? '← Inbox' : '← My tickets')),
  head, controls, h('section', { 'aria-label': 'Conversation' }, older, convo),
  replyForm);
  let ticket = null;
  let nextBefore = null;
  const shown = new Set();
  let destroyed = false;

  reply.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) replyForm.requestSubmit();
  });

  function renderHead() {
    clear(head).append(h('h1', {}, ticket.subject),
      h('p', { class: 'meta' }, '#' + ticket.id, ' · ', badge('status', ticket.status),
        ' ', badge('priority', ticket.priority), ' · from ',
        ctx.names.label(ticket.requester_id), ' · ',
        ticket.assignee_id ? ['assigned to ', ctx.names.label(ticket.assignee_id)] :
          'unassigned',
        ' · opened ', when(ticket.created_at)));
    sendButton.textContent = !ctx.isStaff && ticket.status === 'closed' ?
      'Reply and reopen' : 'Send reply';
  }

  function item(x) {
    if (shown.has(x.id)) return null;
    shown.add(x.id);
    if (x.kind === 'status_change')
      return h('li', { class: 'event', dataset: { id: x.id } },
        x.author_id ? ctx.names.label(x.author_id) : 'chatdesk', ': ', x.body,
        ' · ', when(x.created_at));
    const mine = x.author_id === ctx.me.id;
    return h('li', { class: 'comment' + (mine ? ' mine' : ''), dataset: { id: x.id } },
      h('p', { class: 'by' }, x.author_id ? ctx.names.label(x.author_id) : 'chatdesk',
        ' · ', when(x.created_at)),
      h('p', { class: 'body' }, x.body));
  }

  async function staffControls() {
    const st = select('status', STATUSES.map((s) => [s, s]), ticket.status);
    const pr = select('priority', PRIORITIES.map((p) => [p, p]), ticket.priority);
    const staff = await staffUsers(ctx).catch(() => null);
    const opts = [['', 'Unassigned'], [String(ctx.me.id), 'Me (' + ctx.me.name + ')']];
    for (const u of staff || [])
      if (u.id !== ctx.me.id) opts.push([String(u.id), u.name]);
    if (ticket.assignee_id && !opts.some(([v]) => v === String(ticket.assignee_id)))
      opts.push([String(ticket.assignee_id), 'user ' + ticket.assignee_id]);
    const as = select('assignee', opts, ticket.assignee_id ? String(ticket.assignee_id) : '');
    const status = statusLine();
    const form = h('form', { class: 'changes', 'aria-label': 'Change the ticket',
      onsubmit: async (e) => {
        e.preventDefault();
        const patch = {};
        if (st.value !== ticket.status) patch.status = st.value;
        if (pr.value !== ticket.priority) patch.priority = pr.value;
        const a = as.value === '' ? null : Number(as.value);
        if (a !== ticket.assignee_id) patch.assignee_id = a;
        if (!Object.keys(patch).length) {
          setStatus(status, 'Nothing to change.');
          return;
        }
        try {
          const t = await api('PATCH', '/tickets/' + id, patch);
          update(t);
          setStatus(status, 'Saved.');
          ctx.live.catchUp(ctx.live.gen).catch(() => {});
        } catch (err) {
          setStatus(status, 'Could not save: ' + err.message, true);
        }
      } },
    field('Status', st), field('Priority', pr), field('Assignee', as),
    h('button', { type: 'submit' }, 'Save changes'), status);
    form.sync = () => {
      st.value = ticket.status;
      pr.value = ticket.priority;
      as.value = ticket.assignee_id ? String(ticket.assignee_id) : '';
    };
    return form;
  }

  function customerControls() {
    const b = h('button', { type: 'button', onclick: async () => {
      try {
        update(await api('PATCH', '/tickets/' + id, { status: 'closed' }));
      } catch (err) {
        ctx.toast('Could not close the ticket: ' + err.message);
      }
    } }, 'Close ticket');
    const form = h('div', {}, b);
    form.sync = () => { b.hidden = ticket.status === 'closed'; };
    return form;
  }

  function update(t) {
    ticket = t;
    ctx.live.seenTicket(t);
    renderHead();
    if (controls.firstChild && controls.firstChild.sync) controls.firstChild.sync();
  }

  async function loadOlder() {
    const r = await api('GET', '/tickets/' + id + '/interactions', null,
      { limit: 100, before: nextBefore });
    prepend(convo, r.interactions.map(item));
    nextBefore = r.next_before;
    older.hidden = nextBefore === null;
  }

  async function send(e) {
    e.preventDefault();
    if (!reply.value.trim()) return;
    sendButton.disabled = true;
    setStatus(replyStatus, 'Sending…');
    try {
      const x = await api('POST', '/tickets/' + id + '/interactions',
        { body: reply.value });
      reply.value = '';
      setStatus(replyStatus, '');
      ctx.live.deliver({ type: 'interaction.created', ticket_id: id, interaction: x });
      // The ticket moved (last activity, maybe reopened).
      update(await api('GET', '/tickets/' + id));
    } catch (err) {
      setStatus(replyStatus, failure('Could not send', err), true);
    } finally {
      sendButton.disabled = false;
      reply.focus();
    }
  }

  (async () => {
    try {
      const [t, xs] = await Promise.all([
        api('GET', '/tickets/' + id),
        api('GET', '/tickets/' + id + '/interactions', null, { limit: 100 }),
      ]);
      if (destroyed) return;
      ticket = t;
      ctx.live.seenTicket(t);
      renderHead();
      const ctl = ctx.isStaff ? await staffControls() : customerControls();
      if (destroyed) return;
      controls.append(ctl);
      if (ctl.sync) ctl.sync();
      for (const x of xs.interactions) {
        const el = item(x);
        if (el) convo.append(el);
      }
      nextBefore = xs.next_before;
      older.hidden = nextBefore === null;
      ctx.live.seen('ticket', id, Math.max(0, ...xs.interactions.map((x) => x.id)));
      ctx.live.watch({ tickets: [id] });
      if (ctx.bell) ctx.bell.readTicket(id);
    } catch (e) {
      clear(main).append(h('h1', {}, e.status === 404 ? 'No such ticket' :
        'Could not load the ticket'), h('p', {}, e.message));
    }
  })();

  const offs = [
    ctx.live.on('interaction.created', (ev) => {
      if (ev.ticket_id !== id) return;
      const oldest = firstId(convo);
      if (oldest !== null && ev.interaction.id < oldest && nextBefore !== null)
        return;
      const el = item(ev.interaction);
      if (el) insertById(convo, el, ev.interaction.id);
    }),
    ctx.live.on('ticket.updated', (ev) => {
      if (ev.ticket.id === id) update(ev.ticket);
    }),
  ];
  return () => {
    destroyed = true;
    offs.forEach((f) => f());
  };
}
