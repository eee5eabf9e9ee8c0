// The overview: totals, requests and cost over time by model, latency percentiles, error
// rates and the top keys by cost, for the last 24 hours, 7 days or 30 days — all from the
// analytics API (docs/analytics.md). The totals are one call with bucket_width=total and no
// grouping: the figures shown are that row's, not sums made here.
import {
  analyticsTenant, api, bar, errorBox, fill, fmtCount, fmtMs, fmtPct, fmtTokens, fmtUsd, h, isPlatform,
  loading, notice, pageHeader, section, shortId, SignedOut, table, tenantPath, viewedTenant,
} from './lib.js';
import { lines, stackedBars } from './charts.js';

const RANGES = [
  { id: '24h', label: '24 hours', seconds: 86400, bucket: '1h' },
  { id: '7d', label: '7 days', seconds: 7 * 86400, bucket: '1d' },
  { id: '30d', label: '30 days', seconds: 30 * 86400, bucket: '1d' },
];
const MAX_SERIES = 7; // models drawn on their own; the rest are summed as "other"

export async function overviewPage(ctx) {
  const range = RANGES.find((r) => r.id === ctx.params.get('range')) || RANGES[0];
  const now = Math.floor(Date.now() / 1000);
  // Whole hours, as the API counts them.
  const start = Math.floor((now - range.seconds) / 3600) * 3600;
  const common = { start_time: start, ...analyticsTenant() };

  const picker = h(
    'div',
    { class: 'segmented', role: 'group', 'aria-label': 'Time range' },
    RANGES.map((r) =>
      h(
        'button',
        {
          type: 'button',
          class: 'btn',
          'aria-pressed': r.id === range.id ? 'true' : 'false',
          dataset: { range: r.id },
          onclick: () => ctx.go(`#/overview?range=${r.id}`),
        },
        r.label,
      ),
    ),
  );
  const totalsEl = h('div', { 'aria-live': 'polite' }, loading());
  const requestsEl = h('div', {}, loading());
  const costEl = h('div', {}, loading());
  const latencyEl = h('div', {}, loading());
  const errorsEl = h('div', {}, loading());
  const topEl = h('div', {}, loading());
  fill(
    ctx.root,
    pageHeader('Overview', {
      sub: `Tenant ${viewedTenant()}, the last ${range.label} (times are local; days are UTC days).`,
      actions: picker,
    }),
    section('Totals', totalsEl),
    h(
      'div',
      { class: 'grid-2' },
      section(`Requests per ${range.bucket === '1h' ? 'hour' : 'day'}, by model`, requestsEl),
      section(`Cost per ${range.bucket === '1h' ? 'hour' : 'day'}, by model`, costEl),
    ),
    section('Latency by model (whole request; first token of streams)', latencyEl),
    h(
      'div',
      { class: 'grid-2' },
      section('Error rate by provider and model', errorsEl),
      section('Top keys by cost', topEl),
    ),
  );

  // Each part loads on its own and shows its own error (in each place it fills).
  const part = async (els, load) => {
    try {
      const nodes = await load();
      if (ctx.live) els.forEach((el, k) => fill(el, nodes[k]));
    } catch (e) {
      if (e instanceof SignedOut) throw e;
      if (ctx.live) els.forEach((el) => fill(el, errorBox(e)));
    }
  };
  await Promise.all([
    part([totalsEl], async () => [await totals(common)]),
    part([requestsEl, costEl], async () => {
      const charts = await overTime(common, range, start, now);
      return [charts.requests, charts.cost];
    }),
    part([latencyEl], async () => [await latency(common)]),
    part([errorsEl], async () => [await errors(common)]),
    part([topEl], async () => [await topKeys(common)]),
  ]);
}

// The totals of the range: requests, tokens, cost, error rate. Each figure carries the exact
// value in data-value (the formatted one is rounded).
async function totals(common) {
  const r = await api('/v1/analytics/usage', { params: { ...common, bucket_width: 'total' } });
  const row = (r.data && r.data[0]) || {
    requests: 0, failed: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost_usd: 0,
  };
  const rate = row.requests > 0 ? row.failed / row.requests : 0;
  const stat = (id, label, shown, value, sub, extra) =>
    h(
      'div',
      { class: 'stat', dataset: { stat: id, value: String(value), ...(extra || {}) } },
      h('div', { class: 'stat-label' }, label),
      h('div', { class: 'stat-value', title: String(value) }, shown),
      sub ? h('div', { class: 'stat-sub' }, sub) : null,
    );
  return h(
    'div',
    { class: 'stats' },
    stat('requests', 'Requests', fmtCount(row.requests), row.requests),
    stat('tokens', 'Tokens', fmtTokens(row.total_tokens), row.total_tokens,
      `${fmtCount(row.prompt_tokens)} prompt · ${fmtCount(row.completion_tokens)} completion`),
    stat('cost', 'Cost', fmtUsd(row.cost_usd), row.cost_usd),
    stat('error-rate', 'Error rate', fmtPct(rate), rate, `${fmtCount(row.failed)} failed`,
      { failed: String(row.failed) }),
  );
}

// The buckets of the range: every hour (or UTC day) from the start to now, so empty ones show.
function bucketsOf(range, start, now) {
  const step = range.bucket === '1h' ? 3600 : 86400;
  const first = Math.floor(start / step) * step;
  const out = [];
  for (let t = first; t <= now; t += step) out.push(t);
  return out;
}

const pad = (n) => String(n).padStart(2, '0');

// Requests (stacked bars) and cost (lines) per bucket and model.
async function overTime(common, range, start, now) {
  const r = await api('/v1/analytics/usage', { params: { ...common, bucket_width: range.bucket, group_by: 'model' } });
  const buckets = bucketsOf(range, start, now);
  const index = new Map(buckets.map((b, i) => [b, i]));
  // Models by their requests, most first; past MAX_SERIES, the rest are "other".
  const byModel = new Map();
  for (const row of r.data || []) byModel.set(row.model, (byModel.get(row.model) || 0) + row.requests);
  const models = [...byModel.entries()].sort((a, b) => b[1] - a[1]).map(([m]) => m);
  const shown = models.slice(0, MAX_SERIES);
  const names = models.length > MAX_SERIES ? shown.concat(['other']) : shown;
  const req = names.map((name) => ({ name, values: buckets.map(() => 0) }));
  const cost = names.map((name) => ({ name, values: buckets.map(() => 0) }));
  for (const row of r.data || []) {
    const i = index.get(row.start_time);
    if (i === undefined) continue;
    const k = shown.includes(row.model) ? shown.indexOf(row.model) : names.length - 1;
    req[k].values[i] += row.requests;
    cost[k].values[i] += Number(row.cost_usd) || 0;
  }
  const labelOf = range.bucket === '1h'
    ? (t) => `${pad(new Date(t * 1000).getHours())}:00`
    : (t) => {
      const d = new Date(t * 1000);
      return `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
    };
  if (names.length === 0) {
    const none = notice('No requests in this range.');
    return { requests: none, cost: none.cloneNode(true) };
  }
  return {
    requests: stackedBars('Requests per bucket, by model', buckets, req, { labelOf, format: fmtCount }),
    cost: lines('Cost per bucket, by model', buckets, cost, { labelOf, format: fmtUsd }),
  };
}

// p50 / p95 / p99 of the whole time and of the first token, by model; a bar per model shows
// p50 to p99 against the slowest p99.
async function latency(common) {
  const r = await api('/v1/analytics/latency', { params: { ...common, group_by: 'model' } });
  const rows = r.data || [];
  const maxP99 = Math.max(1, ...rows.map((x) => (x.latency_ms && x.latency_ms.p99) || 0));
  const q = (x, k, p) => (x[k] && x[k].count ? fmtMs(x[k][p]) : '–');
  return table(
    [
      { label: 'Model', cell: (x) => x.model },
      { label: 'Measured', cell: (x) => fmtCount(x.latency_ms ? x.latency_ms.count : 0), class: 'num' },
      { label: 'p50', cell: (x) => q(x, 'latency_ms', 'p50'), class: 'num' },
      { label: 'p95', cell: (x) => q(x, 'latency_ms', 'p95'), class: 'num' },
      { label: 'p99', cell: (x) => q(x, 'latency_ms', 'p99'), class: 'num' },
      {
        label: 'p99 compared',
        cell: (x) => bar((x.latency_ms && x.latency_ms.p99) || 0, maxP99, { label: `p99 ${q(x, 'latency_ms', 'p99')}` }),
        class: 'bar-cell',
      },
      { label: 'First token p50', cell: (x) => q(x, 'ttft_ms', 'p50'), class: 'num' },
      { label: 'First token p95', cell: (x) => q(x, 'ttft_ms', 'p95'), class: 'num' },
    ],
    rows,
    { empty: 'No successful requests in this range.' },
  );
}

async function errors(common) {
  const r = await api('/v1/analytics/errors', { params: common });
  return table(
    [
      { label: 'Provider', cell: (x) => x.provider || '–', class: 'nowrap' },
      { label: 'Model', cell: (x) => x.model, class: 'nowrap' },
      { label: 'Requests', cell: (x) => fmtCount(x.requests), class: 'num' },
      { label: 'Failed', cell: (x) => fmtCount(x.failed), class: 'num' },
      {
        label: 'Error rate',
        cell: (x) => h('span', { class: 'rate' }, fmtPct(x.error_rate),
          bar(Number(x.error_rate) || 0, 1, { label: `error rate ${fmtPct(x.error_rate)}`, kind: 'bad' })),
        class: 'num',
      },
    ],
    r.data || [],
    { empty: 'No requests in this range.' },
  );
}

// The keys that cost most, named from the tenant's key list when it can be read.
async function topKeys(common) {
  const [top, keys] = await Promise.all([
    api('/v1/analytics/top', { params: { ...common, by: 'key', limit: 10 } }),
    api(tenantPath('/keys')).catch((e) => {
      if (e instanceof SignedOut) throw e;
      return { data: [] };
    }),
  ]);
  const names = new Map((keys.data || []).map((k) => [k.id, k]));
  const rows = top.data || [];
  const maxCost = Math.max(0, ...rows.map((x) => Number(x.cost_usd) || 0));
  const maxReq = Math.max(1, ...rows.map((x) => x.requests));
  return table(
    [
      {
        label: 'Key',
        cell: (x) => {
          const k = names.get(x.id);
          if (!x.id) return h('span', { class: 'muted' }, '(no key)');
          return k ? h('span', {}, h('code', {}, k.prefix), k.name ? ` ${k.name}` : '') : shortId(x.id);
        },
      },
      { label: 'Requests', cell: (x) => fmtCount(x.requests), class: 'num' },
      { label: 'Tokens', cell: (x) => fmtCount(x.total_tokens), class: 'num' },
      { label: 'Cost', cell: (x) => fmtUsd(x.cost_usd), class: 'num' },
      {
        label: 'Compared',
        // Share of the top key's cost (of its requests when nothing cost anything).
        cell: (x) => maxCost > 0
          ? bar(Number(x.cost_usd) || 0, maxCost, { label: `${fmtUsd(x.cost_usd)} of ${fmtUsd(maxCost)}` })
          : bar(x.requests, maxReq, { label: `${x.requests} requests` }),
        class: 'bar-cell',
      },
    ],
    rows,
    { empty: isPlatform() ? 'No usage for this tenant in this range.' : 'No usage in this range.' },
  );
}
