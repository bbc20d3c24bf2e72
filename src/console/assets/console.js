// The console's pages: a login, then the pipelines, refreshed every few seconds. Everything shown
// comes from /api/ and is written as text (never as HTML); every action sends the session's CSRF
// token, which lives in this page's memory only.
'use strict';

const state = { csrf: '', role: '', pipelines: [], sortKey: 'name', sortDesc: false, timer: 0 };
const $ = (id) => document.getElementById(id);

function show(view) {
  for (const v of ['login-view', 'pipelines-view']) $(v).hidden = v !== view;
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
  show('pipelines-view');
  refresh();
  clearInterval(state.timer);
  state.timer = setInterval(refresh, 5000);
}

async function refresh() {
  const r = await api('GET', '/api/pipelines');
  if (!r.ok) {
    if (r.status !== 401) message(r.data.error);
    state.pipelines = [];
    render();
    return;
  }
  if ($('message').className !== 'info') message('');
  state.pipelines = r.data.pipelines;
  $('refreshed').textContent = `refreshed ${new Date().toLocaleTimeString()}`;
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
    cell(tr, p.name);
    cell(tr, p.direction);
    cell(tr, p.source);
    cell(tr, p.sink);
    cell(tr, p.format, '', 'default');
    const st = cell(tr, '');
    const badge = document.createElement('span');
    badge.className = `state ${p.state || 'unowned'}`;
    badge.textContent = p.state || 'no owner';
    st.appendChild(badge);
    cell(tr, p.owner, '', '—');
    cell(tr, p.relay_group_id, '', 'any');
    cell(tr, p.lag, 'num');
    cell(tr, p.lag_seconds === null || p.lag_seconds === undefined ? '' : Number(p.lag_seconds).toFixed(1), 'num');
    cell(tr, p.dead_letters, 'num');
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

async function setEnabled(name, enabled) {
  const r = await api('POST', `/api/pipelines/${encodeURIComponent(name)}/${enabled ? 'enable' : 'disable'}`);
  if (r.ok) message(`${name} ${enabled ? 'enabled' : 'disabled'}.`, 'info');
  else if (r.status !== 401) message(r.data.error);
  refresh();
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
