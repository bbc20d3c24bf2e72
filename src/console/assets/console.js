// The console's pages: a login, then the pipelines, refreshed every few seconds. Everything shown
// comes from /api/ and is written as text (never as HTML); every action sends the session's CSRF
// token, which lives in this page's memory only.
'use strict';

const state = { csrf: '', role: '', pipelines: [], sortKey: 'name', sortDesc: false, timer: 0 };
const $ = (id) => document.getElementById(id);

function show(view) {
  for (const v of ['login-view', 'pipelines-view', 'pipeline-view', 'inboxes-view', 'relays-view']) $(v).hidden = v !== view;
  $('nav').hidden = view === 'login-view';
}

function message(text, kind) {
  const m = $('message');
  m.textContent = text || '';
  m.className = kind === 'info' ? 'info' : '';
  m.hidden = !text;
}

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRF-Token'] = state.csrf;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  let data = {};
  try { data = await res.json(); } catch (e) { data = { error: `the console answered ${res.status} without JSON` }; }
  if (res.status === 401 && path !== '/api/login' && path !== '/api/session') loggedOut(data.error);
  return { ok: res.ok, status: res.status, data };
}

function loggedOut(why) {
  clearInterval(state.timer);
  state.csrf = '';
  state.role = '';
  show('login-view');
  message(why || '', why ? 'error' : '');
}

function loggedIn(session) {
  state.csrf = session.csrf;
  state.role = session.role;
  $('who').textContent = `Logged in as ${session.role}`;
  refresh();
  clearInterval(state.timer);
  state.timer = setInterval(refresh, 5000);
}

// The pipeline the address names (#/pipeline/<name>), or none: the list.
function shownPipeline() {
  const m = location.hash.match(/^#\/pipeline\/(.+)$/);
  return m ? decodeURIComponent(m[1]) : null;
}

function refresh() {
  if (!state.csrf) return;
  if (location.hash === '#/relays') {
    show('relays-view');
    refreshRelays();
    return;
  }
  if (location.hash === '#/inboxes') {
    show('inboxes-view');
    refreshInboxes();
    return;
  }
  const name = shownPipeline();
  if (name === null) {
    show('pipelines-view');
    refreshList();
  } else {
    show('pipeline-view');
    refreshPipeline(name);
  }
}

// What a view reads from `path`, or null when the console refused it (the page says why); the view's
// `refreshed` line says when.
async function viewData(path, refreshed) {
  const r = await api('GET', path);
  if (!r.ok) {
    if (r.status !== 401) message(r.data.error);
    return null;
  }
  if ($('message').className !== 'info') message('');
  $(refreshed).textContent = `refreshed ${new Date().toLocaleTimeString()}`;
  return r.data;
}

// A state as a coloured badge in cell `td`.
function badge(td, state, text) {
  const b = document.createElement('span');
  b.className = `state ${state}`;
  b.textContent = text;
  td.appendChild(b);
  return b;
}

async function refreshList() {
  const data = await viewData('/api/pipelines', 'refreshed');
  state.pipelines = data ? data.pipelines : [];
  render();
}

function matches(p, words) {
  const text = [p.name, p.state, p.source, p.sink, p.format, p.owner, p.direction, p.relay_group_id].join(' ').toLowerCase();
  return words.every((w) => text.includes(w));
}

function compare(a, b) {
  const k = state.sortKey;
  const x = a[k], y = b[k];
  let c;
  if (x === null || x === undefined) c = y === null || y === undefined ? 0 : 1;
  else if (y === null || y === undefined) c = -1;
  else if (typeof x === 'number' && typeof y === 'number') c = x - y;
  else c = String(x).localeCompare(String(y));
  return state.sortDesc ? -c : c;
}

// A cell of text; `none` is what an empty value reads as (a pipeline without a group runs in any).
function cell(row, text, cls, none) {
  const td = document.createElement('td');
  const empty = text === null || text === undefined || text === '';
  td.textContent = empty ? none || '' : String(text);
  td.className = [cls, empty && none ? 'none' : ''].filter(Boolean).join(' ');
  row.appendChild(td);
  return td;
}

function render() {
  const words = $('filter').value.toLowerCase().split(/\s+/).filter(Boolean);
  const rows = state.pipelines.filter((p) => matches(p, words)).sort(compare);
  const body = $('pipelines').tBodies[0];
  body.replaceChildren();
  for (const p of rows) {
    const tr = document.createElement('tr');
    tr.dataset.pipeline = p.name;
    const link = document.createElement('a');
    link.href = `#/pipeline/${encodeURIComponent(p.name)}`;
    link.textContent = p.name;
    cell(tr, '').appendChild(link);
    cell(tr, p.direction);
    cell(tr, p.source);
    cell(tr, p.sink);
    cell(tr, p.format, '', 'default');
    badge(cell(tr, ''), p.state || 'unowned', p.state || 'no owner');
    cell(tr, p.owner, '', '—');
    cell(tr, p.relay_group_id, '', 'any');
    cell(tr, p.lag, 'num lag');
    cell(tr, p.lag_seconds === null || p.lag_seconds === undefined ? '' : Number(p.lag_seconds).toFixed(1), 'num lag-seconds');
    cell(tr, p.dead_letters, 'num dead-letters');
    cell(tr, p.last_error, 'error');
    const act = cell(tr, '');
    if (p.origin === 'sql') {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = p.enabled ? 'Disable' : 'Enable';
      b.addEventListener('click', () => setEnabled(p.name, !p.enabled));
      act.appendChild(b);
    }
    body.appendChild(tr);
  }
  $('empty').hidden = rows.length > 0;
  for (const th of document.querySelectorAll('#pipelines th[data-key]')) {
    th.classList.toggle('sorted', th.dataset.key === state.sortKey);
    th.classList.toggle('desc', th.dataset.key === state.sortKey && state.sortDesc);
  }
}

function definitions(dl, pairs) {
  dl.replaceChildren();
  for (const [k, v] of pairs) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v === null || v === undefined || v === '' ? '—' : String(v);
    dl.append(dt, dd);
  }
}

const mb = (bytes) => (bytes === null || bytes === undefined ? null : `${(Number(bytes) / 1048576).toFixed(1)} MB`);

async function refreshPipeline(name) {
  const d = await viewData(`/api/pipelines/${encodeURIComponent(name)}`, 'p-refreshed');
  if (!d) return;
  const p = d.status;
  $('p-name').textContent = p.name;
  $('p-state').className = `state ${p.state || 'unowned'}`;
  $('p-state').textContent = p.state || 'no owner';
  definitions($('p-status'), [
    ['Direction', p.direction], ['Defined in', p.origin === 'file' ? 'a relay\'s TOML file' : 'SQL'],
    ['Source', p.config && p.config.source ? p.config.source.type : null], ['Sink', p.config && p.config.sink ? p.config.sink.type : null],
    ['Owner', p.owner], ['Group', p.relay_group_id || 'any'], ['Lag (messages)', p.lag],
    ['Lag (s)', p.lag_seconds === null ? null : Number(p.lag_seconds).toFixed(1)], ['Last error', p.last_error],
    ['Changed', p.updated_at],
  ]);
  const b = p.backfill;
  if (b) {
    const total = b.rows_estimated > 0 ? b.rows_estimated : null;
    $('p-backfill').textContent = `${b.state}: ${b.table || ''} ${b.rows_done} rows done${total ? ` of about ${total}` : ''}` +
      `${b.rows_per_second ? `, ${Math.round(b.rows_per_second)} rows/s` : ''}${b.error ? ` — ${b.error}` : ''}`;
    $('p-backfill-bar').hidden = false;
    $('p-backfill-bar').value = b.state === 'done' ? 1 : total ? Math.min(1, b.rows_done / total) : 0;
  } else {
    $('p-backfill').textContent = 'None asked for.';
    $('p-backfill-bar').hidden = true;
  }
  $('p-backfill-start').hidden = p.origin !== 'sql' || p.direction !== 'forward' || (b && ['pending', 'running'].includes(b.state));
  $('p-slots-card').hidden = d.slots.length === 0;
  const slotPairs = [];
  for (const s of d.slots) {
    slotPairs.push(['Slot', s.slot], ['Active', s.active ? 'yes' : 'no'], ['WAL status', s.wal_status],
      ['Safe WAL size', mb(s.safe_wal_size)], ['WAL retained', mb(s.retained_bytes)]);
    if (s.gap_state) slotPairs.push(['Gap', `${s.gap_state}: ${s.gap_from} → ${s.gap_to}`]);
  }
  definitions($('p-slots'), slotPairs);
  const history = d.history || [];
  const drawn = plot($('p-plot-lag'), history, 'lag') + plot($('p-plot-rate'), history, 'rate');
  $('p-plot-none').hidden = drawn > 0;
  $('p-dl-count').textContent = d.dead_letter_count ? `(${d.dead_letter_count}${d.dead_letter_count > d.dead_letters.length ? `, the latest ${d.dead_letters.length} shown` : ''})` : '';
  const body = $('p-dead-letters').tBodies[0];
  body.replaceChildren();
  for (const l of d.dead_letters) {
    const tr = document.createElement('tr');
    tr.dataset.deadLetter = l.id;
    cell(tr, l.id, 'num');
    cell(tr, l.created_at);
    cell(tr, l.error, 'error');
    cell(tr, l.preview, 'preview');
    cell(tr, l.attempts, 'num');
    const actions = cell(tr, '');
    const button = (label, verb, done) => {
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.textContent = label;
      btn.addEventListener('click', () => act(`/api/pipelines/${encodeURIComponent(p.name)}/dead-letters/${l.id}/${verb}`, done));
      actions.appendChild(btn);
      return btn;
    };
    // Set aside by an older relay, it was not kept as sent: it can only be read and discarded.
    if (l.replay_requested) actions.append('Sending… ');
    else if (l.replayable) button('Send again', 'replay', `Dead letter ${l.id} is being sent again; it goes from this list once the target accepts it.`);
    button('Discard', 'discard', `Dead letter ${l.id} discarded.`);
    body.appendChild(tr);
  }
  $('p-dl-none').hidden = d.dead_letters.length > 0;
  $('p-config').textContent = d.config ? JSON.stringify(d.config, null, 2) : 'Defined in a relay\'s TOML file: see that file.';
}

function duration(seconds) {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

async function refreshRelays() {
  const data = await viewData('/api/relays', 'r-refreshed');
  if (!data) return;
  const body = $('relays').tBodies[0];
  body.replaceChildren();
  for (const x of data.relays) {
    const tr = document.createElement('tr');
    tr.dataset.relay = x.owner;
    cell(tr, x.relay_group_id);
    cell(tr, x.owner);
    cell(tr, x.version, '', '—');
    cell(tr, x.started_at ? duration((Date.now() - Date.parse(x.started_at)) / 1000) : null, '', '—');
    cell(tr, x.pipelines, 'num');
    cell(tr, x.not_running, 'num');
    cell(tr, x.owns.length ? x.owns.join(', ') : 'nothing: a standby', 'owns');
    body.appendChild(tr);
  }
  $('r-none').hidden = data.relays.length > 0;
}

// A line of `values` (null: a gap) over the last hour, drawn into an SVG of 600 x 140 units.
function plot(svg, samples, key) {
  const ns = 'http://www.w3.org/2000/svg';
  svg.replaceChildren();
  const now = Date.now() / 1000, from = now - 3600;
  const points = samples.filter((s) => s[key] !== null && s[key] !== undefined && s.at >= from);
  const top = Math.max(1, ...points.map((s) => s[key]));
  const x = (at) => 40 + ((at - from) / 3600) * 555, y = (v) => 125 - (v / top) * 115;
  const el = (name, attrs, text) => {
    const e = document.createElementNS(ns, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.appendChild(e);
    return e;
  };
  el('line', { x1: 40, y1: 125, x2: 595, y2: 125, class: 'axis' });
  el('text', { x: 2, y: 14 }, top >= 100 ? Math.round(top) : Number(top.toPrecision(2)));
  el('text', { x: 2, y: 128 }, '0');
  el('text', { x: 40, y: 139 }, '1 h ago');
  el('text', { x: 560, y: 139 }, 'now');
  let d = '';
  for (const s of points) d += `${d ? 'L' : 'M'}${x(s.at).toFixed(1)},${y(s[key]).toFixed(1)}`;
  if (d) el('path', { d, class: 'line' });
  return points.length;
}

async function refreshInboxes() {
  const data = await viewData('/api/inboxes', 'i-refreshed');
  if (!data) return;
  const body = $('inboxes').tBodies[0];
  body.replaceChildren();
  for (const i of data.inboxes) {
    const tr = document.createElement('tr');
    tr.dataset.inbox = i.inbox_name;
    cell(tr, i.inbox_name);
    cell(tr, i.inbox_table);
    badge(cell(tr, ''), i.status, i.status);
    cell(tr, i.pending_messages, 'num');
    cell(tr, i.processed_messages, 'num');
    cell(tr, i.dlq_messages, 'num');
    cell(tr, i.oldest_pending_age_seconds === null ? null : Math.round(i.oldest_pending_age_seconds), 'num', '—');
    cell(tr, i.last_received_at, '', '—');
    body.appendChild(tr);
  }
  $('i-none').hidden = data.inboxes.length > 0;
}

// An action of the page: its outcome said, then the view read again.
async function act(path, done) {
  const r = await api('POST', path);
  if (r.ok) message(done, 'info');
  else if (r.status !== 401) message(r.data.error);
  refresh();
}

function setEnabled(name, enabled) {
  const verb = enabled ? 'enable' : 'disable';
  act(`/api/pipelines/${encodeURIComponent(name)}/${verb}`, `${name} ${verb}d.`);
}

document.addEventListener('DOMContentLoaded', async () => {
  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const r = await api('POST', '/api/login', { role: $('role').value, password: $('password').value });
    $('password').value = '';
    if (r.ok) {
      message('');
      loggedIn(r.data);
    } else {
      message(r.data.error);
    }
  });
  $('logout').addEventListener('click', async () => {
    await api('POST', '/api/logout');
    loggedOut('');
  });
  $('filter').addEventListener('input', render);
  window.addEventListener('hashchange', () => { message(''); refresh(); });
  $('back').addEventListener('click', (e) => { e.preventDefault(); location.hash = ''; });
  $('p-backfill-start').addEventListener('click', () => {
    const name = shownPipeline();
    act(`/api/pipelines/${encodeURIComponent(name)}/backfill`, `Backfill of ${name} asked for.`);
  });
  for (const th of document.querySelectorAll('#pipelines th[data-key]')) {
    th.addEventListener('click', () => {
      if (state.sortKey === th.dataset.key) state.sortDesc = !state.sortDesc;
      else { state.sortKey = th.dataset.key; state.sortDesc = false; }
      render();
    });
  }
  const r = await api('GET', '/api/session');
  if (r.ok) loggedIn(r.data);
  else loggedOut('');
});
