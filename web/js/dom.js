// dom: building elements. Text always goes in as text nodes (textContent),
// never as HTML: nothing a user typed can become markup or script.

// h('p', {class: 'x', onclick: fn}, 'text', child, ...)
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function')
      el.addEventListener(k.slice(2), v);
    else if (k === 'class')
      el.className = v;
    else if (k === 'dataset')
      Object.assign(el.dataset, v);
    else if (k === 'value' || k === 'checked' || k === 'selected')
      el[k] = v;
    else
      el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// Puts items (built oldest first, nulls skipped) before the list's first
// child: an older page above what is shown.
export function prepend(list, items) {
  const first = list.firstChild;
  for (const el of items)
    if (el) list.insertBefore(el, first);
}

// Puts el into list (whose children carry data-id) in id order: live
// events from several server processes may arrive out of order.
export function insertById(list, el, id) {
  let prev = list.lastElementChild;
  while (prev && Number(prev.dataset.id) > id) prev = prev.previousElementSibling;
  if (prev) prev.after(el);
  else list.prepend(el);
}

// The id of a list's first (oldest shown) item, or null.
export function firstId(list) {
  const f = list.firstElementChild;
  return f ? Number(f.dataset.id) : null;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

const dateFmt = new Intl.DateTimeFormat(undefined, {
  dateStyle: 'medium', timeStyle: 'short',
});
const timeFmt = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });

// A <time> element: short for today, with the full date as its title.
export function when(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  return h('time', { datetime: iso, title: dateFmt.format(d) },
    today ? timeFmt.format(d) : dateFmt.format(d));
}

// Labelled form controls, the label bound by id.
let uid = 0;
export function field(label, control, hint) {
  const id = control.id || ('f' + (++uid));
  control.id = id;
  const parts = [h('label', { for: id }, label), control];
  if (hint) {
    const hid = id + '-hint';
    control.setAttribute('aria-describedby', hid);
    parts.push(h('small', { id: hid, class: 'hint' }, hint));
  }
  return h('div', { class: 'field' }, parts);
}

export function select(name, options, value) {
  return h('select', { name },
    options.map(([v, label]) => h('option', { value: v, selected: v === value },
      label)));
}

// A live status line for a form's outcome.
export function statusLine() {
  return h('p', { class: 'form-status', role: 'status', 'aria-live': 'polite' });
}

export function setStatus(el, text, isError) {
  el.textContent = text || '';
  el.classList.toggle('error', !!isError);
}

export function debounce(fn, ms) {
  let t = null;
  return (...a) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...a), ms);
  };
}

// A small inline icon from one SVG path (24x24 box), drawn in currentColor.
export function icon(d) {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '20');
  svg.setAttribute('height', '20');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = document.createElementNS(NS, 'path');
  path.setAttribute('d', d);
  path.setAttribute('fill', 'currentColor');
  svg.append(path);
  return svg;
}
