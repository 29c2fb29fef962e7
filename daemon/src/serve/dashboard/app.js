// Rampart dashboard. Plain JavaScript, no framework, no build step.
//
// Every data call is a fetch() with `Authorization: Bearer <token>`; the
// token is typed once, kept in sessionStorage (this tab only, gone when it
// closes), never put in a URL and never logged. The live feed reads the
// server-sent event stream through a ReadableStream, because EventSource
// cannot send headers; events carry ids, which merge the stream with
// GET /v1/events/recent without gaps or duplicates.
'use strict';

const TOKEN_KEY = 'rampart.token';
const FEED_MAX = 200;
const CHART_MINUTES = 30;
const DECISIONS = ['allow', 'watch', 'ask', 'deny'];

const $ = (id) => document.getElementById(id);

let token = null;
let session = 0; // bumped on every (re)connect and on forget: stale loops stop
const state = {
  base: null, // last_id of the recent snapshot merged in; null: not yet
  early: [], // stream events received before the snapshot
  totals: {},
  minutes: new Map(), // unix minute start (s) -> {decision: count}
  feed: [], // newest first: {id, at, data}
  feedIds: new Set(),
  pending: new Map(), // id -> approval
  since: null,
};

class Refused extends Error {}

function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function storeToken(t) {
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage disabled: the token lives in this page only.
  }
}

async function api(method, path, body) {
  const headers = { Authorization: 'Bearer ' + token, Accept: 'application/json' };
  const init = { method, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 401) throw new Refused();
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = { error: text };
  }
  if (!res.ok) {
    const e = new Error(json.error ? String(json.error) : 'HTTP ' + res.status);
    e.status = res.status;
    e.body = json;
    throw e;
  }
  return json;
}

// ---- connection and login -------------------------------------------------

function setConn(kind, text) {
  const c = $('conn');
  c.className = 'pill ' + kind;
  c.textContent = text;
}

function showLogin(message) {
  session++;
  token = null;
  $('app').hidden = true;
  $('forget').hidden = true;
  $('login').hidden = false;
  setConn('off', 'not connected');
  $('mode').textContent = '';
  const err = $('token-error');
  err.hidden = !message;
  err.textContent = message || '';
  const input = $('token-input');
  input.value = '';
  input.focus();
}

function refused() {
  storeToken(null);
  showLogin(
    'The token was refused by rampart serve. Copy it again from ~/.rampart/token ' +
      '(or $RAMPART_HOME/token): cat ~/.rampart/token'
  );
}

async function connect(candidate, fromForm) {
  token = candidate;
  const mine = ++session;
  try {
    const status = await api('GET', '/v1/status');
    if (mine !== session) return;
    storeToken(token);
    $('login').hidden = true;
    $('app').hidden = false;
    $('forget').hidden = false;
    $('token-error').hidden = true;
    renderStatus(status);
    follow(mine);
  } catch (e) {
    if (mine !== session) return;
    if (e instanceof Refused) {
      refused();
    } else if (fromForm) {
      showLogin('Could not reach rampart serve (' + e.message + '). Is it running?');
    } else {
      // A stored token and a daemon that is down: keep trying.
      setConn('retry', 'daemon unreachable — retrying');
      setTimeout(() => {
        if (mine === session) connect(candidate, false);
      }, 2000);
    }
  }
}

// ---- the event stream -----------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function follow(mine) {
  let backoff = 500;
  while (mine === session) {
    let unreachable = false;
    const ctl = new AbortController();
    const stop = () => ctl.abort();
    window.addEventListener('pagehide', stop, { once: true });
    try {
      const res = await fetch('/v1/events/stream', {
        headers: { Authorization: 'Bearer ' + token, Accept: 'text/event-stream' },
        cache: 'no-store',
        credentials: 'omit',
        referrerPolicy: 'no-referrer',
        signal: ctl.signal,
      });
      if (res.status === 401) throw new Refused();
      if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
      await readEvents(res.body, mine, () => {
        backoff = 500;
      });
    } catch (e) {
      if (e instanceof Refused) {
        if (mine === session) refused();
        return;
      }
      // fetch() rejects with a TypeError when nothing answers.
      unreachable = e instanceof TypeError;
    } finally {
      window.removeEventListener('pagehide', stop);
      ctl.abort();
    }
    if (mine !== session) return;
    setConn(
      'retry',
      (unreachable ? 'rampart serve is unreachable' : 'stream ended') + ' — retrying in ' + backoff / 1000 + ' s'
    );
    await sleep(backoff);
    backoff = Math.min(backoff * 2, 10000);
  }
}

// Parse text/event-stream (https://html.spec.whatwg.org/#event-stream-interpretation).
async function readEvents(body, mine, onOpen) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let ev = { id: null, type: '', data: [] };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done || mine !== session) return;
      buf += value;
      for (;;) {
        const nl = buf.search(/[\r\n]/);
        if (nl < 0) break;
        // A CR at the very end may be the first half of CRLF: wait for more.
        if (buf[nl] === '\r' && nl === buf.length - 1) break;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
        if (line === '') {
          if (ev.data.length) {
            if (ev.type === 'hello') onOpen();
            dispatch(ev.type || 'message', ev.id === null ? null : Number(ev.id), ev.data.join('\n'), mine);
          }
          ev = { id: null, type: '', data: [] };
          continue;
        }
        if (line[0] === ':') continue; // keep-alive comment
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? '' : line.slice(colon + 1);
        if (val[0] === ' ') val = val.slice(1);
        if (field === 'event') ev.type = val;
        else if (field === 'data') ev.data.push(val);
        else if (field === 'id') ev.id = val;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function dispatch(type, id, text, mine) {
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    return;
  }
  if (type === 'hello') {
    // A new connection (maybe to a restarted daemon, whose ids start
    // again): hold events until the snapshot says where they start.
    state.base = null;
    state.early = [];
    setConn('live', 'live');
    resync(mine);
    return;
  }
  if (type === 'lagged') {
    resync(mine);
    return;
  }
  const ev = { id, at: Date.now() / 1000, kind: type, data };
  if (state.base === null) {
    if (state.early.length < FEED_MAX * 5) state.early.push(ev);
    return;
  }
  if (id !== null && id <= state.base) return;
  apply(ev, true);
}

// Apply one event (from the stream or the recent snapshot).
function apply(ev, live) {
  switch (ev.kind) {
    case 'decision':
      if (live) count(ev.data.decision, ev.at);
      addFeed(ev, live);
      break;
    case 'approval.created':
      if (live) {
        state.pending.set(ev.data.id, ev.data);
        renderPending();
      }
      break;
    case 'approval.resolved':
      if (live && state.pending.delete(ev.data.id)) renderPending();
      break;
    case 'reload':
      if (live) refreshStatus();
      break;
  }
}

async function resync(mine) {
  try {
    const [recent, approvals, status] = await Promise.all([
      api('GET', '/v1/events/recent'),
      api('GET', '/v1/approvals'),
      api('GET', '/v1/status'),
    ]);
    if (mine !== session) return;
    state.base = recent.last_id;
    state.since = recent.since;
    state.totals = Object.assign({}, recent.totals);
    state.minutes = new Map(recent.minutes.map((m) => [m.minute, Object.assign({}, m.counts)]));
    state.feed = [];
    state.feedIds = new Set();
    for (const e of recent.events) apply(e, false);
    const early = state.early.filter((e) => e.id === null || e.id > recent.last_id);
    state.early = [];
    state.pending = new Map(approvals.approvals.map((a) => [a.id, a]));
    for (const e of early) apply(e, true);
    renderStatus(status);
    renderAll();
  } catch (e) {
    if (mine !== session) return;
    if (e instanceof Refused) refused();
    else setConn('retry', 'daemon unreachable — retrying');
  }
}

// ---- state changes --------------------------------------------------------

function count(decision, at) {
  const d = decision || 'unknown';
  state.totals[d] = (state.totals[d] || 0) + 1;
  const minute = Math.floor(at / 60) * 60;
  const c = state.minutes.get(minute) || {};
  c[d] = (c[d] || 0) + 1;
  state.minutes.set(minute, c);
  scheduleRender();
}

function addFeed(ev, live) {
  if (ev.id !== null && state.feedIds.has(ev.id)) return;
  if (ev.id !== null) state.feedIds.add(ev.id);
  state.feed.unshift(ev);
  if (state.feed.length > FEED_MAX) {
    const gone = state.feed.pop();
    state.feedIds.delete(gone.id);
  }
  if (live) prependRow(ev);
}

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderTotals();
    renderChart();
  });
}

// ---- rendering: text goes in through textContent, never parsed as HTML ----

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function clock(secs) {
  return new Date(secs * 1000).toLocaleTimeString([], { hour12: false });
}

function renderAll() {
  renderTotals();
  renderChart();
  renderPending();
  const body = $('feed');
  body.replaceChildren(...state.feed.map((e) => row(e, false)));
  $('feed-empty').hidden = state.feed.length > 0;
}

function renderTotals() {
  for (const d of DECISIONS) $('total-' + d).textContent = String(state.totals[d] || 0);
  $('total-pending').textContent = String(state.pending.size);
  if (state.since) $('since').textContent = 'Since the daemon started at ' + new Date(state.since * 1000).toLocaleString();
}

function target(d) {
  return d.command || d.path || d.url || '';
}

function row(ev, fresh) {
  const d = ev.data;
  const tr = el('tr', fresh ? 'fresh' : '');
  tr.dataset.id = ev.id === null ? '' : String(ev.id);
  tr.dataset.decision = d.decision || '';
  let at = ev.at;
  if (typeof d.time === 'string') {
    const t = Date.parse(d.time);
    if (!Number.isNaN(t)) at = t / 1000;
  }
  tr.append(el('td', 'time', clock(at)));
  const badge = el('span', 'badge ' + (d.decision || ''), d.decision || '?');
  const dec = el('td', 'decision');
  dec.append(badge);
  if (d.approval) dec.append(' ', el('span', 'muted', d.approval));
  tr.append(dec);
  tr.append(el('td', 'what', target(d)));
  tr.append(el('td', 'agent', d.agent || (d.source === 'preflight' ? 'api' : '')));
  tr.append(el('td', 'policy', d.policy || ''));
  tr.append(el('td', 'message', d.message || ''));
  return tr;
}

function prependRow(ev) {
  const body = $('feed');
  body.prepend(row(ev, true));
  while (body.children.length > FEED_MAX) body.lastElementChild.remove();
  $('feed-empty').hidden = true;
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function renderChart() {
  const chart = $('chart');
  const W = 600;
  const H = 170;
  const left = 34;
  const bottom = 20;
  const top = 8;
  const now = Math.floor(Date.now() / 60000) * 60;
  const mins = [];
  for (let i = CHART_MINUTES - 1; i >= 0; i--) mins.push(now - i * 60);
  let max = 1;
  for (const m of mins) {
    const c = state.minutes.get(m) || {};
    max = Math.max(max, DECISIONS.reduce((s, d) => s + (c[d] || 0), 0));
  }
  const plotH = H - bottom - top;
  const slot = (W - left) / CHART_MINUTES;
  const parts = [
    svg('line', { class: 'axis', x1: left, y1: H - bottom, x2: W, y2: H - bottom }),
    svg('line', { class: 'axis', x1: left, y1: top, x2: left, y2: H - bottom }),
    svg('text', { x: left - 4, y: top + 8, 'text-anchor': 'end' }, String(max)),
    svg('text', { x: left - 4, y: H - bottom, 'text-anchor': 'end' }, '0'),
    svg('text', { x: left, y: H - 4 }, clock(mins[0]).slice(0, 5)),
    svg('text', { x: W, y: H - 4, 'text-anchor': 'end' }, 'now'),
  ];
  mins.forEach((m, i) => {
    const c = state.minutes.get(m) || {};
    let y = H - bottom;
    for (const d of DECISIONS) {
      const n = c[d] || 0;
      if (!n) continue;
      const h = (n / max) * plotH;
      y -= h;
      const bar = svg('rect', {
        class: 'bar ' + d,
        x: (left + i * slot + 1).toFixed(1),
        y: y.toFixed(1),
        width: Math.max(slot - 2, 1).toFixed(1),
        height: h.toFixed(1),
      });
      bar.append(svg('title', {}, clock(m).slice(0, 5) + ' ' + d + ': ' + n));
      parts.push(bar);
    }
  });
  chart.replaceChildren(...parts);
}

function renderPending() {
  const list = $('pending');
  const items = [...state.pending.values()].sort((a, b) => a.created - b.created);
  list.replaceChildren(...items.map(approvalItem));
  $('pending-empty').hidden = items.length > 0;
  $('total-pending').textContent = String(state.pending.size);
}

function approvalItem(a) {
  const li = el('li', 'approval');
  li.dataset.id = a.id;
  li.append(el('div', 'cmd', a.command || a.tool || '(no command)'));
  const actions = el('div', 'actions');
  const yes = el('button', 'approve', 'Approve');
  const no = el('button', 'deny', 'Deny');
  yes.type = 'button';
  no.type = 'button';
  yes.addEventListener('click', () => resolve(a.id, true, li));
  no.addEventListener('click', () => resolve(a.id, false, li));
  actions.append(yes, no);
  li.append(actions);
  const policies = Array.isArray(a.policies) ? a.policies.join(', ') : '';
  const meta = [
    a.message,
    policies && '[' + policies + ']',
    a.agent && 'agent ' + a.agent,
    a.pid && 'pid ' + a.pid,
    a.cwd && 'in ' + a.cwd,
    'asked ' + clock(a.created),
  ]
    .filter(Boolean)
    .join(' · ');
  li.append(el('div', 'meta', meta));
  return li;
}

async function resolve(id, approved, li) {
  for (const b of li.querySelectorAll('button')) b.disabled = true;
  try {
    await api('POST', '/v1/approvals/' + encodeURIComponent(id) + '/resolve', {
      approved,
      resolved_by: 'dashboard',
    });
    state.pending.delete(id);
    renderPending();
  } catch (e) {
    if (e instanceof Refused) return refused();
    if (e.status === 404 || e.status === 409) {
      state.pending.delete(id);
      renderPending();
      return;
    }
    for (const b of li.querySelectorAll('button')) b.disabled = false;
    li.append(el('div', 'error', 'Could not resolve: ' + e.message));
  }
}

// ---- policy status --------------------------------------------------------

async function refreshStatus() {
  try {
    renderStatus(await api('GET', '/v1/status'));
  } catch (e) {
    if (e instanceof Refused) refused();
  }
}

function renderStatus(s) {
  $('mode').textContent = 'mode: ' + s.mode;
  const snap = s.snapshot || {};
  $('policy-generation').textContent = String(snap.generation);
  $('policy-size').textContent = snap.policies + ' / ' + snap.rules;
  $('policy-source').textContent = snap.source || '';
  const r = s.last_reload;
  const box = $('policy-error');
  if (r) {
    $('policy-reload').textContent =
      new Date(r.at * 1000).toLocaleString() + ' (' + r.trigger + ', ' + (r.ok ? 'ok' : 'failed') + ', ' + r.duration_ms + ' ms)';
  } else {
    $('policy-reload').textContent = 'published ' + new Date(snap.published_at * 1000).toLocaleString();
  }
  if (r && r.error) {
    const e = r.error;
    let text = e.file + ':' + e.line + ':' + e.column + ': ' + e.message;
    if (e.suggestion) text += ' (did you mean `' + e.suggestion + '`?)';
    $('policy-error-text').textContent = text;
    box.hidden = false;
  } else {
    box.hidden = true;
  }
}

async function reloadNow() {
  const out = $('reload-result');
  out.textContent = 'reloading…';
  try {
    const r = await api('POST', '/v1/policy/reload');
    out.textContent = 'generation ' + r.generation + (r.changed ? '' : ' (unchanged)') + ', ' + r.duration_ms + ' ms';
  } catch (e) {
    if (e instanceof Refused) return refused();
    out.textContent = e.status === 422 ? 'the policy does not compile' : 'failed: ' + e.message;
  }
  refreshStatus();
}

// ---- test box -------------------------------------------------------------

async function testCommand(ev) {
  ev.preventDefault();
  const tool = $('test-tool').value;
  const value = $('test-input').value;
  const key = { exec: 'command', read: 'path', write: 'path', fetch: 'url' }[tool] || 'command';
  const out = $('test-result');
  out.hidden = false;
  out.replaceChildren(el('span', 'muted', 'checking…'));
  try {
    const r = await api('POST', '/v1/preflight/' + encodeURIComponent(tool), {
      agent: 'dashboard',
      params: { [key]: value },
    });
    const parts = [el('span', 'badge ' + r.decision, r.decision)];
    parts.push(' ', el('strong', '', r.policy ? r.policy : 'no policy matched'));
    if (r.message) parts.push(' — ', el('span', 'message', r.message));
    if (r.matched_policies && r.matched_policies.length > 1)
      parts.push(' ', el('span', 'muted', '(matched: ' + r.matched_policies.join(', ') + ')'));
    out.replaceChildren(...parts);
    out.dataset.decision = r.decision;
  } catch (e) {
    if (e instanceof Refused) return refused();
    out.replaceChildren(el('span', 'error', 'Could not test: ' + e.message));
  }
}

// ---- start ----------------------------------------------------------------

function ageTick() {
  if (!$('app').hidden) renderChart();
}

document.addEventListener('DOMContentLoaded', () => {
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token-input').value.trim();
    $('token-input').value = '';
    if (!t) return;
    connect(t, true);
  });
  $('forget').addEventListener('click', () => {
    storeToken(null);
    showLogin('');
  });
  $('reload').addEventListener('click', reloadNow);
  $('test-form').addEventListener('submit', testCommand);
  setInterval(ageTick, 30000);
  const t = storedToken();
  if (t) connect(t, false);
  else showLogin('');
});
