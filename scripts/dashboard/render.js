#!/usr/bin/env node
// Renders the panels of a Grafana dashboard JSON as one HTML page of inline SVG, with the data of
// each panel's own PromQL from a Prometheus (query_range), so the picture shows what the dashboard
// shows without Grafana. Handles what docs/grafana/pgtrickle-relay.json uses: rows, timeseries
// (lines or bars, stacked or not, linear or log axis), state-timeline and stat panels, units
// s / short / none / "suffix:...".
//   node render.js <dashboard.json> <prometheus-url> <start-unix> <end-unix> <scrape-seconds> <out.html>
// Prints the page height in pixels (for the screenshot).
'use strict';
const fs = require('fs');

const [dashPath, prom, startArg, endArg, scrapeArg, outPath] = process.argv.slice(2);
if (!outPath) {
  console.error('usage: render.js <dashboard.json> <prometheus-url> <start> <end> <scrape-seconds> <out.html>');
  process.exit(2);
}
const dash = JSON.parse(fs.readFileSync(dashPath, 'utf8'));
const start = Number(startArg), end = Number(endArg), scrape = Number(scrapeArg), range = end - start;
// Grafana's own choices for a panel about 500 px wide with the scrape interval as the minimum.
const step = Math.max(scrape, Math.round(range / 500));
const rateInterval = Math.max(step + scrape, 4 * scrape);

const WIDTH = 1600, COL = WIDTH / 24, ROW = 30, GAP = 8, HEADER = 64;
const COLORS = ['#73bf69', '#f2cc0c', '#5794f2', '#ff9830', '#f2495c', '#b877d9', '#8ab8ff', '#fade2a', '#96d98d', '#ffa6b0'];
const THRESHOLD_COLORS = { green: '#73bf69', orange: '#ff9830', red: '#f2495c', blue: '#5794f2', yellow: '#fade2a' };

function expand(expr) {
  let e = expr.replace(/\$__rate_interval/g, `${rateInterval}s`).replace(/\$__range/g, `${Math.round(range)}s`);
  // Every variable at "All": allValue ".*" in the dashboard.
  for (const v of dash.templating.list) if (v.type === 'query') e = e.replace(new RegExp(`\\$${v.name}\\b`, 'g'), v.allValue || '.*');
  return e;
}

async function queryRange(expr) {
  const url = `${prom}/api/v1/query_range?` + new URLSearchParams({ query: expand(expr), start, end, step });
  const res = await fetch(url);
  const body = await res.json();
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  return body.data.result;
}

const legend = (fmt, metric) => (fmt || '').replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k) => metric[k] ?? '') || JSON.stringify(metric);

function fmtNumber(v, decimals) {
  if (decimals !== undefined) return v.toFixed(decimals);
  const a = Math.abs(v);
  if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
  if (a >= 1e3) return (v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + 'k';
  if (a >= 100 || Number.isInteger(v)) return v.toFixed(0);
  return v.toFixed(a >= 10 ? 1 : 2).replace(/\.?0+$/, '');
}
function fmtValue(v, unit, decimals) {
  if (v === null || !Number.isFinite(v)) return '–';
  if (unit === 's') {
    const a = Math.abs(v);
    if (a === 0) return '0 s';
    if (a < 1e-3) return fmtNumber(v * 1e6) + ' µs';
    if (a < 1) return fmtNumber(v * 1e3) + ' ms';
    if (a < 120) return fmtNumber(v) + ' s';
    return fmtNumber(v / 60) + ' min';
  }
  if (unit && unit.startsWith('suffix:')) return fmtNumber(v, decimals) + unit.slice(7);
  return fmtNumber(v, decimals);
}
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceTicks(lo, hi, n, integer) {
  const span = hi - lo || 1, raw = span / n, mag = 10 ** Math.floor(Math.log10(raw));
  let stepV = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= n) || raw;
  if (integer) stepV = Math.max(1, Math.ceil(stepV));
  const ticks = [];
  for (let t = Math.ceil(lo / stepV) * stepV; t <= hi + 1e-12; t += stepV) ticks.push(+t.toPrecision(12));
  return ticks;
}
const clock = (t) => new Date(t * 1000).toISOString().slice(11, 19);

function timeAxis(x, top, height, width) {
  const every = [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200].find((e) => range / e <= Math.max(3, width / 110)) || 14400;
  let svg = '';
  for (let t = Math.ceil(start / every) * every; t < end; t += every) {
    if (x(t) - x(start) < 24 || x(end) - x(t) < 24) continue;  // labels clear of the y axis and the right edge
    svg += `<line x1="${x(t)}" x2="${x(t)}" y1="${top}" y2="${top + height}" class="grid"/>`;
    svg += `<text x="${x(t)}" y="${top + height + 14}" text-anchor="middle">${clock(t).slice(0, every < 60 ? 8 : 5)}</text>`;
  }
  return svg;
}

// Stacked series ("stacking": normal): each point moved onto the sum of the series before it, with
// that sum kept as the point's base for the fill.
function stack(series) {
  const sums = new Map();
  return series.map((s) => ({
    name: s.name,
    points: s.points.map(([t, v]) => {
      const base = sums.get(t) || 0, top = base + (Number.isFinite(v) ? v : 0);
      sums.set(t, top);
      return [t, Number.isFinite(v) ? top : NaN, base];
    }),
  }));
}

function timeseries(panel, series, w, h) {
  const d = panel.fieldConfig.defaults, custom = d.custom || {};
  const log = custom.scaleDistribution && custom.scaleDistribution.type === 'log';
  const bars = custom.drawStyle === 'bars';
  if (custom.stacking && custom.stacking.mode === 'normal') series = stack(series);
  const legendRows = Math.min(3, Math.ceil(series.length / 3)), L = 64, R = 10, T = 4, B = 20 + legendRows * 16;
  const pw = w - L - R, ph = h - T - B;
  const values = series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => Number.isFinite(v) && (!log || v > 0));
  let lo = log ? Math.min(...values) : Math.min(0, ...values), hi = Math.max(...values, d.max ?? -Infinity);
  if (!values.length) { lo = log ? 1e-3 : 0; hi = 1; }
  if (d.min !== undefined) lo = d.min;
  if (d.max !== undefined) hi = Math.max(hi, d.max);
  let ticks;
  if (log) {
    lo = 10 ** Math.floor(Math.log10(lo)); hi = 10 ** Math.ceil(Math.log10(hi));
    if (hi <= lo) hi = lo * 10;
    ticks = [];
    for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
  } else {
    if (hi <= lo) hi = lo + 1;
    ticks = niceTicks(lo, hi, Math.max(2, Math.floor(ph / 35)), d.decimals === 0);
    hi = Math.max(hi, ticks[ticks.length - 1]);
  }
  const x = (t) => L + ((t - start) / range) * pw;
  const y = (v) => T + ph - (log ? (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) : (v - lo) / (hi - lo)) * ph;
  let svg = '';
  for (const t of ticks) {
    svg += `<line x1="${L}" x2="${L + pw}" y1="${y(t)}" y2="${y(t)}" class="grid"/>`;
    svg += `<text x="${L - 6}" y="${y(t) + 4}" text-anchor="end">${esc(fmtValue(t, d.unit, d.decimals))}</text>`;
  }
  svg += timeAxis(x, T, ph, pw);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    if (bars) {
      const bw = Math.max(1, (pw * step) / range - 0.5);
      for (const [t, v] of s.points) if (Number.isFinite(v) && v > 0) svg += `<rect x="${x(t) - bw / 2}" y="${y(v)}" width="${bw}" height="${T + ph - y(v)}" fill="${color}" fill-opacity="0.75"/>`;
      return;
    }
    // A gap where a point is missing (no data, or NaN), as Grafana draws with spanNulls off.
    const segments = [];
    let prev = null;
    for (const [t, v, base = Math.max(lo, 0)] of s.points) {
      if (!Number.isFinite(v) || (log && v <= 0)) { prev = null; continue; }
      if (prev === null || t - prev > step * 1.5) segments.push([]);
      segments[segments.length - 1].push([x(t), y(v), y(base)]);
      prev = t;
    }
    for (const seg of segments) {
      let path = `M${seg[0][0].toFixed(1)},${seg[0][1].toFixed(1)}`;
      for (let k = 1; k < seg.length; ++k) {
        if (custom.lineInterpolation === 'stepAfter') path += `H${seg[k][0].toFixed(1)}`;
        path += `L${seg[k][0].toFixed(1)},${seg[k][1].toFixed(1)}`;
      }
      if (custom.fillOpacity && !log) {
        let back = '';
        for (let k = seg.length - 1; k >= 0; --k) {
          if (custom.lineInterpolation === 'stepAfter' && k < seg.length - 1) back += `L${seg[k + 1][0].toFixed(1)},${seg[k][2].toFixed(1)}`;
          back += `L${seg[k][0].toFixed(1)},${seg[k][2].toFixed(1)}`;
        }
        svg += `<path d="${path}${back}Z" fill="${color}" fill-opacity="${custom.fillOpacity / 100}" stroke="none"/>`;
      }
      svg += `<path d="${path}" fill="none" stroke="${color}" stroke-width="1.5"/>`;
    }
  });
  const perRow = Math.ceil(series.length / legendRows) || 1;
  series.forEach((s, i) => {
    const lx = L + (i % perRow) * (pw / perRow), ly = T + ph + 32 + Math.floor(i / perRow) * 16;
    svg += `<rect x="${lx}" y="${ly - 8}" width="12" height="4" fill="${COLORS[i % COLORS.length]}"/><text x="${lx + 16}" y="${ly - 2}">${esc(s.name)}</text>`;
  });
  if (!series.length) svg += `<text x="${L + pw / 2}" y="${T + ph / 2}" text-anchor="middle" class="nodata">No data</text>`;
  return svg;
}

// One lane per series, coloured by the value mappings (Grafana's state-timeline).
function timeline(panel, series, w, h) {
  const d = panel.fieldConfig.defaults, map = d.mappings.length ? d.mappings[0].options : {};
  const L = Math.min(w * 0.45, 12 + 6.4 * Math.max(0, ...series.map((s) => s.name.length))), T = 4, B = 38;
  const pw = w - L - 4, ph = h - T - B, lane = ph / Math.max(1, series.length);
  const x = (t) => L + ((Math.min(Math.max(t, start), end) - start) / range) * pw;
  let svg = timeAxis(x, T, ph, pw);
  series.forEach((s, i) => {
    const top = T + i * lane + lane * (1 - panel.options.rowHeight) / 2, height = lane * panel.options.rowHeight;
    let from = null, value = null;
    const flush = (until) => {
      const m = map[String(value)];
      if (from !== null && m) svg += `<rect x="${x(from)}" y="${top}" width="${Math.max(1, x(until) - x(from))}" height="${height}" fill="${THRESHOLD_COLORS[m.color] || m.color}" fill-opacity="${d.custom.fillOpacity / 100}"/>`;
    };
    let prev = null;
    for (const [t, v] of s.points) {
      const gap = prev !== null && t - prev > step * 1.5;
      if (from !== null && (v !== value || gap)) { flush(gap ? prev + step : t); from = null; }
      if (from === null) { from = t; value = v; }
      prev = t;
    }
    if (from !== null) flush(prev + step);
    svg += `<text x="${L - 8}" y="${top + height / 2 + 4}" text-anchor="end">${esc(s.name)}</text>`;
  });
  Object.values(map).forEach((m, i) => {
    const lx = L + i * 90, ly = T + ph + 32;
    svg += `<rect x="${lx}" y="${ly - 10}" width="12" height="10" fill="${THRESHOLD_COLORS[m.color] || m.color}"/><text x="${lx + 16}" y="${ly - 1}">${esc(m.text)}</text>`;
  });
  if (!series.length) svg += `<text x="${L + pw / 2}" y="${T + ph / 2}" text-anchor="middle" class="nodata">No data</text>`;
  return svg;
}

function stat(panel, series, w, h) {
  const d = panel.fieldConfig.defaults;
  const s = series[0];
  const last = s ? [...s.points].reverse().find((p) => Number.isFinite(p[1])) : undefined;
  const v = last ? last[1] : null;
  let color = '#ccccdc';
  for (const stepT of d.thresholds.steps) if (stepT.value === null || (v !== null && v >= stepT.value)) color = THRESHOLD_COLORS[stepT.color] || stepT.color;
  let svg = '';
  if (s && panel.options.graphMode === 'area') {
    const vals = s.points.map((p) => p[1]).filter(Number.isFinite), hi = Math.max(...vals, 1e-9);
    const pts = s.points.filter((p) => Number.isFinite(p[1])).map(([t, val]) => `${((t - start) / range) * w},${h - (val / hi) * h * 0.45}`);
    if (pts.length) svg += `<polygon points="0,${h} ${pts.join(' ')} ${w},${h}" fill="${color}" fill-opacity="0.15"/><polyline points="${pts.join(' ')}" fill="none" stroke="${color}" stroke-opacity="0.6"/>`;
  }
  svg += `<text x="${w / 2}" y="${h / 2 + 8}" text-anchor="middle" class="stat" fill="${color}">${esc(fmtValue(v, d.unit, d.decimals))}</text>`;
  return svg;
}

async function main() {
  let html = '', bottom = 0;
  for (const panel of dash.panels) {
    const g = panel.gridPos, left = g.x * COL + GAP / 2, top = HEADER + g.y * ROW, w = g.w * COL - GAP, h = g.h * ROW - GAP;
    bottom = Math.max(bottom, top + h + GAP);
    if (panel.type === 'row') {
      html += `<div class="row" style="left:${left}px;top:${top + 4}px">${esc(panel.title)}</div>`;
      continue;
    }
    const series = [];
    for (const target of panel.targets) {
      for (const r of await queryRange(target.expr)) {
        series.push({ name: legend(target.legendFormat, r.metric), points: r.values.map(([t, v]) => [t, Number(v)]) });
      }
    }
    const body = h - 30;
    const draw = { stat, 'state-timeline': timeline, timeseries }[panel.type];
    if (!draw) throw new Error(`panel "${panel.title}": type ${panel.type} is not drawn by this script`);
    const svg = draw(panel, series, w - 16, body - 8);
    html += `<div class="panel" style="left:${left}px;top:${top}px;width:${w}px;height:${h}px">` +
            `<div class="title" title="${esc(panel.description || '')}">${esc(panel.title)}</div>` +
            `<svg width="${w - 16}" height="${body - 8}">${svg}</svg></div>`;
  }
  const vars = dash.templating.list.map((v) => `<span class="var">${esc(v.label || v.name)} <b>${v.type === 'datasource' ? 'Prometheus' : 'All'}</b></span>`).join('');
  const page = `<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;background:#111217;color:#ccccdc;font:12px 'DejaVu Sans',sans-serif;width:${WIDTH}px;height:${bottom}px;position:relative}
.head{position:absolute;left:8px;top:10px;right:8px;display:flex;align-items:center;gap:18px}
.head h1{font-size:18px;font-weight:500;margin:0 12px 0 0;color:#d8d9da}
.var{background:#181b1f;border:1px solid #2c3235;padding:4px 8px;border-radius:2px}.var b{color:#d8d9da;font-weight:500;margin-left:6px}
.range{margin-left:auto;color:#9fa7b3}
.row{position:absolute;font-size:14px;font-weight:500;color:#d8d9da}
.panel{position:absolute;background:#181b1f;border:1px solid #24292e;border-radius:2px;box-sizing:border-box;padding:0 8px}
.title{height:30px;line-height:30px;font-size:13px;font-weight:500;color:#d8d9da;white-space:nowrap;overflow:hidden}
svg text{fill:#9fa7b3;font-size:11px}svg text.stat{font-size:34px;font-weight:500}svg text.nodata{font-size:14px}
.grid{stroke:#2c3235;stroke-width:1}
</style></head><body><div class="head"><h1>${esc(dash.title)}</h1>${vars}
<span class="range">${clock(start)} – ${clock(end)} UTC · step ${step}s · rate interval ${rateInterval}s</span></div>${html}</body></html>`;
  fs.writeFileSync(outPath, page);
  console.log(Math.ceil(bottom));
}

main().catch((e) => { console.error(`render.js: ${e.message}`); process.exit(1); });
