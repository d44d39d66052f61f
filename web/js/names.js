// names: user names by id for display, read once each through
// GET /users/{id} (which every caller may read).
import { api } from './api.js';

export class Names {
  constructor() {
    this.map = new Map();      // id -> user or a promise of one
  }

  clear() {
    this.map.clear();
  }

  put(user) {
    this.map.set(user.id, user);
  }

  async get(id) {
    if (id === null || id === undefined) return null;
    let v = this.map.get(id);
    if (!v) {
      v = api('GET', '/users/' + id).catch(() => ({ id, name: 'user ' + id }));
      this.map.set(id, v);
    }
    v = await v;
    this.map.set(id, v);
    return v;
  }

  // A text node now, filled with the name when it is known.
  label(id, fallback = 'user ') {
    const span = document.createElement('span');
    span.className = 'who';
    const v = this.map.get(id);
    span.textContent = v && v.name ? v.name : fallback + id;
    if (!v || !v.name)
      this.get(id).then((u) => { span.textContent = u.name; });
    return span;
  }
}
