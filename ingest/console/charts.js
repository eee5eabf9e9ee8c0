// Charts drawn as plain SVG (stacked bars, lines) and the trace timeline (HTML buttons placed
// along a time axis). Colours come from console.css through class names (series-0 …
// series-7), so no style attribute is ever written. A chart is drawn at its box's width, so
// its text keeps its size. Every chart has its figures as a table in a <details> next to
// it, for keyboards and screen readers.
import { h, s, table } from './lib.js';

const H = 220; // the drawing's height in pixels; its width is its box's
const M = { top: 12, right: 12, bottom: 28, left: 64 }; // margins for the axes' labels
const SERIES = 8; // colours before they repeat

// A round upper bound and step for an axis from 0 to max (1, 2 or 5 times a power of ten).
function niceScale(max, ticks = 4) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / ticks;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((x) => x >= raw);
  return { top: Math.ceil(max / step) * step, step };
}

// The y axis: grid lines and labels at each step.
function yAxis(W, scale, y, format) {
  const g = s('g', { class: 'axis axis-y' });
  for (let v = 0; v <= scale.top + scale.step / 2; v += scale.step) {
    const py = y(v);
    g.append(
      s('line', { x1: M.left, x2: W - M.right, y1: py, y2: py, class: 'grid' }),
      s('text', { x: M.left - 6, y: py + 4, 'text-anchor': 'end' }, format(v)),
    );
  }
  return g;
}

// The x axis: labels at most every 70 pixels, evenly spaced over the buckets.
function xAxis(W, buckets, x, bandWidth, labelOf) {
  const g = s('g', { class: 'axis axis-x' });
  const every = Math.max(1, Math.ceil(buckets.length / Math.max(2, Math.floor((W - M.left - M.right) / 70))));
  buckets.forEach((b, i) => {
    if (i % every !== 0) return;
    g.append(s('text', { x: x(i) + bandWidth / 2, y: H - 8, 'text-anchor': 'middle' }, labelOf(b)));
  });
  g.append(s('line', { x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom, class: 'baseline' }));
  return g;
}

// The legend: one swatch and name per series.
function legend(series) {
  return h(
    'ul',
    { class: 'legend' },
    series.map((ser, i) => h('li', {}, h('span', { class: `swatch series-${i % SERIES}` }), ser.name)),
  );
}

// The figures behind a chart as a table, folded away.
function dataTable(buckets, series, labelOf, format) {
  const columns = [{ label: 'Time', cell: (r) => labelOf(r.b) }].concat(
    series.map((ser) => ({ label: ser.name, cell: (r) => format(ser.values[r.i]), class: 'num' })),
  );
  return h(
    'details',
    { class: 'chart-data' },
    h('summary', {}, 'Show the figures'),
    table(columns, buckets.map((b, i) => ({ b, i }))),
  );
}

// A chart drawn at its box's width in pixels (text stays its size), drawn again when the box
// is resized. draw(width) answers the SVG's children.
function responsive(title, draw) {
  const holder = h('div', { class: 'chart-holder' });
  let drawn = 0;
  const render = (width) => {
    const w = Math.max(320, Math.round(width));
    if (w === drawn) return;
    drawn = w;
    holder.replaceChildren(
      s(
        'svg',
        { viewBox: `0 0 ${w} ${H}`, width: w, height: H, class: 'chart', role: 'img', 'aria-label': title },
        s('title', {}, title),
        ...draw(w),
      ),
    );
  };
  new ResizeObserver((entries) => render(entries[0].contentRect.width)).observe(holder);
  render(560);
  return holder;
}

// Stacked bars: one bar per bucket, one segment per series.
// buckets: bucket keys; series: [{name, values: [number per bucket]}];
// labelOf(bucket) for the axis; format(number) for labels and tooltips.
export function stackedBars(title, buckets, series, { labelOf, format }) {
  const totals = buckets.map((_, i) => series.reduce((acc, ser) => acc + (ser.values[i] || 0), 0));
  const scale = niceScale(Math.max(0, ...totals));
  const draw = (W) => {
    const plotW = W - M.left - M.right;
    const plotH = H - M.top - M.bottom;
    const band = plotW / Math.max(1, buckets.length);
    const x = (i) => M.left + i * band;
    const y = (v) => M.top + plotH - (v / scale.top) * plotH;
    const bars = s('g', { class: 'bars' });
    buckets.forEach((b, i) => {
      let acc = 0;
      series.forEach((ser, k) => {
        const v = ser.values[i] || 0;
        if (v <= 0) return;
        const y0 = y(acc);
        acc += v;
        const y1 = y(acc);
        bars.append(
          s(
            'rect',
            {
              x: x(i) + band * 0.12,
              y: y1,
              width: Math.max(1, band * 0.76),
              height: Math.max(0.5, y0 - y1),
              class: `series-${k % SERIES}`,
            },
            s('title', {}, `${ser.name} · ${labelOf(b)}: ${format(v)}`),
          ),
        );
      });
    });
    return [yAxis(W, scale, y, format), bars, xAxis(W, buckets, x, band, labelOf)];
  };
  return h(
    'figure',
    { class: 'chart-box' },
    responsive(title, draw),
    legend(series),
    dataTable(buckets, series, labelOf, format),
  );
}

// Lines: one line per series over the buckets, a dot at each point with its value.
export function lines(title, buckets, series, { labelOf, format }) {
  const max = Math.max(0, ...series.flatMap((ser) => ser.values.map((v) => v || 0)));
  const scale = niceScale(max);
  const draw = (W) => {
    const plotW = W - M.left - M.right;
    const plotH = H - M.top - M.bottom;
    const band = plotW / Math.max(1, buckets.length);
    const x = (i) => M.left + i * band;
    const cx = (i) => x(i) + band / 2;
    const y = (v) => M.top + plotH - (v / scale.top) * plotH;
    const g = s('g', { class: 'lines' });
    series.forEach((ser, k) => {
      const pts = buckets.map((_, i) => `${cx(i).toFixed(1)},${y(ser.values[i] || 0).toFixed(1)}`);
      g.append(s('polyline', { points: pts.join(' '), class: `line series-${k % SERIES}` }));
      buckets.forEach((b, i) => {
        const v = ser.values[i] || 0;
        if (v <= 0) return;
        g.append(
          s(
            'circle',
            { cx: cx(i), cy: y(v), r: 3.5, class: `dot series-${k % SERIES}` },
            s('title', {}, `${ser.name} · ${labelOf(b)}: ${format(v)}`),
          ),
        );
      });
    });
    return [yAxis(W, scale, y, format), g, xAxis(W, buckets, x, band, labelOf)];
  };
  return h(
    'figure',
    { class: 'chart-box' },
    responsive(title, draw),
    legend(series),
    dataTable(buckets, series, labelOf, format),
  );
}

// A trace's spans on one time axis: a row per span, its bar placed by start_ms and sized by
// duration_ms relative to the earliest start and latest end. Each bar is a button: hovering
// or focusing it shows its attributes in the panel below (and in its tooltip).
// fmtMs formats milliseconds for the labels.
export function timeline(spans, fmtMs) {
  const list = (spans || []).slice().sort((a, b) => a.start_ms - b.start_ms);
  if (list.length === 0) return h('p', { class: 'notice' }, 'The trace has no spans.');
  const t0 = Math.min(...list.map((sp) => sp.start_ms));
  const t1 = Math.max(...list.map((sp) => sp.start_ms + Math.max(0, sp.duration_ms)));
  const span = Math.max(1, t1 - t0);
  const pct = (ms) => `${((ms / span) * 100).toFixed(3)}%`;

  const panel = h('div', { class: 'span-attrs', 'aria-live': 'polite' },
    'Point at or focus a span to see its attributes.');
  const show = (sp, i) => {
    const attrs = Object.entries(sp.attrs || {});
    panel.replaceChildren(
      h('h3', {}, `${sp.name} #${i + 1}: starts at +${fmtMs(sp.start_ms - t0)}, lasts ${fmtMs(sp.duration_ms)}`),
      attrs.length
        ? h('dl', { class: 'facts' }, attrs.map(([k, v]) => {
          const { node, wide } = attrValue(v, t0);
          return h('div', { class: wide ? 'wide' : null }, h('dt', {}, k), h('dd', {}, node));
        }))
        : h('p', { class: 'muted' }, 'No attributes.'),
    );
  };

  // The axis: five ticks from 0 to the whole length.
  const ticks = h('div', { class: 'timeline-axis', 'aria-hidden': 'true' });
  for (let k = 0; k <= 4; k++) {
    const tick = h('span', { class: 'tick' }, `+${fmtMs((span * k) / 4)}`);
    tick.style.left = `${k * 25}%`;
    ticks.append(tick);
  }

  const rows = list.map((sp, i) => {
    const b = h(
      'button',
      {
        type: 'button',
        class: `span-bar span-${String(sp.name).replace(/[^a-z0-9_-]/gi, '')}`,
        title: `${sp.name}: +${fmtMs(sp.start_ms - t0)}, ${fmtMs(sp.duration_ms)}\n` +
          Object.entries(sp.attrs || {}).map(([k, v]) => `${k}: ${v}`).join('\n'),
        'aria-label': `${sp.name}, starts at +${fmtMs(sp.start_ms - t0)}, lasts ${fmtMs(sp.duration_ms)}`,
        dataset: { span: sp.name },
        onfocus: () => show(sp, i),
        onmouseenter: () => show(sp, i),
        onclick: () => show(sp, i),
      },
    );
    b.style.left = pct(sp.start_ms - t0);
    b.style.width = `max(3px, ${pct(Math.max(0, sp.duration_ms))})`;
    return h(
      'li',
      { class: 'timeline-row' },
      h('span', { class: 'timeline-label' }, sp.name, h('span', { class: 'muted' }, ` ${fmtMs(sp.duration_ms)}`)),
      h('span', { class: 'timeline-track' }, b),
    );
  });
  return h(
    'div',
    { class: 'timeline' },
    h('div', { class: 'timeline-head' }, h('span', { class: 'timeline-label' }), ticks),
    h('ol', { class: 'timeline-rows', 'aria-label': 'Spans of the trace' }, rows),
    panel,
  );
}

// An attribute's value as {node, wide}: JSON text holding a list of objects (the attempt
// history) as a table across the whole width, other JSON pretty, anything else as it is.
// Times in ms since the epoch (start_ms) are shown relative to the trace's start t0.
function attrValue(v, t0) {
  if (typeof v === 'string' && /^[[{]/.test(v)) {
    let parsed;
    try {
      parsed = JSON.parse(v);
    } catch (_) {
      return { node: v, wide: false };
    }
    if (Array.isArray(parsed) && parsed.length && parsed.every((x) => x && typeof x === 'object')) {
      const cols = [...new Set(parsed.flatMap((x) => Object.keys(x)))];
      const cell = (c) => (x) => {
        if (c === 'start_ms' && typeof x[c] === 'number') return `+${x[c] - t0} ms`;
        return typeof x[c] === 'object' && x[c] !== null ? JSON.stringify(x[c]) : String(x[c] ?? '–');
      };
      return { node: table(cols.map((c) => ({ label: c, cell: cell(c) })), parsed), wide: true };
    }
    return { node: h('pre', { class: 'json' }, JSON.stringify(parsed, null, 2)), wide: true };
  }
  return { node: typeof v === 'string' ? v : JSON.stringify(v), wide: false };
}
