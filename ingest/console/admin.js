// The tenant's administration (docs/tenancy.md, docs/limits.md): API keys (list, create,
// revoke), the limits that apply to this key with their current use, the audit log with
// its verification, and the installation's queue for platform keys.
import {
  api, ApiError, atLeast, badge, bar, confirmDialog, copyText, dl, errorBox, fill, fmtCount, fmtDuration, fmtInt,
  fmtPct, fmtUsd, h, jsonBlock, loading, mayManage, notice, ownTenantNote, pageHeader, ROLES, section, state, table,
  tenantPath, timeEl, viewedTenant,
} from './lib.js';

// ---------- keys ----------

export async function keysPage(ctx) {
  const created = h('div', { 'aria-live': 'polite' });
  const listEl = h('div', {}, loading());
  const canCreate = atLeast('admin');
  fill(
    ctx.root,
    pageHeader('API keys', {
      sub: `Keys of tenant ${viewedTenant()}. A key is shown once, when it is created; llmq keeps only its hash.`,
    }),
    canCreate ? section('Create a key', createForm(ctx, created, () => loadList())) : null,
    created,
    section('Keys', listEl),
  );

  const loadList = async () => {
    let list;
    try {
      list = await api(tenantPath('/keys'));
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (ctx.live) fill(listEl, errorBox(e, 'The keys could not be listed'));
      return;
    }
    if (!ctx.live) return;
    // Newest first; revoked keys after the active ones.
    const rows = (list.data || []).slice().sort((a, b) => (a.revoked - b.revoked) || (b.created_at - a.created_at));
    const expired = (k) => k.expires_at && k.expires_at * 1000 < Date.now();
    fill(
      listEl,
      table(
        [
          { label: 'Prefix', cell: (k) => h('code', {}, k.prefix) },
          {
            label: 'Name',
            cell: (k) => [
              k.name || h('span', { class: 'muted' }, '–'),
              state.me && k.id === state.me.key_id ? h('span', { class: 'muted' }, ' (this key)') : null,
            ],
          },
          { label: 'Role', cell: (k) => h('span', { class: `role-badge role-${k.role}` }, k.role) },
          { label: 'Project', cell: (k) => k.project || '–' },
          { label: 'User', cell: (k) => k.user || '–' },
          { label: 'Scopes', cell: (k) => (k.scopes && k.scopes.length ? k.scopes.join(', ') : 'all') },
          { label: 'Created', cell: (k) => timeEl(k.created_at) },
          { label: 'Expires', cell: (k) => (k.expires_at ? timeEl(k.expires_at) : 'never') },
          {
            label: 'State',
            cell: (k) => (k.revoked ? badge('revoked') : expired(k) ? badge('expired') : badge('active')),
          },
          // Only keys that may revoke keys see the column.
          atLeast('admin') && {
            label: 'Actions',
            cell: (k) => {
              if (k.revoked || !mayManage(k.role)) return '';
              const own = state.me && k.id === state.me.key_id;
              return h(
                'button',
                {
                  type: 'button',
                  class: 'btn btn-small btn-danger',
                  dataset: { revoke: k.id },
                  'aria-label': `Revoke key ${k.prefix}${k.name ? ` (${k.name})` : ''}`,
                  onclick: () => revoke(k, own),
                },
                'Revoke',
              );
            },
          },
        ],
        rows,
        { empty: 'No keys.', rowAttrs: (k) => ({ dataset: { key: k.id, prefix: k.prefix } }) },
      ),
    );
  };

  const revoke = async (k, own) => {
    const ok = await confirmDialog(
      `Revoke key ${k.prefix}?`,
      `${k.name ? `“${k.name}” ` : ''}stops working on every node within a second. ` +
        (own ? 'This is the key you are signed in with: the console will sign you out. ' : '') +
        'This cannot be undone.',
      'Revoke key',
    );
    if (!ok) return;
    try {
      await api(tenantPath(`/keys/${encodeURIComponent(k.id)}`), { method: 'DELETE' });
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      fill(created, errorBox(e, `Key ${k.prefix} could not be revoked`));
      return;
    }
    fill(created, notice(`Key ${k.prefix} is revoked.`, 'ok'));
    await loadList();
  };

  await loadList();
}

// The form that creates a key (admins and above; the roles offered are those this key may
// give, as the API checks them).
function createForm(ctx, out, reload) {
  const roles = ROLES.filter((r) => mayManage(r) && ROLES.indexOf(r) <= ROLES.indexOf(state.me.role));
  const name = h('input', {
    id: 'key-name', type: 'text', maxlength: '200', autocomplete: 'off', placeholder: 'e.g. billing-service',
  });
  const role = h('select', { id: 'key-role' },
    roles.map((r) => h('option', { value: r, selected: r === 'developer' }, r)));
  const days = h('input', {
    id: 'key-expires', type: 'number', min: '1', max: '3650', step: '1', inputmode: 'numeric', placeholder: 'never',
  });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'create-key' }, 'Create key');
  const form = h(
    'form',
    { class: 'form-row', id: 'key-form' },
    h('div', { class: 'field' }, h('label', { for: 'key-name' }, 'Name'), name),
    h('div', { class: 'field' }, h('label', { for: 'key-role' }, 'Role'), role),
    h('div', { class: 'field' }, h('label', { for: 'key-expires' }, 'Expires in days (optional)'), days),
    h('div', { class: 'field field-submit' }, submit),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { name: name.value.trim(), role: role.value };
    if (days.value) body.expires_at = Math.floor(Date.now() / 1000) + Number(days.value) * 86400;
    submit.disabled = true;
    try {
      const k = await api(tenantPath('/keys'), { method: 'POST', body });
      fill(out, newKeyBox(k, out));
      form.reset();
      role.value = roles.includes('developer') ? 'developer' : roles[0];
      await reload();
      out.querySelector('#new-key-value').focus();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      fill(out, errorBox(e, 'The key could not be created'));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

// The new key, shown this once, with a Copy button. It is kept nowhere: leaving the page or
// pressing Done forgets it.
function newKeyBox(k, out) {
  const value = h('input', {
    id: 'new-key-value', type: 'text', readonly: true, value: k.key, 'aria-label': 'The new API key', spellcheck: 'false',
  });
  const copied = h('span', { class: 'muted', 'aria-live': 'polite' });
  return h(
    'div',
    { class: 'card new-key', id: 'new-key', role: 'region', 'aria-label': 'New API key' },
    h('h2', {}, `New key ${k.prefix}${k.name ? ` (${k.name})` : ''}, role ${k.role}`),
    h('p', {}, h('strong', {}, 'Copy it now: '), 'it will not be shown again.'),
    h(
      'div',
      { class: 'copy-row' },
      value,
      h('button', {
        type: 'button',
        class: 'btn',
        id: 'copy-key',
        onclick: async () => {
          const ok = await copyText(value.value);
          copied.textContent = ok ? ' Copied.' : ' Copying failed: select the key and copy it.';
          if (!copied.textContent.includes('Copied')) value.select();
        },
      }, 'Copy'),
      h('button', { type: 'button', class: 'btn btn-quiet', onclick: () => fill(out) }, 'Done'),
      copied,
    ),
  );
}

// ---------- limits ----------

// The dimensions, in reading order, with what they count (docs/limits.md).
const DIMENSIONS = {
  rpm: ['Requests per minute', 'count'],
  rph: ['Requests per hour', 'count'],
  rpd: ['Requests per day', 'count'],
  tpm: ['Tokens per minute', 'count'],
  tpd: ['Tokens per day', 'count'],
  usd_per_day: ['Spend per day (UTC)', 'usd'],
  usd_per_month: ['Spend per month (UTC)', 'usd'],
  concurrent: ['Requests in flight', 'count'],
};
const SCOPES = [
  ['tenant', 'Tenant'], ['project', 'Project'], ['user', 'User'], ['key', 'Key'], ['installation', 'Installation'],
];

export async function limitsPage(ctx) {
  const body = h('div', {}, loading());
  fill(
    ctx.root,
    pageHeader('Limits', { sub: 'The limits that apply to this key’s requests, and what is used of them now.' }),
    ownTenantNote(),
    body,
  );
  let l;
  try {
    l = await api('/v1/limits');
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    fill(body, errorBox(e, 'The limits could not be read'));
    return;
  }
  if (!ctx.live) return;
  const usage = l.usage || {};
  const dimsOf = (scope) => (l.scopes && l.scopes[scope] ? l.scopes[scope] : {});
  const limited = SCOPES.filter(([scope]) => Object.keys(dimsOf(scope)).length > 0);
  const unlimited = SCOPES.filter(([scope]) => Object.keys(dimsOf(scope)).length === 0);
  fill(
    body,
    section('Tier', dl([['Tier', l.tier || '–'], ['Scheduling weight', String(l.weight ?? '–')]])),
    limited.map(([scope, label]) => scopeCard(scope, label, dimsOf(scope), usage[scope] || {})),
    unlimited.length
      ? notice(`No limits at the ${listWords(unlimited.map(([, label]) => label.toLowerCase()))} ` +
        `scope${unlimited.length > 1 ? 's' : ''}.`)
      : null,
  );
}

// "a", "a and b", "a, b and c".
function listWords(words) {
  return words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

// One scope's limits: allowed, used, remaining, a bar of the use and when it resets.
function scopeCard(scope, label, dims, use) {
  const names = Object.keys(dims).sort((a, b) => order(a) - order(b));
  return h(
    'section',
    { class: 'card', dataset: { scope } },
    h('h2', {}, `${label} scope`),
    table(
      [
        { label: 'Limit', cell: (d) => (DIMENSIONS[d] ? DIMENSIONS[d][0] : d) },
        { label: 'Allowed', cell: (d) => amount(d, dims[d]), class: 'num' },
        { label: 'Used', cell: (d) => (use[d] ? amount(d, use[d].used) : '–'), class: 'num' },
        { label: 'Remaining', cell: (d) => (use[d] ? amount(d, use[d].remaining) : '–'), class: 'num' },
        {
          label: 'Use',
          cell: (d) => {
            const u = use[d];
            if (!u) return h('span', { class: 'muted' }, 'not counted');
            const ratio = u.limit > 0 ? u.used / u.limit : 1;
            return h(
              'span',
              { class: 'rate' },
              bar(u.used, u.limit, {
                label: `${amount(d, u.used)} of ${amount(d, u.limit)} used`,
                kind: ratio >= 0.9 ? 'bad' : ratio >= 0.7 ? 'warn' : null,
              }),
              fmtPct(ratio),
            );
          },
          class: 'bar-cell',
        },
        {
          label: 'Resets in',
          cell: (d) => (use[d] ? (use[d].reset_seconds > 0 ? fmtDuration(use[d].reset_seconds) : 'now') : '–'),
          class: 'num',
        },
      ],
      names,
      { rowAttrs: (d) => ({ dataset: { dimension: d } }) },
    ),
  );
}

function order(d) {
  const i = Object.keys(DIMENSIONS).indexOf(d);
  return i < 0 ? 99 : i;
}

function amount(d, v) {
  if (v === null || v === undefined) return 'none';
  return DIMENSIONS[d] && DIMENSIONS[d][1] === 'usd' ? fmtUsd(v) : fmtInt(v);
}

// ---------- audit ----------

export async function auditPage(ctx) {
  const verifyEl = h('div', {}, loading('Verifying the chain…'));
  const listEl = h('div', {}, loading());
  fill(
    ctx.root,
    pageHeader('Audit log', {
      sub: `Tenant ${viewedTenant()}: every admin change, newest first (the last 100), in a hash chain.`,
    }),
    section('Verification', verifyEl),
    section('Entries', listEl),
  );
  await Promise.all([
    (async () => {
      try {
        const v = await api(tenantPath('/audit/verify'));
        if (!ctx.live) return;
        fill(verifyEl, verification(v));
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        fill(verifyEl, e.status === 404
          ? notice('Verification is not available on this node.', 'warn')
          : errorBox(e, 'The chain could not be verified'));
      }
    })(),
    (async () => {
      try {
        const [list, keys] = await Promise.all([
          api(tenantPath('/audit')),
          api(tenantPath('/keys')).catch((e) => {
            if (!(e instanceof ApiError)) throw e;
            return { data: [] };
          }),
        ]);
        if (!ctx.live) return;
        const keyOf = new Map((keys.data || []).map((k) => [k.id, k]));
        fill(
          listEl,
          table(
            [
              { label: 'Seq', cell: (a) => String(a.seq), class: 'num' },
              { label: 'Time', cell: (a) => timeEl(Math.floor(a.ts)) },
              { label: 'Actor', cell: (a) => actorView(a.actor, keyOf) },
              { label: 'Action', cell: (a) => h('code', {}, a.action) },
              { label: 'Target', cell: (a) => keyRef(a.target, keyOf) || a.target || '–' },
              { label: 'Details', cell: (a) => detailsView(a.details) },
              {
                label: 'Hash',
                cell: (a) => h('code', { title: a.hash, class: 'small' }, String(a.hash || '').slice(0, 12)),
              },
            ],
            list.data,
            { empty: 'No entries yet.', rowAttrs: (a) => ({ dataset: { seq: String(a.seq) } }) },
          ),
        );
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        fill(listEl, errorBox(e, 'The audit log could not be read'));
      }
    })(),
  ]);
}

// A key id as its prefix (and name), the id in its title; null when the id is not a key's.
function keyRef(id, keyOf) {
  const k = keyOf.get(id);
  if (!k) return null;
  return h('span', { title: id }, h('code', {}, k.prefix), k.name ? ` ${k.name}` : '');
}

// An actor ("key:<id> user:<u> (role)", or "llmqctl") with the key named by its prefix.
function actorView(actor, keyOf) {
  const m = /^key:([0-9a-f-]{36})(.*)$/.exec(actor || '');
  if (!m) return actor || '–';
  return h('span', {}, 'key ', keyRef(m[1], keyOf) || h('code', { title: m[1] }, `${m[1].slice(0, 8)}…`), m[2]);
}

// An entry's details as "name: value" lines, leaving out empty values.
function detailsView(details) {
  const rows = Object.entries(details || {}).filter(([, v]) => v !== null && v !== undefined && v !== '');
  if (!rows.length) return '';
  return h('span', { class: 'details small' }, rows.map(([k, v]) =>
    h('span', { class: 'detail' }, h('span', { class: 'muted' }, `${k}: `),
      typeof v === 'object' ? JSON.stringify(v) : String(v))));
}

function verification(v) {
  if (v.intact) {
    return h(
      'p',
      { class: 'notice notice-ok', id: 'audit-verification', dataset: { intact: 'true' } },
      badge('intact', 'succeeded'),
      ` The chain is intact: ${fmtCount(v.entries)} entries, each hash recomputed by the server matches.`,
    );
  }
  return h(
    'div',
    { class: 'notice notice-bad', id: 'audit-verification', dataset: { intact: 'false' } },
    badge('broken', 'failed'),
    ` The chain is broken at entry ${v.broken_seq ?? '?'}${v.action ? ` (${v.action})` : ''}: ` +
      `${v.reason || 'no reason given'}.`,
    h('p', { class: 'small' }, `${fmtCount(v.entries)} entries checked.`),
  );
}

// ---------- queue ----------

// The installation's queue (platform keys, GET /admin/v1/queue): the totals, then each worker
// seen in the last 30 seconds — what it holds against its bounds, paused topics, circuit
// breakers and the lag of each partition it owns. Read again every five seconds.
export async function queuePage(ctx) {
  const body = h('div', {}, loading());
  fill(
    ctx.root,
    pageHeader('Queue', { sub: 'The installation’s queue: work in flight, waiting and lagging, per worker.' }),
    body,
  );
  const load = async () => {
    let q;
    try {
      q = await api('/admin/v1/queue');
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (!ctx.live) return;
      if (e.status === 404) {
        fill(body, notice('The queue view is not available on this node (GET /admin/v1/queue is not there).', 'warn'));
        ctx.quiet();
      } else fill(body, errorBox(e, 'The queue could not be read'));
      return;
    }
    if (!ctx.live) return;
    fill(
      body,
      Array.isArray(q.workers) ? queueView(q) : generic(q),
      h('p', { class: 'muted small' }, `Read at ${new Date().toLocaleTimeString()}; read again every 5 s.`),
    );
  };
  await load();
  ctx.every(load, 5000);
}

function queueView(q) {
  const stat = (id, label, value) =>
    h('div', { class: 'stat', dataset: { stat: id, value: String(value ?? 0) } },
      h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value' }, fmtCount(value ?? 0)));
  return h(
    'div',
    {},
    section('Totals', h('div', { class: 'stats' },
      stat('inflight', 'Jobs in flight', q.inflight),
      stat('queued', 'Jobs queued in workers', q.queued),
      stat('lag', 'Records not yet read (lag)', q.lag),
      stat('dead-letters', 'Dead letters', q.dead_letters))),
    q.workers.length === 0
      ? notice('No worker has reported in the last 30 seconds.', 'warn')
      : q.workers.map(workerCard),
  );
}

// One worker: its load against its bounds, what it paused, its breakers and partitions.
function workerCard(w) {
  const load = (used, max) => {
    if (!(max > 0)) return fmtInt(used);
    const kind = used / max >= 0.9 ? 'warn' : null;
    const label = `${fmtInt(used)} / ${fmtInt(max)}`;
    return h('span', { class: 'rate' }, bar(used, max, { label, kind }), label);
  };
  const paused = [w.requests_paused ? 'requests' : null, w.batch_paused ? 'batch' : null].filter(Boolean);
  const parts = (w.partitions || []).slice().sort((a, b) => (b.lag || 0) - (a.lag || 0));
  return h(
    'section',
    { class: 'card', dataset: { worker: w.worker_id } },
    h('h2', {}, `Worker ${w.worker_id}`),
    dl([
      ['Group', w.group || '–'],
      ['Reported', `${w.seen_s_ago ?? '?'} s ago`],
      ['In flight', load(w.inflight || 0, w.max_inflight || 0)],
      ['Queued', load(w.queued || 0, w.max_queued || 0)],
      ['Batch jobs', load(w.batch_jobs || 0, w.batch_max || 0)],
      ['Paused', paused.length ? paused.join(', ') : 'nothing'],
      ['Circuit breakers', (w.breakers || []).length
        ? w.breakers.map((b) => [badge(`${b.endpoint}: ${b.state}`, b.state === 'closed' ? 'succeeded' : 'failed'), ' '])
        : 'none'],
    ]),
    h('details', {}, h('summary', {}, `Partitions (${parts.length}), most lag first`), table(
      [
        { label: 'Topic', cell: (p) => p.topic },
        { label: 'Partition', cell: (p) => String(p.partition), class: 'num' },
        { label: 'Position', cell: (p) => (p.position === null ? '–' : fmtInt(p.position)), class: 'num' },
        { label: 'End', cell: (p) => (p.end === null ? '–' : fmtInt(p.end)), class: 'num' },
        { label: 'Lag', cell: (p) => (p.lag === null ? '–' : fmtInt(p.lag)), class: 'num' },
      ],
      parts,
      { empty: 'No partitions assigned.' },
    )),
  );
}

// Any other JSON object as sections: scalars as facts, arrays of objects as tables, other
// values as JSON.
function generic(obj) {
  if (Array.isArray(obj)) return rowsTable(obj);
  if (!obj || typeof obj !== 'object') return h('p', {}, String(obj));
  const scalars = [];
  const parts = [];
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'object') continue;
    if (v === null || typeof v !== 'object') scalars.push([k, scalar(k, v)]);
    else if (Array.isArray(v)) parts.push(section(k, rowsTable(v)));
    else parts.push(section(k, generic(v)));
  }
  return h('div', {}, scalars.length ? dl(scalars) : null, parts);
}

function rowsTable(rows) {
  if (rows.length && rows.every((r) => r && typeof r === 'object' && !Array.isArray(r))) {
    const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
    return table(cols.map((c) => ({ label: c, cell: (r) => scalar(c, r[c]) })), rows);
  }
  return rows.length ? jsonBlock(rows) : notice('Empty.');
}

function scalar(k, v) {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'object') return h('code', { class: 'small wrap' }, JSON.stringify(v));
  if (typeof v === 'number' && /(_at|time)$/.test(k) && v > 1e9) return timeEl(v);
  if (typeof v === 'number') return fmtCount(v);
  return String(v);
}
