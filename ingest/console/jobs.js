// Jobs: the tenant's jobs (GET /v1/jobs, newest first, a status filter, pages by `after`),
// and one job whole (GET /v1/jobs/{id}/trace): its request, result, error, and its trace as a
// timeline of spans with the route the worker took.
import {
  api, ApiError, badge, dl, errorBox, fill, fmtCount, fmtMs, fmtTime, h, jsonBlock, loading, messageView, notice,
  ownTenantNote, pageHeader, pager, section, shortId, table, timeEl, withParam,
} from './lib.js';
import { timeline } from './charts.js';

const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
const FINAL = ['succeeded', 'failed', 'cancelled'];
const PAGE = 25;

// How long a job took, from its times (seconds): started to completed, else created to completed.
function took(j) {
  if (!j.completed_at) return h('span', { class: 'muted' }, '–');
  const from = j.started_at || j.created_at;
  const secs = Math.max(0, j.completed_at - from); // the list's times are whole seconds
  return secs < 1 ? '< 1 s' : `${secs} s`;
}

export async function jobsPage(ctx) {
  const status = STATUSES.includes(ctx.params.get('status')) ? ctx.params.get('status') : '';
  const idInput = h('input', {
    id: 'job-search', type: 'search', placeholder: 'a job id (UUID)', autocomplete: 'off', spellcheck: 'false',
  });
  const search = h(
    'form',
    {
      class: 'inline-form',
      role: 'search',
      onsubmit: (ev) => {
        ev.preventDefault();
        const id = idInput.value.trim().replace(/^chatcmpl-/, '');
        if (id) ctx.go(`#/jobs/${encodeURIComponent(id)}`);
      },
    },
    h('label', { for: 'job-search' }, 'Open a job'),
    idInput,
    h('button', { type: 'submit', class: 'btn' }, 'Open'),
  );
  const filter = h(
    'div',
    { class: 'inline-form' },
    h('label', { for: 'job-status' }, 'Status'),
    h(
      'select',
      { id: 'job-status', onchange: (ev) => ctx.go(withParam(ctx, '#/jobs', 'status', ev.target.value)) },
      h('option', { value: '', selected: !status }, 'any'),
      STATUSES.map((st) => h('option', { value: st, selected: st === status }, st)),
    ),
  );
  const listEl = h('div', {}, loading());
  fill(
    ctx.root,
    pageHeader('Jobs', { sub: 'Every request of the tenant is a job: newest first.' }),
    ownTenantNote(),
    h('div', { class: 'toolbar' }, filter, search),
    h('div', { class: 'card' }, listEl),
  );
  let list;
  try {
    // `limit` in the hash sets the page size (1-100), as the API's parameter does.
    const limit = Math.min(100, Math.max(1, Number(ctx.params.get('limit')) || PAGE));
    list = await api('/v1/jobs', { params: { status, after: ctx.params.get('after'), limit } });
  } catch (e) {
    fill(listEl, errorBox(e, 'The jobs could not be listed'));
    if (e instanceof ApiError) return;
    throw e;
  }
  if (!ctx.live) return;
  fill(
    listEl,
    table(
      [
        { label: 'Job', cell: (j) => h('a', { href: `#/jobs/${j.id}`, class: 'mono', title: j.id }, j.id) },
        { label: 'Status', cell: (j) => badge(j.status) },
        { label: 'Model', cell: (j) => j.model },
        { label: 'Mode', cell: (j) => j.mode || '–' },
        { label: 'Provider', cell: (j) => j.provider || '–' },
        { label: 'Created', cell: (j) => timeEl(j.created_at) },
        { label: 'Took', cell: took, class: 'num' },
        {
          label: 'Error',
          cell: (j) => (j.error ? h('code', { title: j.error.message || '' }, j.error.code || j.error.type || 'error') : ''),
        },
      ],
      list.data,
      { empty: status ? `No ${status} jobs.` : 'No jobs yet.', rowAttrs: (j) => ({ dataset: { job: j.id } }) },
    ),
    pager(ctx, list, '#/jobs'),
  );
}

export async function jobPage(ctx) {
  const id = ctx.id;
  const body = h('div', {}, loading());
  const refresh = h('button', { type: 'button', class: 'btn', onclick: () => load() }, 'Refresh');
  fill(
    ctx.root,
    pageHeader('Job', {
      sub: h('code', { class: 'mono' }, id),
      actions: [h('a', { href: '#/jobs', class: 'btn' }, '← Jobs'), refresh],
    }),
    body,
  );
  let tries = 0;
  let done = false; // the job has ended and its trace is stored, or it does not exist
  // Loads the job; until it has ended and its trace is stored, again every two seconds (a
  // minute at most).
  const load = async () => {
    let job;
    try {
      job = await api(`/v1/jobs/${encodeURIComponent(id)}/trace`);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (!ctx.live) return;
      if (e.status === 404) {
        fill(
          ctx.root,
          pageHeader('Job not found'),
          notice(`There is no job ${id} in this tenant: the id is unknown, malformed, or a job of another ` +
            'tenant.', 'warn'),
          errorBox(e),
          h('p', {}, h('a', { href: '#/jobs' }, '← All jobs')),
        );
        done = true;
        ctx.quiet();
      } else {
        fill(body, errorBox(e, 'The job could not be read'));
      }
      return;
    }
    if (!ctx.live) return;
    fill(body, jobView(job));
    if (FINAL.includes(job.status) && job.trace) {
      done = true;
      ctx.quiet();
    }
  };
  await load();
  if (done) return;
  ctx.every(() => {
    tries += 1;
    if (tries > 30) ctx.quiet();
    else load();
  }, 2000);
}

// A job whole.
function jobView(j) {
  const t = j.trace;
  return h(
    'div',
    { class: 'job' },
    section(
      'Summary',
      dl([
        ['Status', badge(j.status)],
        ['Model', j.model],
        ['Mode', j.mode || '–'],
        ['Provider', j.provider || (t && t.provider) || '–'],
        ['Created', timeEl(j.created_at)],
        ['Started', timeEl(j.started_at)],
        ['Completed', timeEl(j.completed_at)],
        ['Took', t && t.total_ms !== null && t.total_ms !== undefined ? fmtMs(t.total_ms) : took(j)],
        j.conversation_id
          ? ['Conversation', h('a', { href: `#/conversations/${j.conversation_id}` }, shortId(j.conversation_id))]
          : null,
      ]),
    ),
    j.error ? section('Error', errorView(j.error)) : null,
    h('div', { class: 'grid-2' }, section('Request', requestView(j.request)), section('Result', resultView(j))),
    section('Trace', traceView(t, j)),
  );
}

function errorView(e) {
  return h(
    'div',
    { class: 'error-box', role: 'note' },
    h('strong', {}, `${e.code || e.type || 'error'}: `),
    h('span', { class: 'error-message' }, e.message || ''),
    e.param ? h('span', { class: 'error-meta' }, ` (param ${e.param})`) : null,
  );
}

// Names of the request's parameters as the page shows them.
const PARAMS = { model: 'Model', max_tokens: 'Max tokens', temperature: 'Temperature', top_p: 'Top p' };

// The request as the job's row keeps it: parameters, then the messages.
function requestView(r) {
  if (!r) return notice('The request of this job is not stored.');
  const params = Object.entries(r).filter(([k]) => !['messages', 'messages_not_kept', 'bytes'].includes(k));
  return h(
    'div',
    {},
    dl(params.map(([k, v]) => [PARAMS[k] || k, typeof v === 'object' ? JSON.stringify(v) : String(v)])),
    r.messages_not_kept !== undefined
      ? notice(`The ${r.messages_not_kept} messages (${fmtCount(r.bytes)} bytes) were too large to keep.`)
      : h('div', { class: 'messages' }, (r.messages || []).map((m) => messageView(m))),
  );
}

function resultView(j) {
  const r = j.result;
  if (!r) {
    return notice(FINAL.includes(j.status) ? 'No result.' : `No result yet: the job is ${j.status}.`);
  }
  const choices = r.choices || [];
  const u = r.usage || {};
  return h(
    'div',
    {},
    h('div', { class: 'messages' }, choices.map((c) => messageView(
      c.message || { role: 'assistant', content: '' },
      c.finish_reason ? h('span', { class: 'muted' }, ` finish: ${c.finish_reason}`) : null,
    ))),
    dl([
      ['Prompt tokens', fmtCount(u.prompt_tokens)],
      ['Completion tokens', fmtCount(u.completion_tokens)],
      ['Total tokens', fmtCount(u.total_tokens)],
      r.model ? ['Answered by', r.model] : null,
    ]),
  );
}

// The trace: where the job went and how long each part took.
function traceView(t, j) {
  if (!t) {
    return notice(FINAL.includes(j.status)
      ? 'No trace is stored for this job yet.'
      : `No trace yet: the job is ${j.status}. This page refreshes by itself.`);
  }
  return h(
    'div',
    {},
    dl([
      ['Route', h('span', { class: 'route' }, t.route || '–')],
      ['Provider', t.provider || '–'],
      ['Worker', t.worker_id || '–'],
      ['Queue', fmtMs(t.queue_ms)],
      ['Provider time', fmtMs(t.provider_ms)],
      ['Total', fmtMs(t.total_ms)],
      t.ttft_ms !== null && t.ttft_ms !== undefined && t.ttft_ms >= 0 ? ['First token', fmtMs(t.ttft_ms)] : null,
      ['Trace id', h('code', {}, t.trace_id || '–')],
      ['Trace status', badge(t.status || '–')],
    ]),
    h('h3', {}, 'Spans'),
    timeline(t.spans, fmtMs),
    h('details', {}, h('summary', {}, 'The spans as JSON'), jsonBlock(t.spans)),
    h('p', { class: 'muted small' },
      `Times are measured by the worker's clock; the job was created ${fmtTime(j.created_at)}.`),
  );
}
