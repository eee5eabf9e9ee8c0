// Batches (docs/batches.md): the tenant's batches with their progress, and one batch: its
// counts, times, usage, the input lines that were refused, and its output and error files to
// download. Files are fetched with the key and handed to the browser as a Blob: a plain link
// would not carry the Authorization header.
import {
  api, ApiError, atLeast, badge, confirmDialog, dl, errorBox, fill, fmtCount, fmtUsd, h, jsonBlock, loading,
  notice, ownTenantNote, pageHeader, pager, saveBlob, section, stackBar, table, timeEl,
} from './lib.js';

const ENDED = ['completed', 'failed', 'expired', 'cancelled'];
const PAGE = 20;

// completed + failed of total, as a bar and figures.
function progress(b) {
  const c = b.request_counts || { total: 0, completed: 0, failed: 0 };
  const doneN = (c.completed || 0) + (c.failed || 0);
  const label = `${fmtCount(doneN)} of ${fmtCount(c.total)} ended ` +
    `(${fmtCount(c.completed)} completed, ${fmtCount(c.failed)} failed)`;
  return h(
    'span',
    { class: 'progress' },
    stackBar([{ value: c.completed || 0, kind: 'ok' }, { value: c.failed || 0, kind: 'bad' }], c.total, label),
    h('span', { class: 'progress-text' }, `${fmtCount(doneN)} / ${fmtCount(c.total)}`),
  );
}

export async function batchesPage(ctx) {
  const listEl = h('div', {}, loading());
  fill(
    ctx.root,
    pageHeader('Batches', { sub: 'Batch API jobs of the tenant, newest first.' }),
    ownTenantNote(),
    h('div', { class: 'card' }, listEl),
  );
  let list;
  try {
    list = await api('/v1/batches', { params: { after: ctx.params.get('after'), limit: PAGE } });
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    fill(listEl, errorBox(e, 'The batches could not be listed'));
    return;
  }
  if (!ctx.live) return;
  fill(
    listEl,
    table(
      [
        { label: 'Batch', cell: (b) => h('a', { href: `#/batches/${b.id}`, class: 'mono' }, b.id) },
        { label: 'Status', cell: (b) => badge(b.status) },
        { label: 'Progress', cell: progress, class: 'bar-cell' },
        { label: 'Created', cell: (b) => timeEl(b.created_at) },
        { label: 'Window', cell: (b) => b.completion_window || '–' },
        { label: 'Cost', cell: (b) => fmtUsd(b.llmq && b.llmq.cost_usd), class: 'num' },
      ],
      list.data,
      { empty: 'No batches yet. Create one with the Batch API (POST /v1/files, then POST /v1/batches).' },
    ),
    pager(ctx, list, '#/batches'),
  );
}

export async function batchPage(ctx) {
  const id = ctx.id;
  const body = h('div', {}, loading());
  fill(
    ctx.root,
    pageHeader('Batch', { sub: h('code', {}, id), actions: h('a', { href: '#/batches', class: 'btn' }, '← Batches') }),
    body,
  );
  let done = false;
  const load = async () => {
    let b;
    try {
      b = await api(`/v1/batches/${encodeURIComponent(id)}`);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (!ctx.live) return;
      if (e.status === 404) {
        fill(
          ctx.root,
          pageHeader('Batch not found'),
          notice(`There is no batch ${id} in this tenant.`, 'warn'),
          errorBox(e),
        );
        done = true;
        ctx.quiet();
      } else fill(body, errorBox(e, 'The batch could not be read'));
      return;
    }
    if (!ctx.live) return;
    fill(body, batchView(b, load));
    if (ENDED.includes(b.status)) {
      done = true;
      ctx.quiet();
    }
  };
  await load();
  // A batch under way is read again every three seconds.
  if (!done) ctx.every(load, 3000);
}

function batchView(b, reload) {
  const c = b.request_counts || {};
  const u = b.usage || {};
  const times = [
    ['Created', 'created_at'], ['In progress', 'in_progress_at'], ['Finalizing', 'finalizing_at'],
    ['Completed', 'completed_at'], ['Failed', 'failed_at'], ['Expired', 'expired_at'],
    ['Cancelling', 'cancelling_at'], ['Cancelled', 'cancelled_at'], ['Expires', 'expires_at'],
  ].filter(([, k]) => b[k]);
  const errs = (b.errors && b.errors.data) || [];
  const msg = h('div', { 'aria-live': 'polite' });
  // Cancelling needs the developer role (as creating one does).
  const cancel = atLeast('developer') && ['validating', 'in_progress'].includes(b.status)
    ? h('button', {
      type: 'button',
      class: 'btn btn-danger',
      onclick: async () => {
        const sure = await confirmDialog(
          'Cancel this batch?',
          'Lines not started are dropped; lines at a provider finish.',
          'Cancel batch',
        );
        if (!sure) return;
        try {
          await api(`/v1/batches/${encodeURIComponent(b.id)}/cancel`, { method: 'POST' });
          reload();
        } catch (e) {
          if (e instanceof ApiError) fill(msg, errorBox(e, 'The batch could not be cancelled'));
        }
      },
    }, 'Cancel batch')
    : null;
  return h(
    'div',
    {},
    section(
      'Summary',
      dl([
        ['Status', badge(b.status)],
        ['Progress', progress(b)],
        ['Requests', `${fmtCount(c.total)} total, ${fmtCount(c.completed)} completed, ${fmtCount(c.failed)} failed`],
        ['Endpoint', b.endpoint],
        ['Window', b.completion_window],
        ['Tokens', `${fmtCount(u.input_tokens)} in, ${fmtCount(u.output_tokens)} out`],
        ['Cost', fmtUsd(b.llmq && b.llmq.cost_usd)],
      ]),
      cancel ? h('div', { class: 'actions' }, cancel) : null,
      msg,
    ),
    h(
      'div',
      { class: 'grid-2' },
      section('Times', dl(times.map(([label, k]) => [label, timeEl(b[k])]))),
      section(
        'Files',
        h(
          'div',
          { class: 'downloads' },
          download('Input file', b.input_file_id),
          download('Output file', b.output_file_id),
          download('Error file', b.error_file_id),
        ),
      ),
    ),
    b.metadata && Object.keys(b.metadata).length ? section('Metadata', jsonBlock(b.metadata)) : null,
    section(
      `Refused lines (${fmtCount(errs.length)})`,
      table(
        [
          { label: 'Line', cell: (e) => (e.line !== undefined ? String(e.line) : '–'), class: 'num' },
          { label: 'Code', cell: (e) => h('code', {}, e.code || '–') },
          { label: 'Message', cell: (e) => e.message || '' },
          { label: 'Param', cell: (e) => e.param || '' },
        ],
        errs,
        { empty: 'Every line of the input file was a valid request.' },
      ),
    ),
  );
}

// A download button for a file of the batch: fetches its bytes with the key, then saves them.
function download(label, fileId) {
  if (!fileId) return h('div', { class: 'download muted' }, `${label}: none`);
  const status = h('span', { class: 'muted', 'aria-live': 'polite' });
  const btn = h(
    'button',
    {
      type: 'button',
      class: 'btn',
      dataset: { file: fileId },
      onclick: async () => {
        btn.disabled = true;
        status.textContent = ' downloading…';
        try {
          const res = await api(`/v1/files/${encodeURIComponent(fileId)}/content`, { raw: true });
          saveBlob(await res.blob(), `${fileId}.jsonl`);
          status.textContent = ' saved.';
        } catch (e) {
          if (!(e instanceof ApiError)) throw e;
          status.replaceChildren(errorBox(e, `${label} could not be downloaded`));
        } finally {
          btn.disabled = false;
        }
      },
    },
    `Download ${label.toLowerCase()}`,
  );
  return h('div', { class: 'download' }, h('div', {}, btn, status), h('code', { class: 'small muted' }, fileId));
}
