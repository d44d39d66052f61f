// live: every live update the app shows comes through here (API.md
// section 8). With the server's events: an event ticket
// (POST /events/tickets), then an EventSource on /events?ticket=...
// &rooms=...&tickets=...; after any gap (a dropped connection, a
// reconnect) it catches up through the routes with ?after= and drops what
// it has already delivered, by id. A server without events (404 on
// POST /events/tickets) is polled instead, through the same catch-up.
//
// Views subscribe to event types with on(type, fn) and say what they
// show with watch({rooms, tickets}) and seen(kind, key, id); events have
// the shapes of section 8 in both modes. A "tick" event asks list views
// (the inbox, a customer's tickets) to re-read: each poll in polling
// mode, after a catch-up, and every SAFETY_MS in live mode.

import { api, ApiError } from './api.js';

const POLL_MS = 3000;
const SAFETY_MS = 30000;
const BACKOFF_MS = [500, 1000, 2000, 5000, 10000, 15000];
const MAX_TOPICS = 50;
// Nchan keeps a channel's events 1 h (nchan_message_timeout). A resume
// from an id of a channel that is gone since (expired, deleted) can leave
// Nchan 1.3.6's subscription silent; an id older than this is not used
// (the catch-up alone fills the gap).
const RESUME_MAX_MS = 30 * 60 * 1000;

export class Live {
  constructor() {
    this.handlers = new Map();   // type -> Set of fn
    this.rooms = [];
    this.tickets = [];
    this.cursor = new Map();     // 'room:5' / 'ticket:7' / 'notif' -> id
    this.updated = new Map();    // 'ticket:7' -> updated_at last seen
    this.delivered = new Set();  // 'message:12', ... (de-dup)
    this.state = 'stopped';
    this.mode = null;            // 'events' | 'polling'
    this.es = null;
    this.timer = null;
    this.safety = null;
    this.attempt = 0;
    // Nchan's last event id names one position per channel of the
    // subscription (time:tag,tag,...): it is valid only for the same set
    // of channels, so one is kept per set ('rooms|tickets'), with when
    // it came: {id, at}.
    this.lastEventIds = new Map();
    this.gen = 0;                // bumps on stop and on every reconnect
    this.catching = null;
    this.catchAgain = false;
    this.rewatch = null;
  }

  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(fn);
    return () => this.handlers.get(type).delete(fn);
  }

  emit(type, ev) {
    for (const fn of this.handlers.get(type) || []) {
      try {
        fn(ev);
      } catch (e) {
        console.error('live handler', type, e);
      }
    }
  }

  setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }

  // The newest id a view has shown already, so that neither a catch-up
  // nor a poll delivers it again.
  seen(kind, key, id) {
    const k = key === null ? kind : kind + ':' + key;
    if (!this.cursor.has(k) || id > this.cursor.get(k)) this.cursor.set(k, id);
  }

  // A ticket's state as shown (polling compares updated_at).
  seenTicket(t) {
    this.updated.set('ticket:' + t.id, t.updated_at);
  }

  async start() {
    this.stop();
    const gen = ++this.gen;
    this.setState('connecting');
    try {
      await this.detect();
    } catch (e) {
      if (gen !== this.gen) return;
      // Unreachable or failing server: retry the detection later.
      this.retry(gen);
      return;
    }
    if (gen !== this.gen) return;
    this.armSafety();
    if (this.mode === 'events') this.connect(gen);
    else this.poll(gen);
  }

  stop() {
    this.gen++;
    clearTimeout(this.rewatch);
    if (this.es) this.es.close();
    this.es = null;
    clearTimeout(this.timer);
    clearInterval(this.safety);
    this.timer = this.safety = null;
    this.setState('stopped');
  }

  // Sets the rooms and tickets the view shows; reconnects the stream if
  // they changed (a subscription names its channels).
  watch({ rooms = [], tickets = [] } = {}) {
    const r = [...new Set(rooms)].slice(0, MAX_TOPICS).sort((a, b) => a - b);
    const t = [...new Set(tickets)].slice(0, MAX_TOPICS).sort((a, b) => a - b);
    const same = r.join() === this.rooms.join() && t.join() === this.tickets.join();
    this.rooms = r;
    this.tickets = t;
    if (same || this.state === 'stopped' || this.mode !== 'events') return;
    // A view change sets topics twice (cleared, then the view's): one
    // reconnect for both.
    clearTimeout(this.rewatch);
    this.rewatch = setTimeout(() => {
      const gen = ++this.gen;
      if (this.es) this.es.close();
      this.es = null;
      clearTimeout(this.timer);
      this.connect(gen);
    }, 50);
  }

  // Which mode this server supports: a ticket is asked for once here
  // (and spent on the first connection).
  async detect() {
    try {
      this.pendingTicket = await api('POST', '/events/tickets', {});
      this.mode = 'events';
    } catch (e) {
      if (e instanceof ApiError && e.missing) {
        this.mode = 'polling';
        this.pendingTicket = null;
        return;
      }
      throw e;
    }
  }

  retry(gen) {
    this.setState('reconnecting');
    const ms = BACKOFF_MS[Math.min(this.attempt++, BACKOFF_MS.length - 1)];
    this.timer = setTimeout(() => {
      if (gen === this.gen) this.start();
    }, ms);
  }

  armSafety() {
    clearInterval(this.safety);
    if (this.mode === 'events')
      this.safety = setInterval(() => this.emit('tick', {}), SAFETY_MS);
  }

  // ---- events mode ------------------------------------------------------

  async connect(gen) {
    let ticket = this.pendingTicket;
    this.pendingTicket = null;
    try {
      if (!ticket) ticket = await api('POST', '/events/tickets', {});
    } catch (e) {
      if (gen !== this.gen) return;
      if (e instanceof ApiError && e.missing) {
        this.mode = 'polling';   // the server lost its events support
        this.armSafety();
        this.poll(gen);
        return;
      }
      this.scheduleReconnect(gen);
      return;
    }
    if (gen !== this.gen) return;
    const q = new URLSearchParams({ ticket: ticket.ticket });
    if (this.rooms.length) q.set('rooms', this.rooms.join(','));
    if (this.tickets.length) q.set('tickets', this.tickets.join(','));
    // Nchan resumes from here (its buffer); the catch-up below is what
    // makes it exact.
    const set = this.rooms.join() + '|' + this.tickets.join();
    const resume = this.lastEventIds.get(set);
    if (resume && Date.now() - resume.at < RESUME_MAX_MS)
      q.set('last_event_id', resume.id);
    const es = new EventSource('/api/v1/events?' + q.toString());
    this.es = es;
    let opened = false;
    es.onopen = () => {
      if (gen !== this.gen) return;
      opened = true;
      this.attempt = 0;
      this.setState('live');
      // Always: what was posted between the view's first read (or the
      // last event before a drop) and this subscription is read here.
      this.catchUp(gen).catch(() => {});
    };
    es.onmessage = (m) => {
      if (gen !== this.gen) return;
      if (m.lastEventId)
        this.lastEventIds.set(set, { id: m.lastEventId, at: Date.now() });
      let ev;
      try {
        ev = JSON.parse(m.data);
      } catch {
        return;
      }
      this.deliver(ev);
    };
    es.onerror = () => {
      if (gen !== this.gen) return;
      // The ticket is single-use: EventSource's own retry would reuse
      // it, so close and reconnect with a fresh one.
      es.close();
      if (this.es === es) this.es = null;
      // Refused before it opened (EventSource does not say why; a 400
      // for an id Nchan no longer takes is one cause): the next try
      // goes without the id, and its catch-up (after=) fills the gap.
      if (!opened) this.lastEventIds.delete(set);
      this.scheduleReconnect(gen);
    };
  }

  scheduleReconnect(gen) {
    this.setState('reconnecting');
    const ms = BACKOFF_MS[Math.min(this.attempt++, BACKOFF_MS.length - 1)];
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (gen === this.gen) this.connect(gen);
    }, ms);
  }

  // ---- polling mode -----------------------------------------------------

  async poll(gen) {
    if (gen !== this.gen) return;
    try {
      await this.catchUp(gen);
      this.attempt = 0;
      this.setState('polling');
    } catch {
      this.setState('reconnecting');
    }
    if (gen !== this.gen) return;
    this.timer = setTimeout(() => this.poll(gen), POLL_MS);
  }

  // ---- delivery and catch-up --------------------------------------------

  // Delivers one section 8 event unless its object was delivered already.
  deliver(ev) {
    if (!ev || typeof ev.type !== 'string') return;
    let key = null;
    switch (ev.type) {
    case 'message.created':
      key = 'message:' + ev.message.id;
      this.seen('room', ev.room_id, ev.message.id);
      break;
    case 'interaction.created':
      key = 'interaction:' + ev.interaction.id;
      this.seen('ticket', ev.ticket_id, ev.interaction.id);
      break;
    case 'notification.created':
      key = 'notification:' + ev.notification.id;
      this.seen('notif', null, ev.notification.id);
      break;
    case 'ticket.updated':
      if (this.updated.get('ticket:' + ev.ticket.id) === ev.ticket.updated_at)
        return;
      this.seenTicket(ev.ticket);
      break;
    default:
      break;    // typing, presence: ephemeral, never de-duplicated
    }
    if (key) {
      if (this.delivered.has(key)) return;
      this.delivered.add(key);
      if (this.delivered.size > 20000) this.delivered.clear();
    }
    this.emit(ev.type, ev);
  }

  // Reads everything newer than the cursors through the routes. One run
  // at a time; a request for another during a run makes one more run.
  async catchUp(gen) {
    if (this.catching) {
      this.catchAgain = true;
      return this.catching;
    }
    this.catching = (async () => {
      do {
        this.catchAgain = false;
        await this.catchUpOnce(gen);
      } while (this.catchAgain && gen === this.gen);
    })();
    try {
      await this.catching;
    } finally {
      this.catching = null;
    }
    if (gen === this.gen) this.emit('tick', {});
  }

  async catchUpOnce(gen) {
    const jobs = [this.catchNotifications()];
    for (const r of this.rooms) jobs.push(this.catchRoom(r));
    for (const t of this.tickets) jobs.push(this.catchTicket(t));
    const results = await Promise.allSettled(jobs);
    const failed = results.find((x) => x.status === 'rejected' &&
      !(x.reason instanceof ApiError && x.reason.status === 404));
    if (failed && gen === this.gen) throw failed.reason;
  }

  // Pages with ?after= while the server says next_after; a server that
  // ignores after= answers its newest page (next_before), which is
  // filtered by id instead.
  async readAfter(path, key, cursorKey, query = {}) {
    let after = this.cursor.get(cursorKey) || 0;
    const out = [];
    for (let i = 0; i < 50; i++) {
      const page = await api('GET', path, null,
        { ...query, limit: 100, after: after || undefined });
      const items = page[key] || [];
      if (!('next_after' in page)) {
        out.push(...items.filter((x) => x.id > after));
        break;
      }
      out.push(...items);
      if (page.next_after === null || !items.length) break;
      after = page.next_after;
    }
    return out.sort((a, b) => a.id - b.id);
  }

  async catchRoom(room) {
    if (!this.cursor.has('room:' + room)) return;   // the view loads first
    const msgs = await this.readAfter('/rooms/' + room + '/messages',
      'messages', 'room:' + room);
    for (const m of msgs)
      this.deliver({ type: 'message.created', room_id: room, message: m });
  }

  async catchTicket(id) {
    const t = await api('GET', '/tickets/' + id);
    this.deliver({ type: 'ticket.updated', ticket: t });
    if (!this.cursor.has('ticket:' + id)) return;
    const items = await this.readAfter('/tickets/' + id + '/interactions',
      'interactions', 'ticket:' + id);
    for (const x of items)
      this.deliver({ type: 'interaction.created', ticket_id: id, interaction: x });
  }

  async catchNotifications() {
    if (!this.cursor.has('notif')) return;
    const items = await this.readAfter('/notifications', 'notifications',
      'notif');
    for (const n of items)
      this.deliver({ type: 'notification.created', notification: n });
  }
}
