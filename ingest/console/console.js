// The console's entry: sign-in, the header (tenant, role, sign out), the navigation and the
// hash router that renders one page at a time into <main>.
//
// Routes: #/overview, #/jobs, #/jobs/<id>, #/batches, #/batches/<id>, #/conversations,
// #/conversations/<id>, #/keys, #/limits, #/audit, #/queue; a page's own state (filters,
// cursors, range) follows `?` in the hash, so the browser's back button and reloads keep it.
import {
  api, atLeast, errorBox, fill, h, isPlatform, notice, session, setUnauthorizedHandler, SignedOut, state,
  viewedTenant,
} from './lib.js';
import { overviewPage } from './overview.js';
import { jobPage, jobsPage } from './jobs.js';
import { batchPage, batchesPage } from './batches.js';
import { conversationPage, conversationsPage } from './conversations.js';
import { auditPage, keysPage, limitsPage, queuePage } from './admin.js';

// The pages: title, least role, list page and (for #/<name>/<id>) detail page.
const PAGES = [
  { name: 'overview', title: 'Overview', role: 'viewer', list: overviewPage },
  { name: 'jobs', title: 'Jobs', role: 'viewer', list: jobsPage, detail: jobPage },
  { name: 'batches', title: 'Batches', role: 'viewer', list: batchesPage, detail: batchPage },
  { name: 'conversations', title: 'Conversations', role: 'viewer', list: conversationsPage, detail: conversationPage },
  { name: 'keys', title: 'API keys', role: 'viewer', list: keysPage },
  { name: 'limits', title: 'Limits', role: 'viewer', list: limitsPage },
  { name: 'audit', title: 'Audit log', role: 'admin', list: auditPage },
  { name: 'queue', title: 'Queue', role: 'platform', list: queuePage },
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const identity = document.getElementById('identity');

// The page being shown: its timers stop and its late answers are dropped when another page
// replaces it.
let current = null;

// A page's context: where it renders, its route, and helpers bound to its lifetime.
function makeContext(root, parts, params) {
  const timers = [];
  const ctx = {
    root,
    id: parts[1] ? decoded(parts[1]) : null,
    params,
    live: true,
    // Runs fn every ms milliseconds while the page is shown.
    every(fn, ms) {
      timers.push(setInterval(() => ctx.live && Promise.resolve(fn()).catch(() => {}), ms));
    },
    // Goes to another page, or to this one with other parameters.
    go(hash) {
      location.hash = hash;
    },
    // Stops the page's timers (it stays shown).
    quiet() {
      timers.forEach(clearInterval);
      timers.length = 0;
    },
    // The page is no longer shown.
    stop() {
      ctx.live = false;
      ctx.quiet();
    },
  };
  return ctx;
}

// A path segment as written, %-decoded when it decodes (an id typed by hand may not).
function decoded(segment) {
  try {
    return decodeURIComponent(segment);
  } catch (_) {
    return segment;
  }
}

// Splits "#/jobs/<id>?status=failed" into ['jobs', '<id>'] and its parameters.
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, q] = raw.split('?');
  return { parts: path.split('/').filter(Boolean), params: new URLSearchParams(q || '') };
}

// Renders the page the hash names.
async function route() {
  if (!session.key() || !state.me) return;
  const { parts, params } = parseHash();
  const page = PAGES.find((p) => p.name === parts[0]);
  if (!page) {
    location.replace('#/overview');
    return;
  }
  if (current) current.stop();
  const root = h('div', { class: 'page' });
  fill(main, root);
  const ctx = makeContext(root, parts, params);
  current = ctx;
  highlight(page.name);
  document.title = `${page.title} · llmq console`;
  if (!atLeast(page.role)) {
    fill(
      root,
      h('h1', { class: 'page-title' }, page.title),
      notice(`This page needs the ${page.role} role; this key is ${state.me.role}.`, 'warn'),
    );
    return;
  }
  const render = parts.length > 1 && page.detail ? page.detail : page.list;
  try {
    await render(ctx);
  } catch (e) {
    if (e instanceof SignedOut) return;
    if (ctx.live) root.append(errorBox(e, 'The page could not be shown'));
  }
  // Keyboard and screen-reader users land on the new page's heading.
  if (ctx.live && document.activeElement && document.activeElement.closest && document.activeElement.closest('#nav')) {
    const title = root.querySelector('.page-title');
    if (title) title.focus({ preventScroll: true });
  }
}

// ---------- the navigation ----------

function buildNav() {
  const items = PAGES.filter((p) => atLeast(p.role)).map((p) =>
    h('li', {}, h('a', { href: `#/${p.name}`, dataset: { page: p.name } }, p.title)),
  );
  fill(nav, h('ul', {}, items));
  nav.hidden = false;
}

function highlight(name) {
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.page === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// ---------- the header ----------

// The signed-in key: its tenant (a switcher for platform keys), role and a sign-out button.
async function buildIdentity() {
  const me = state.me;
  const signOutBtn = h(
    'button',
    { type: 'button', class: 'btn btn-quiet', id: 'signout', onclick: () => signOut('You signed out.') },
    'Sign out',
  );
  let tenantEl = h('strong', { id: 'who-tenant' }, me.tenant);
  if (isPlatform()) {
    // A platform key may look at any tenant's overview and admin pages.
    try {
      const list = await api('/admin/v1/tenants');
      state.tenants = (list.data || []).map((t) => t.id);
    } catch (e) {
      if (e instanceof SignedOut) return;
      state.tenants = [me.tenant];
    }
    if (!state.tenants.includes(viewedTenant())) session.setTenant(null);
    const select = h(
      'select',
      {
        id: 'who-tenant',
        onchange: (ev) => {
          session.setTenant(ev.target.value === me.tenant ? null : ev.target.value);
          route();
        },
      },
      state.tenants.map((t) =>
        h('option', { value: t, selected: t === viewedTenant() }, t === me.tenant ? `${t} (own)` : t)),
    );
    tenantEl = h('span', {}, h('label', { for: 'who-tenant', class: 'visually-hidden' }, 'Tenant shown'), select);
  }
  fill(
    identity,
    h('span', { class: 'who-label' }, 'Tenant'),
    tenantEl,
    h('span', { class: `role-badge role-${me.role}`, id: 'who-role', title: `key ${me.key_id}` }, me.role),
    signOutBtn,
  );
  identity.hidden = false;
}

// ---------- signing in and out ----------

// Shows the sign-in form, with a message (why the session ended, or what went wrong).
function showSignIn(message) {
  if (current) current.stop();
  current = null;
  state.me = null;
  nav.hidden = true;
  identity.hidden = true;
  fill(nav);
  fill(identity);
  document.title = 'Sign in · llmq console';
  const input = h('input', {
    id: 'api-key',
    name: 'api-key',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    placeholder: 'llmq-…',
    'aria-describedby': 'api-key-help',
  });
  const msg = h('p', { id: 'signin-message', class: 'signin-message', role: 'alert' }, message || '');
  const button = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in');
  const form = h(
    'form',
    { class: 'signin card', id: 'signin', novalidate: true },
    h('h1', { class: 'page-title', tabindex: '-1' }, 'Sign in to the llmq console'),
    h('label', { for: 'api-key' }, 'API key'),
    input,
    h(
      'p',
      { id: 'api-key-help', class: 'help' },
      'The key stays in this tab only (sessionStorage) and is sent to this llmq node as a Bearer token. ' +
        'Closing the tab or signing out forgets it.',
    ),
    button,
    msg,
  );
  // The form never submits itself (the CSP forbids form actions): the key never reaches a URL.
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    if (!key) {
      msg.textContent = 'Enter an API key.';
      input.focus();
      return;
    }
    button.disabled = true;
    msg.textContent = '';
    try {
      await signIn(key);
      input.value = '';
    } catch (e) {
      msg.textContent = signInFailure(e);
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  fill(main, form);
  input.focus();
}

function signInFailure(e) {
  if (e && e.status === 401) return `That key was not accepted: ${e.message}`;
  if (e && e.status === 403) {
    return `This key cannot use the admin API the console needs (${e.message}). ` +
      'Use a key without scopes or with the admin scope.';
  }
  return `Signing in failed: ${e && e.message} (${(e && e.code) || 'error'})`;
}

// Checks the key (GET /admin/v1/me with it), keeps it for this tab and opens the console.
async function signIn(key) {
  const me = await api('/admin/v1/me', { key });
  session.setKey(key);
  session.setTenant(null);
  await start(me);
}

// Builds the signed-in shell around `me` and shows the page the hash names.
async function start(me) {
  state.me = me;
  buildNav();
  await buildIdentity();
  if (!parseHash().parts.length) {
    location.replace('#/overview'); // the hashchange renders it
    return;
  }
  route();
}

// Forgets the key and returns to sign-in.
function signOut(message) {
  session.clear();
  state.tenants = null;
  showSignIn(message);
}

// ---------- start ----------

setUnauthorizedHandler(signOut);
window.addEventListener('hashchange', route);

// The skip link moves focus to the page without touching the hash (the router owns it).
document.getElementById('skip').addEventListener('click', (ev) => {
  ev.preventDefault();
  main.focus();
});

(async () => {
  if (!session.key()) {
    showSignIn('');
    return;
  }
  try {
    await start(await api('/admin/v1/me'));
  } catch (e) {
    if (e instanceof SignedOut) return;
    fill(main, errorBox(e, 'The console could not start'));
  }
})();
