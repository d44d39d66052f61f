// bell: the notification bell in the header, with the unread count; its
// panel lists the latest notifications and marks them read.
import { api } from './api.js';
import { h, clear, icon, when } from './dom.js';

const BELL = 'M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1z';

const EVENT_TEXT = {
  ticket_created: 'New ticket',
  comment_added: 'New reply',
  status_changed: 'Status changed',
};

export class Bell {
  constructor(ctx, root) {
    this.ctx = ctx;
    this.root = root;
    this.unread = new Set();
    this.items = [];
    this.count = h('span', { class: 'count', 'aria-hidden': 'true' });
    this.button = h('button', {
      type: 'button', class: 'bell-button', 'aria-expanded': 'false',
      'aria-controls': 'bell-panel', onclick: () => this.toggle(),
    }, icon(BELL),
    h('span', { class: 'sr' }, 'Notifications'), this.count);
    this.list = h('ul', { class: 'notifs' });
    this.panel = h('section', {
      id: 'bell-panel', class: 'bell-panel', hidden: true,
      'aria-label': 'Notifications',
      onkeydown: (e) => {
        if (e.key === 'Escape') {
          this.toggle(false);
          this.button.focus();
        }
      },
    }, h('div', { class: 'row' },
      h('h2', {}, 'Notifications'),
      h('button', { type: 'button', onclick: () => this.readAll() },
        'Mark all read')),
    this.list);
    clear(root).append(this.button, this.panel);
    this.off = ctx.live.on('notification.created', (ev) => {
      this.add(ev.notification);
      // Already looking at that ticket: nothing to be told.
      if (location.hash === '#/tickets/' + ev.notification.ticket_id)
        this.readTicket(ev.notification.ticket_id);
    });
    this.load();
  }

  destroy() {
    this.off();
    clear(this.root);
  }

  async load() {
    try {
      const [latest, unread] = await Promise.all([
        api('GET', '/notifications', null, { limit: 20 }),
        api('GET', '/notifications', null, { limit: 100, unread: 1 }),
      ]);
      this.items = latest.notifications;
      for (const n of unread.notifications) this.unread.add(n.id);
      const max = Math.max(0, ...latest.notifications.map((n) => n.id));
      this.ctx.live.seen('notif', null, max);
      this.render();
    } catch {
      this.ctx.live.seen('notif', null, 0);
      this.render();
    }
  }

  add(n) {
    if (this.items.some((x) => x.id === n.id)) return;
    this.items.unshift(n);
    this.items.length = Math.min(this.items.length, 50);
    if (!n.read_at) this.unread.add(n.id);
    this.render();
  }

  render() {
    const n = this.unread.size;
    this.count.textContent = n ? (n > 99 ? '99+' : String(n)) : '';
    this.count.hidden = n === 0;
    this.button.setAttribute('aria-label',
      n ? 'Notifications, ' + n + ' unread' : 'Notifications');
    this.button.dataset.unread = String(n);
    // The count in the tab's title too, for an agent in another tab.
    document.title = document.title.replace(/^\(\d+\+?\) /, '');
    if (n) document.title = '(' + (n > 99 ? '99+' : n) + ') ' + document.title;
    clear(this.list);
    if (!this.items.length)
      this.list.append(h('li', { class: 'muted' }, 'Nothing yet.'));
    for (const x of this.items) {
      const unread = this.unread.has(x.id);
      this.list.append(h('li', { class: unread ? 'unread' : '' },
        h('a', {
          href: '#/tickets/' + x.ticket_id,
          onclick: () => { this.read([x.id]); this.toggle(false); },
        }, (EVENT_TEXT[x.event] || x.event) + ' · ticket #' + x.ticket_id),
        ' ', when(x.created_at), unread ? h('span', { class: 'sr' }, ' (unread)') : null));
    }
  }

  toggle(open) {
    const show = open === undefined ? this.panel.hidden : open;
    this.panel.hidden = !show;
    this.button.setAttribute('aria-expanded', String(show));
    if (show) this.panel.querySelector('button').focus();
  }

  async read(ids) {
    try {
      await api('POST', '/notifications/read', { ids });
      for (const id of ids) this.unread.delete(id);
      this.render();
    } catch (e) {
      this.ctx.toast('Could not mark as read: ' + e.message);
    }
  }

  // Opening a ticket reads its notifications.
  readTicket(ticketId) {
    const ids = this.items.filter((x) => x.ticket_id === ticketId &&
      this.unread.has(x.id)).map((x) => x.id);
    if (ids.length) this.read(ids);
  }

  async readAll() {
    try {
      await api('POST', '/notifications/read', { all: true });
      this.unread.clear();
      this.render();
    } catch (e) {
      this.ctx.toast('Could not mark as read: ' + e.message);
    }
  }
}
