// The console's foundations: the session (the API key in sessionStorage), the API client,
// building DOM nodes without HTML strings, number and time formats, and the small widgets
// every page uses (error boxes, tables, definition lists, pagers).
//
// Everything the API returns is put into the page as text nodes or attribute values, never
// parsed as HTML: prompts and answers are whatever users sent.

// ---------- session ----------

const KEY_ITEM = 'llmq.console.key';
const TENANT_ITEM = 'llmq.console.tenant';

// The API key lives in sessionStorage only: it is gone when the tab closes, is never written
// to localStorage, a cookie or a URL, and is never logged.
export const session = {
  key() {
    return sessionStorage.getItem(KEY_ITEM);
  },
  setKey(key) {
    sessionStorage.setItem(KEY_ITEM, key);
  },
  // The tenant a platform key looks at (its own when not chosen).
  tenant() {
    return sessionStorage.getItem(TENANT_ITEM);
  },
  setTenant(t) {
    if (t) sessionStorage.setItem(TENANT_ITEM, t);
    else sessionStorage.removeItem(TENANT_ITEM);
  },
  clear() {
    sessionStorage.removeItem(KEY_ITEM);
    sessionStorage.removeItem(TENANT_ITEM);
  },
};

// What the console knows about the signed-in key: filled from GET /admin/v1/me.
export const state = {
  me: null, // {tenant, project, user, key_id, role}
  tenants: null, // platform keys: the tenants they may switch to
};

export const ROLES = ['viewer', 'developer', 'admin', 'owner', 'platform'];

// True when the signed-in key's role is `role` or above.
export function atLeast(role) {
  return !!state.me && ROLES.indexOf(state.me.role) >= ROLES.indexOf(role);
}

export function isPlatform() {
  return atLeast('platform');
}

// The tenant the admin pages and analytics show: the key's own, or the one a platform key
// switched to.
export function viewedTenant() {
  if (!state.me) return null;
  return (isPlatform() && session.tenant()) || state.me.tenant;
}

// Path of a tenant's admin resource: /admin/v1/tenants/{t}/<rest>.
export function tenantPath(rest) {
  return `/admin/v1/tenants/${encodeURIComponent(viewedTenant())}${rest}`;
}

// Analytics parameters naming the viewed tenant: only platform keys may (and need to) name
// one; for any other key the API reads its own tenant.
export function analyticsTenant() {
  return isPlatform() ? { tenant: viewedTenant() } : {};
}

// Whether the signed-in key may create, change or revoke a key (or user) of `role`: the
// database's admin_may_manage (admins manage viewers and developers, owners anything but
// platform keys, platform keys everything).
export function mayManage(role) {
  if (!state.me) return false;
  const me = state.me.role;
  return me === 'platform' || (me === 'owner' && role !== 'platform') ||
    (me === 'admin' && (role === 'viewer' || role === 'developer'));
}

// ---------- the API client ----------

// An answer of the API that is not a success, with OpenAI's error fields.
export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

// Thrown after a 401: the session has ended and the sign-in page is showing; pages stop.
export class SignedOut extends Error {}

let onUnauthorized = () => {};

// Set by the app: what to do when there is no key or the API answers 401 (return to sign-in
// with the message).
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

// The query string of an object, leaving out empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const qs = q.toString();
  return qs ? `?${qs}` : '';
}

// The error an unsuccessful response carries, read from OpenAI's error shape when it is one.
async function errorOf(res) {
  let code = `http_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  try {
    const body = await res.json();
    if (body && body.error) {
      code = body.error.code || body.error.type || code;
      message = body.error.message || message;
    }
  } catch (_) {
    // not JSON: keep the status line
  }
  return new ApiError(res.status, code, message, res.headers.get('x-request-id'));
}

// Calls the API on this origin with the session's key. Answers the parsed JSON (or the
// Response itself with {raw: true}); throws ApiError for an error answer, SignedOut after a
// 401 (and hands the message to the sign-in page).
export async function api(path, { method = 'GET', params, body, raw = false, key } = {}) {
  const token = key || session.key();
  if (!token) {
    onUnauthorized('Sign in with an API key.');
    throw new SignedOut();
  }
  const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
  const init = { method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path + query(params), init);
  } catch (e) {
    throw new ApiError(0, 'network_error', `llmq could not be reached (${e.message}).`, null);
  }
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401 && !key) {
      onUnauthorized(`Your session ended: ${err.message.replace(/\.$/, '')} (${err.code}). Sign in again.`);
      throw new SignedOut();
    }
    throw err;
  }
  if (raw) return res;
  if (res.status === 204) return null;
  return res.json();
}

// ---------- DOM ----------

// An element: h('a', {href: '#/jobs', class: 'x', onclick: fn}, 'text', child, [more]).
// Attributes go through setAttribute (except on* handlers and a few properties), children
// are nodes or text. `style` is never set as an attribute: the page's CSP forbids it.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

// An SVG element, the same way.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k === 'value' || k === 'checked' || k === 'selected') {
      el[k] = v;
    } else if (k === 'style') {
      throw new Error('inline style attributes are blocked by the CSP: use a class');
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// Replaces an element's children.
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// ---------- formats ----------

// A count with a unit prefix: 950, 1.2k, 3.4 M, 5.6 G.
export function fmtCount(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return '–';
  const v = Number(n);
  if (Math.abs(v) < 1000) return String(Math.round(v * 100) / 100);
  const units = [[1e3, 'k'], [1e6, ' M'], [1e9, ' G'], [1e12, ' T']];
  for (let i = 0; i < units.length; i++) {
    const [div, unit] = units[i];
    const shown = trim(v / div);
    // 999,999 is "1 M", not "1000k"
    if (Math.abs(Number(shown)) < 1000 || i === units.length - 1) return `${shown}${unit}`;
  }
  return String(v);
}

function trim(x) {
  return (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(1)).replace(/\.0$/, '');
}

// A whole number in full, with thousands separators (limits are read exactly).
export function fmtInt(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return '–';
  return Number(n).toLocaleString('en-US');
}

export function fmtTokens(n) {
  return `${fmtCount(n)} tokens`;
}

// Money in USD: cents from a dollar up, three significant digits below ($0.50, $0.0123).
export function fmtUsd(n) {
  if (n === null || n === undefined) return '–';
  const v = Number(n);
  if (v === 0) return '$0.00';
  const a = Math.abs(v);
  if (a >= 1000) return `$${fmtCount(v)}`;
  if (a >= 1) return `$${v.toFixed(2)}`;
  if (a >= 0.0001) {
    // three significant digits, and at least the cents ($0.50, $0.0123)
    const str = String(Number(v.toPrecision(3)));
    return `$${str.includes('.') && str.split('.')[1].length >= 2 ? str : v.toFixed(2)}`;
  }
  return `$${v.toFixed(8).replace(/0+$/, '')}`;
}

// Milliseconds: 45 ms, 1.2 s, 3.5 min.
export function fmtMs(n) {
  if (n === null || n === undefined) return '–';
  const v = Number(n);
  if (v < 1000) return `${Math.round(v * 10) / 10} ms`;
  if (v < 60000) return `${(v / 1000).toFixed(v < 10000 ? 2 : 1)} s`;
  return `${(v / 60000).toFixed(1)} min`;
}

// A ratio as a percentage: 0.021 -> 2.1 %.
export function fmtPct(ratio) {
  if (ratio === null || ratio === undefined || !Number.isFinite(Number(ratio))) return '–';
  const p = Number(ratio) * 100;
  if (p > 0 && p < 0.1) return '< 0.1 %';
  return `${p === 0 || p >= 10 ? p.toFixed(0) : p.toFixed(1)} %`;
}

// Seconds until a reset: 37 s, 6 min 0 s, 1 h 2 min.
export function fmtDuration(seconds) {
  const v = Math.max(0, Math.round(Number(seconds) || 0));
  if (v < 60) return `${v} s`;
  if (v < 3600) return `${Math.floor(v / 60)} min ${v % 60} s`;
  if (v < 86400) return `${Math.floor(v / 3600)} h ${Math.floor((v % 3600) / 60)} min`;
  return `${Math.floor(v / 86400)} d ${Math.floor((v % 86400) / 3600)} h`;
}

const pad = (n) => String(n).padStart(2, '0');

// Unix seconds as local date and time (2026-11-02 14:03:05); '–' for none.
export function fmtTime(unix) {
  if (unix === null || unix === undefined || unix === '') return '–';
  const d = new Date(Number(unix) * 1000);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

// A <time> element for unix seconds, with the UTC instant as its machine value and title.
export function timeEl(unix) {
  if (unix === null || unix === undefined) return h('span', { class: 'muted' }, '–');
  const iso = new Date(Number(unix) * 1000).toISOString();
  return h('time', { datetime: iso, title: iso }, fmtTime(unix));
}

// ---------- widgets ----------

// An error of the API as the page shows it: status, code and message, and the request id
// to quote.
export function errorBox(err, what) {
  if (err instanceof SignedOut) return null;
  const e = err instanceof ApiError ? err : new ApiError(0, 'error', String(err && err.message), null);
  return h(
    'div',
    { class: 'error-box', role: 'alert' },
    h('strong', {}, what ? `${what}: ` : 'Error: '),
    h('span', { class: 'error-message' }, e.message),
    h(
      'span',
      { class: 'error-meta' },
      ` (${e.status ? `HTTP ${e.status}, ` : ''}${e.code}${e.requestId ? `, ${e.requestId}` : ''})`,
    ),
  );
}

// A message in place of content (nothing to show, not available).
export function notice(text, kind = 'info') {
  return h('p', { class: `notice notice-${kind}` }, text);
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, text);
}

// A table: columns [{label, cell: row => node|text, class}], rows; `empty` when none.
export function table(columns, rows, { caption, empty = 'Nothing to show.', rowAttrs } = {}) {
  if (!rows || rows.length === 0) return notice(empty);
  columns = columns.filter(Boolean); // a column may be left out as `false`
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      caption ? h('caption', {}, caption) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label)))),
      h(
        'tbody',
        {},
        rows.map((r) =>
          h(
            'tr',
            rowAttrs ? rowAttrs(r) : {},
            columns.map((c) => h('td', { class: c.class }, c.cell(r))),
          ),
        ),
      ),
    ),
  );
}

// A definition list of [term, value] pairs (values are nodes or text).
export function dl(pairs, cls = 'facts') {
  return h(
    'dl',
    { class: cls },
    pairs.filter(Boolean).map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))),
  );
}

// A status as a coloured badge (the class names the state).
export function badge(text, kind) {
  return h('span', { class: `badge badge-${kind || text}` }, text);
}

// A horizontal bar of `value` out of `max`: a <meter>-like element that CSS draws, with the
// figures as text for screen readers. The width is set through CSSOM (the CSP allows it).
export function bar(value, max, { label, kind } = {}) {
  const ratio = max > 0 ? Math.min(1, Math.max(0, value / max)) : 0;
  const fillEl = h('span', { class: `bar-fill${kind ? ` bar-${kind}` : ''}` });
  fillEl.style.width = `${(ratio * 100).toFixed(2)}%`;
  return h(
    'span',
    {
      class: 'bar',
      role: 'img',
      'aria-label': label || `${value} of ${max}`,
      title: label || `${value} of ${max}`,
    },
    fillEl,
  );
}

// For platform keys, on the pages of the /v1 API: those always answer for the key's own
// tenant, whatever tenant the header's switcher shows.
export function ownTenantNote() {
  if (!isPlatform()) return null;
  return notice(
    `This page shows the key's own tenant, ${state.me.tenant}: the /v1 API answers for the ` +
      `tenant of the key. The tenant chosen in the header (${viewedTenant()}) applies to the ` +
      'overview and the admin pages (keys, audit).',
    'warn',
  );
}

// A bar of several parts side by side (completed, then failed …) out of `total`:
// parts [{value, kind}], kind naming the colour class.
export function stackBar(parts, total, label) {
  const el = h('span', { class: 'bar', role: 'img', 'aria-label': label, title: label });
  let left = 0;
  for (const p of parts) {
    const ratio = total > 0 ? Math.min(1 - left, Math.max(0, p.value / total)) : 0;
    if (ratio <= 0) continue;
    const seg = h('span', { class: `bar-fill bar-${p.kind}` });
    seg.style.left = `${(left * 100).toFixed(2)}%`;
    seg.style.width = `${(ratio * 100).toFixed(2)}%`;
    el.append(seg);
    left += ratio;
  }
  return el;
}

// A page's heading block: title, optional subtitle and actions on the right.
export function pageHeader(title, { sub, actions } = {}) {
  return h(
    'div',
    { class: 'page-header' },
    h('div', {}, h('h1', { tabindex: '-1', class: 'page-title' }, title), sub ? h('p', { class: 'sub' }, sub) : null),
    actions ? h('div', { class: 'actions' }, actions) : null,
  );
}

// A section with a heading.
export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

// Pretty JSON in a <pre> (for details, attrs, metadata).
export function jsonBlock(value) {
  return h('pre', { class: 'json' }, JSON.stringify(value, null, 2));
}

// The text of a message's content: a string, or the text parts of an array of parts.
export function contentText(content) {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (p && typeof p.text === 'string' ? p.text : `[${(p && p.type) || 'part'}]`))
      .join('\n');
  }
  return JSON.stringify(content);
}

// A chat message as the pages show it: its role, its text and any tool calls.
export function messageView(m, extra) {
  const role = (m && m.role) || 'message';
  return h(
    'article',
    { class: `message message-${role}` },
    h('header', {}, h('span', { class: 'message-role' }, role), extra || null),
    h('div', { class: 'message-content' }, contentText(m && m.content) || h('span', { class: 'muted' }, '(no text)')),
    m && m.tool_calls ? jsonBlock(m.tool_calls) : null,
  );
}

// The short form of a long id (first 8 characters), with the whole id as its title.
export function shortId(id) {
  if (!id) return h('span', { class: 'muted' }, '–');
  return h('code', { title: id }, String(id).length > 13 ? `${String(id).slice(0, 8)}…` : id);
}

// Copies text to the clipboard; answers whether it worked.
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_) {
    return false;
  }
}

// Asks for a confirmation in a modal <dialog> (keyboard: Escape cancels, focus starts on
// Cancel). Resolves true when confirmed.
export function confirmDialog(title, text, confirmLabel) {
  const before = document.activeElement; // focus returns there afterwards
  return new Promise((resolve) => {
    const cancel = h('button', { type: 'button', class: 'btn' }, 'Cancel');
    const ok = h('button', { type: 'button', class: 'btn btn-danger' }, confirmLabel);
    const dlg = h(
      'dialog',
      { class: 'confirm', 'aria-labelledby': 'confirm-title' },
      h('h2', { id: 'confirm-title' }, title),
      h('p', {}, text),
      h('div', { class: 'actions' }, cancel, ok),
    );
    const done = (v) => {
      dlg.close();
      dlg.remove();
      if (before && before.isConnected) before.focus();
      resolve(v);
    };
    cancel.addEventListener('click', () => done(false));
    ok.addEventListener('click', () => done(true));
    dlg.addEventListener('cancel', (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.append(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

// Offers a Blob as a file download (a link the browser follows locally, then forgets).
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, class: 'hidden' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// "Newer" and "Older" buttons for a newest-first list paged by `after` (the last id of the
// page before). The hash keeps the cursors of the pages already seen in `back`, so Newer
// goes back exactly; `-` stands for the first page.
export function pager(ctx, list, base) {
  const p = ctx.params;
  if (!p.get('after') && !list.has_more) return null; // one page: nothing to turn
  const back = (p.get('back') || '').split(',').filter(Boolean);
  const go = (after, trail) => {
    const q = new URLSearchParams(p);
    q.delete('after');
    q.delete('back');
    if (after) q.set('after', after);
    if (trail.length) q.set('back', trail.join(','));
    const qs = q.toString();
    ctx.go(`${base}${qs ? `?${qs}` : ''}`);
  };
  const newer = h(
    'button',
    {
      type: 'button',
      class: 'btn',
      disabled: !p.get('after'),
      onclick: () => {
        const prev = back[back.length - 1];
        go(prev && prev !== '-' ? prev : null, back.slice(0, -1));
      },
    },
    '← Newer',
  );
  const older = h(
    'button',
    {
      type: 'button',
      class: 'btn',
      disabled: !list.has_more,
      onclick: () => go(list.last_id, back.concat([p.get('after') || '-'])),
    },
    'Older →',
  );
  return h('nav', { class: 'pager', 'aria-label': 'Pages' }, newer, older);
}

// A list page's parameters with one changed and the cursors reset (a new filter starts
// again at the newest).
export function withParam(ctx, base, name, value) {
  const q = new URLSearchParams(ctx.params);
  q.delete('after');
  q.delete('back');
  if (value) q.set(name, value);
  else q.delete(name);
  const qs = q.toString();
  return `${base}${qs ? `?${qs}` : ''}`;
}
