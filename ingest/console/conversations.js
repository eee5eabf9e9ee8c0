// Conversations kept on the server (docs/conversations.md): the list, and one conversation
// with its settings and stored messages (oldest first, 100 a page, "Load more").
import {
  api, ApiError, dl, errorBox, fill, fmtCount, fmtUsd, h, jsonBlock, loading, messageView, notice, ownTenantNote,
  pageHeader, pager, section, shortId, table, timeEl,
} from './lib.js';

export async function conversationsPage(ctx) {
  const listEl = h('div', {}, loading());
  fill(
    ctx.root,
    pageHeader('Conversations', {
      sub: 'Conversations kept on the server, newest first. Keys bound to a user see their own.',
    }),
    ownTenantNote(),
    h('div', { class: 'card' }, listEl),
  );
  let list;
  try {
    list = await api('/v1/conversations', { params: { after: ctx.params.get('after'), limit: 20 } });
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    fill(listEl, errorBox(e, 'The conversations could not be listed'));
    return;
  }
  if (!ctx.live) return;
  fill(
    listEl,
    table(
      [
        {
          label: 'Conversation',
          cell: (c) => h('a', { href: `#/conversations/${c.id}` }, c.title || h('span', { class: 'mono' }, c.id)),
        },
        { label: 'Model', cell: (c) => c.model || '–' },
        { label: 'Messages', cell: (c) => fmtCount(c.message_count), class: 'num' },
        { label: 'Tokens', cell: (c) => fmtCount(c.usage && c.usage.total_tokens), class: 'num' },
        { label: 'Cost', cell: (c) => fmtUsd(c.usage && c.usage.cost_usd), class: 'num' },
        { label: 'User', cell: (c) => c.user || '–' },
        { label: 'Updated', cell: (c) => timeEl(c.updated_at) },
      ],
      list.data,
      { empty: 'No conversations yet (POST /v1/conversations creates one).' },
    ),
    pager(ctx, list, '#/conversations'),
  );
}

export async function conversationPage(ctx) {
  const id = ctx.id;
  const head = h('div', {}, loading());
  const msgs = h('div', { class: 'messages' });
  const more = h('div', {});
  fill(
    ctx.root,
    pageHeader('Conversation', {
      sub: h('code', {}, id),
      actions: h('a', { href: '#/conversations', class: 'btn' }, '← Conversations'),
    }),
    head,
    section('Messages', msgs, more),
  );
  let c;
  try {
    c = await api(`/v1/conversations/${encodeURIComponent(id)}`);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (e.status === 404) {
      fill(
        ctx.root,
        pageHeader('Conversation not found'),
        notice(`There is no conversation ${id} that this key may read.`, 'warn'),
        errorBox(e),
      );
    } else fill(head, errorBox(e, 'The conversation could not be read'));
    return;
  }
  if (!ctx.live) return;
  const u = c.usage || {};
  fill(
    head,
    section(
      c.title || 'Untitled conversation',
      dl([
        ['Model', c.model || '–'],
        ['Messages', fmtCount(c.message_count)],
        ['Tokens', `${fmtCount(u.total_tokens)} (${fmtCount(u.prompt_tokens)} prompt, ` +
          `${fmtCount(u.completion_tokens)} completion)`],
        ['Cost', fmtUsd(u.cost_usd)],
        ['Window', windowText(c.window)],
        ['User', c.user || '–'],
        ['Project', c.project || '–'],
        ['Created', timeEl(c.created_at)],
        ['Updated', timeEl(c.updated_at)],
      ]),
      c.system_prompt
        ? h('div', {}, h('h3', {}, 'System prompt'), h('div', { class: 'message-content boxed' }, c.system_prompt))
        : null,
      c.context && Object.keys(c.context).length ? h('div', {}, h('h3', {}, 'Context'), jsonBlock(c.context)) : null,
      c.metadata && Object.keys(c.metadata).length ? h('div', {}, h('h3', {}, 'Metadata'), jsonBlock(c.metadata)) : null,
    ),
  );
  // Pages of stored messages, oldest first.
  const loadPage = async (after) => {
    fill(more, loading());
    let page;
    try {
      page = await api(`/v1/conversations/${encodeURIComponent(id)}/messages`, { params: { after, limit: 100 } });
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      fill(more, errorBox(e, 'The messages could not be read'));
      return;
    }
    if (!ctx.live) return;
    for (const m of page.data || []) msgs.append(messageView(m, messageMeta(m)));
    if (!msgs.firstChild) msgs.append(notice('No messages yet.'));
    fill(more, page.has_more
      ? h('button', { type: 'button', class: 'btn', onclick: () => loadPage(page.last_id) }, 'Load more')
      : null);
  };
  await loadPage(null);
}

// How much history a turn's prompt carries (docs/conversations.md: 50 messages by default,
// within the model's context window unless a token budget is set).
function windowText(w) {
  const n = w && w.last_n !== null && w.last_n !== undefined
    ? `the last ${fmtCount(w.last_n)} messages`
    : 'the last 50 messages (default)';
  const b = w && w.token_budget ? `within ${fmtCount(w.token_budget)} tokens` : "within the model's context window";
  return `${n}, ${b}`;
}

// A stored message's id, time, job and what its prompt carried.
function messageMeta(m) {
  const sw = m.sent_with;
  return h(
    'span',
    { class: 'message-meta' },
    ` ${m.id || ''} · `,
    timeEl(m.created_at),
    m.job_id ? [' · job ', h('a', { href: `#/jobs/${m.job_id}` }, shortId(m.job_id))] : null,
    sw ? ` · ${historyText(sw)}` : null,
  );
}

// What a turn's prompt carried of the history ("sent_with").
function historyText(sw) {
  const sent = sw.sent > 0
    ? `sent with history msg_${sw.from_seq}–msg_${sw.to_seq} (${sw.sent} messages)`
    : 'sent without history';
  return sw.dropped > 0 ? `${sent}, ${sw.dropped} older left out` : sent;
}
