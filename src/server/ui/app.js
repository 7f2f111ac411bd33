// The dashboard of `vendetta serve`: one ES module, no framework, no build step. Reads the API
// under /api/v1 with the token typed at sign-in (kept in sessionStorage: this tab only) as
// `Authorization: Bearer`, and follows GET /api/v1/events/stream (Server-Sent Events read with
// fetch, so the token stays in a header and never in a URL). Every string from the server goes
// into the page as text (textContent), never as HTML.

const TOKEN_KEY = 'vendetta.token';
const API = '/api/v1';
const SYMBOL = {
  'create-workspace': '+', 'start-service': '+', 'start-workspace': '~', 'update-workspace': '~', 'restart-service': '~',
  'recreate-workspace': '-/+', 'stop-workspace': '-', 'stop-service': '-', 'delete-workspace': '-', 'delete-service': '-',
};
const MAX_EVENTS = 200;

const state = {
  me: undefined, // {name, role}
  nodes: [],
  workspaces: [],
  services: [],
  events: [], // newest first
  health: undefined,
  latency: {}, // node → ms of its last observation (from the live stream)
  /** The open resource page: its record, plan and what its last action said. */
  page: undefined,
  fresh: new Set(), // event keys that arrived live (flashed once)
  stream: undefined, // AbortController of the live stream
  /** Per resource page: what its last action said ({busy, error, text}), a pending delete, progress. */
  actions: {},
};
const ui = (page) => (state.actions[page.id] ??= {});

// ---------- small helpers ----------

const $ = (sel) => document.querySelector(sel);

/** h('td', {class: 'x', dataset: {id}}, 'text', child…): an element; strings become text nodes. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'on') for (const [ev, f] of Object.entries(v)) el.addEventListener(ev, f);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

const token = () => sessionStorage.getItem(TOKEN_KEY) ?? '';
const canEdit = () => state.me?.role === 'edit' || state.me?.role === 'admin';
const eventKey = (e) => `${e.time}|${e.object}|${e.reason}|${e.message}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class ApiError extends Error {
  constructor(status, body) {
    super(`${body.error ?? `HTTP ${status}`}${body.hint ? ` (${body.hint})` : ''}`);
    this.status = status;
  }
}

async function api(path, opts = {}) {
  const res = await fetch(API + path, { ...opts, headers: { authorization: `Bearer ${token()}`, ...(opts.headers ?? {}) } });
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    if (res.status === 401) signOut(`signed out: ${body.error ?? 'the server refused the token'}`);
    throw new ApiError(res.status, body);
  }
  return res;
}
const getJson = async (path) => (await api(path)).json();
const ndjson = (text) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l));

function ago(iso) {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.floor(s / 60)}m ago` : `${Math.floor(s / 3600)}h ago`;
}
const clock = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : '');

// ---------- sign-in ----------

async function signIn(candidate) {
  sessionStorage.setItem(TOKEN_KEY, candidate);
  try {
    state.me = await getJson('/whoami');
  } catch (err) {
    sessionStorage.removeItem(TOKEN_KEY);
    throw err;
  }
  $('#login-view').hidden = true;
  $('#app').hidden = false;
  $('#signout').hidden = false;
  $('#whoami').textContent = `${state.me.name} (${state.me.role})`;
  $('#whoami').dataset.role = state.me.role;
  void follow();
  await refresh();
}

function signOut(message = '') {
  sessionStorage.removeItem(TOKEN_KEY);
  state.stream?.abort();
  state.stream = undefined;
  Object.assign(state, { me: undefined, nodes: [], workspaces: [], services: [], events: [], page: undefined, actions: {} });
  $('#app').hidden = true;
  $('#app').replaceChildren();
  lastRender = '';
  $('#signout').hidden = true;
  $('#whoami').textContent = '';
  $('#health').textContent = '';
  setLive(false, 'offline');
  $('#login-view').hidden = false;
  $('#login-error').textContent = message;
  $('#token').value = '';
}

// ---------- data ----------

async function refresh() {
  if (!state.me) return;
  const [nodes, workspaces, services, health] = await Promise.all([
    getJson('/nodes'), getJson('/resources?kind=workspace'), getJson('/resources?kind=service'), getJson('/healthz'),
  ]);
  Object.assign(state, { nodes, workspaces, services, health });
  if (state.events.length === 0) state.events = ndjson(await (await api('/events?limit=100')).text()).reverse();
  const route = parseRoute();
  if (route.kind) await loadPage(route.kind, route.name, state.page?.id !== `${route.kind}/${route.name}`);
  render();
}

/** The resource page's record and events; its plan when `withPlan` (a plan observes the nodes). */
async function loadPage(kind, name, withPlan) {
  const id = `${kind}/${name}`;
  const previous = state.page?.id === id ? state.page : undefined;
  let record;
  try {
    ({ record } = await getJson(`/resources/${kind}/${encodeURIComponent(name)}`));
  } catch (err) {
    if (err.status !== 404) throw err;
    state.page = { id, kind, name, missing: true, status: previous?.status };
    return;
  }
  // What the page holds besides the record (plan, action status, a pending delete) stays.
  state.page = { ...previous, id, kind, name, record, missing: false };
  if (withPlan) void loadPlan(id);
}

async function loadPlan(id) {
  const page = state.page;
  if (!page || page.id !== id) return;
  page.planLoading = true;
  render();
  try {
    const { applySet, plan } = await getJson(`/resources/${page.kind}/${encodeURIComponent(page.name)}/plan`);
    Object.assign(page, { plan, applySet, planError: undefined, planAt: new Date().toISOString() });
  } catch (err) {
    page.planError = err.message;
  }
  page.planLoading = false;
  if (state.page === page) render();
}

// Coalesces refreshes: events and passes can arrive several a second.
let refreshTimer;
function scheduleRefresh(ms = 250) {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = undefined;
    refresh().catch((err) => console.warn('refresh failed', err));
  }, ms);
}
let planTimer;
function schedulePlan(id) {
  clearTimeout(planTimer);
  planTimer = setTimeout(() => void loadPlan(id), 1500);
}

// ---------- live stream (SSE over fetch) ----------

function setLive(on, text) {
  const el = $('#live');
  el.className = `live ${on ? 'on' : 'off'}`;
  el.textContent = text;
}

async function follow() {
  const abort = new AbortController();
  state.stream?.abort();
  state.stream = abort;
  let delay = 1000;
  while (!abort.signal.aborted) {
    try {
      const res = await fetch(`${API}/events/stream`, { headers: { authorization: `Bearer ${token()}`, accept: 'text/event-stream' }, signal: abort.signal });
      if (res.status === 401) return signOut('signed out: the server refused the token');
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      setLive(true, 'live');
      delay = 1000;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n/g, '\n');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          onMessage(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (err) {
      if (abort.signal.aborted) return;
      console.warn('live stream:', err);
    }
    setLive(false, 'reconnecting…');
    await sleep(delay);
    delay = Math.min(delay * 2, 15000);
    // Whatever happened meanwhile is read again.
    state.events = [];
    scheduleRefresh(0);
  }
}

/** One SSE block: `event:` and `data:` lines (comments start with ':'). */
function onMessage(block) {
  let type = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) type = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (data.length === 0) return;
  const payload = JSON.parse(data.join('\n'));
  if (type === 'event') {
    state.events.unshift(payload);
    state.events.length = Math.min(state.events.length, MAX_EVENTS);
    state.fresh.add(eventKey(payload));
    if (state.page && concerns(state.page, payload.object)) schedulePlan(state.page.id);
    render();
    scheduleRefresh();
  } else if (type === 'hello' || type === 'pass') {
    Object.assign(state.latency, payload.nodeLatencyMs);
    if (type === 'hello') render();
    else scheduleRefresh(500);
  } else if (type === 'progress') {
    if (state.page && concerns(state.page, payload.resource)) {
      ui(state.page).progress = `${payload.resource}: ${payload.message}`;
      render();
    }
  }
}

/** Whether an event on `object` belongs on the page (a workspace's page shows its services' too). */
function concerns(page, object) {
  if (object === page.id) return true;
  if (page.kind !== 'workspace') return false;
  return state.services.some((s) => `service/${s.name}` === object && s.resource.spec.workspace === page.name);
}

// ---------- actions ----------

async function act(action) {
  const page = state.page;
  if (!page) return;
  const path = `/resources/${page.kind}/${encodeURIComponent(page.name)}`;
  ui(page).status = { busy: true, text: `${action}…` };
  render();
  try {
    if (action === 'sync') {
      const result = await (await api(`${path}/sync`, { method: 'POST' })).json();
      ui(page).status = { text: result.converged ? `sync: converged (${result.operationsRun} operation${result.operationsRun === 1 ? '' : 's'} run)` : `sync: not converged: ${result.failures.map((f) => f.reason).join('; ')}` };
    } else if (action === 'restart') {
      const { restarted } = await (await api(`${path}/restart`, { method: 'POST' })).json();
      ui(page).status = { text: `restarted ${restarted.join(', ')}` };
    } else if (action === 'delete') {
      const result = await (await api(path, { method: 'DELETE' })).json();
      ui(page).status = { text: result.converged ? `deleted ${page.id}` : `delete: not done: ${result.failures.map((f) => f.reason).join('; ')}` };
    }
  } catch (err) {
    ui(page).status = { error: true, text: `${action} failed: ${err.message}` };
  }
  ui(page).confirmDelete = false;
  render();
  scheduleRefresh(0);
}

// ---------- views ----------

function parseRoute() {
  const m = /^#\/r\/(node|workspace|service)\/(.+)$/.exec(location.hash);
  return m ? { kind: m[1], name: decodeURIComponent(m[2]) } : {};
}

const link = (kind, name) => h('a', { href: `#/r/${kind}/${encodeURIComponent(name)}` }, name);
const phase = (p) => (p ? h('span', { class: 'phase', dataset: { phase: p } }, p) : h('span', { class: 'muted', title: 'not observed yet' }, '–'));
const chips = (conditions = []) =>
  conditions.map((c) => h('span', { class: `chip ${c.status}`, title: `${c.reason}: ${c.message}` }, `${c.type}${c.status === 'True' ? '' : `=${c.status}`}`));

function table(id, headers, rows, empty) {
  if (rows.length === 0) return h('p', { id, class: 'empty' }, empty);
  return h('table', { id }, h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))), h('tbody', {}, rows));
}

function eventList(events, id) {
  if (events.length === 0) return h('p', { id, class: 'empty' }, 'no events yet');
  return h(
    'ul',
    { id, class: 'events' },
    events.map((e) =>
      h(
        'li',
        { class: `event ${e.type}${state.fresh.has(eventKey(e)) ? ' fresh' : ''}`, dataset: { reason: e.reason, object: e.object, time: e.time } },
        h('time', { datetime: e.time, title: e.time }, clock(e.time)),
        h('span', { class: 'reason' }, e.reason),
        h('span', {}, h('span', { class: 'mono' }, e.object), ' ', e.message, e.by ? h('span', { class: 'muted' }, ` (by ${e.by})`) : ''),
      ),
    ),
  );
}

function fleetView() {
  const nodes = state.nodes.map((r) => {
    const ready = r.status?.conditions?.find((c) => c.type === 'Ready');
    return h('tr', { dataset: { id: r.id } },
      h('td', {}, link('node', r.name)), h('td', { class: 'mono' }, r.resource.spec.address ?? ''),
      h('td', {}, phase(r.status?.phase)), h('td', { class: 'latency' }), h('td', { class: 'muted' }, ready?.message ?? ''));
  });
  const workspaces = state.workspaces.map((r) =>
    h('tr', { dataset: { id: r.id } },
      h('td', {}, link('workspace', r.name)), h('td', {}, r.resource.spec.node), h('td', {}, r.resource.spec.provider),
      h('td', {}, phase(r.status?.phase)), h('td', {}, chips(r.status?.conditions)), h('td', { class: 'muted' }, r.applySet)));
  const services = state.services.map((r) => {
    const d = r.status?.details ?? {};
    return h('tr', { dataset: { id: r.id } },
      h('td', {}, link('service', r.name)), h('td', {}, link('workspace', r.resource.spec.workspace)),
      h('td', {}, phase(r.status?.phase)), h('td', {}, chips(r.status?.conditions)),
      h('td', { class: 'mono' }, d.pid ?? ''), h('td', {}, d.restarts ?? ''), h('td', { class: 'mono' }, d.endpoint ?? d.endpoints ?? ''));
  });
  return [
    h('section', { class: 'card' }, h('h2', {}, 'Nodes'), table('nodes', ['name', 'address', 'phase', 'latency', 'ready'], nodes, 'no nodes applied')),
    h('section', { class: 'card' }, h('h2', {}, 'Workspaces'), table('workspaces', ['name', 'node', 'provider', 'phase', 'conditions', 'apply set'], workspaces, 'no workspaces applied')),
    h('section', { class: 'card' }, h('h2', {}, 'Services'), table('services', ['name', 'workspace', 'phase', 'conditions', 'pid', 'restarts', 'endpoint'], services, 'no services applied')),
    h('section', { class: 'card' }, h('h2', {}, 'Events ', h('span', { class: 'muted' }, '(live)')), eventList(state.events.slice(0, 60), 'events')),
  ];
}

function planView(page) {
  if (page.kind === 'node') return h('p', { class: 'muted' }, 'a node has no plan of its own: see its workspaces');
  if (page.planError) return h('p', { id: 'plan', class: 'error' }, page.planError);
  if (!page.plan) return h('p', { id: 'plan', class: 'muted' }, 'planning…');
  const { operations, unreachable = [], conflicts = [] } = page.plan;
  const mine = (op) => op.resource === page.id || (page.kind === 'workspace' && op.workspace === page.name);
  const items = [
    ...operations.map((op) =>
      h('li', { class: mine(op) ? 'mine' : '', dataset: { type: op.type, resource: op.resource } },
        h('span', { class: 'sym mono' }, SYMBOL[op.type] ?? '?'), h('span', { class: 'mono' }, op.resource), ` ${op.type.split('-')[0]} on ${op.node}`,
        h('span', { class: 'muted' }, ` (${op.cause})`))),
    ...unreachable.map((u) => h('li', {}, h('span', { class: 'sym' }, '!'), `node ${u.node} unreachable: ${u.error}`)),
    ...conflicts.map((c) => h('li', {}, h('span', { class: 'sym' }, '!'), c.message)),
  ];
  const when = h('span', { class: 'muted' }, ` apply set ${page.applySet}, planned ${clock(page.planAt)}${page.planLoading ? ' (re-planning…)' : ''}`);
  if (items.length === 0) return h('div', { id: 'plan', dataset: { empty: 'true' } }, h('p', {}, 'No changes: the apply set matches what is on the nodes.', when));
  return h('div', { id: 'plan', dataset: { empty: 'false' } }, h('ul', { class: 'plan' }, items), h('p', {}, when));
}

function resourceView(page) {
  const back = h('p', {}, h('a', { href: '#/' }, '← fleet'));
  if (page.missing) return [back, h('section', { class: 'card' }, h('h1', {}, page.id), h('p', { id: 'missing', class: 'muted' }, 'not applied (or deleted)'), ui(page).status ? h('p', { id: 'action-status' }, ui(page).status.text) : '')];
  const { record } = page;
  const status = record.status ?? {};
  const details = Object.entries(status.details ?? {});
  const events = state.events.filter((e) => concerns(page, e.object)).slice(0, 60);
  return [
    back,
    h('section', { class: 'card' },
      h('h1', {}, h('span', { class: 'mono' }, page.id), ' ', phase(status.phase)),
      h('p', { class: 'muted' }, `apply set ${record.applySet} · generation ${record.generation} · applied ${ago(record.appliedAt)}`),
      actionBar(page)),
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('h2', {}, 'Desired (as applied)'), h('pre', { id: 'desired', class: 'spec' }, JSON.stringify(record.resource.spec, null, 2))),
      h('section', { class: 'card' }, h('h2', {}, 'Observed (last pass)'),
        h('p', {}, phase(status.phase), ` observed generation ${status.observedGeneration ?? '–'}`),
        table('conditions', ['condition', 'status', 'reason', 'message', 'since'],
          (status.conditions ?? []).map((c) => h('tr', {}, h('td', {}, c.type), h('td', {}, c.status), h('td', {}, c.reason), h('td', {}, c.message), h('td', { class: 'muted' }, ago(c.lastTransitionTime)))),
          'no conditions yet'),
        details.length ? h('dl', { class: 'details' }, details.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { class: 'mono' }, String(v))])) : '')),
    h('section', { class: 'card' }, h('h2', {}, 'Plan ', h('button', { id: 'replan', type: 'button', on: { click: () => void loadPlan(page.id) } }, 're-plan')), planView(page)),
    h('section', { class: 'card' }, h('h2', {}, 'Recent events ', h('span', { class: 'muted' }, '(live)')), eventList(events, 'events')),
  ];
}

/**
 * The buttons (by role: a view token gets none) and what the last action said. The same
 * element is kept across renders while none of that changes, so a click never lands on a
 * button that a live update just replaced.
 */
function actionBar(page) {
  const signature = JSON.stringify([page.id, state.me?.role, ui(page).status, ui(page).confirmDelete, ui(page).progress]);
  if (page.actionBar?.signature === signature) return page.actionBar.element;
  const buttons = [];
  if (page.kind !== 'node' && canEdit()) {
    const busy = ui(page).status?.busy === true;
    buttons.push(h('button', { id: 'action-sync', type: 'button', disabled: busy, title: 'converge its apply set now', on: { click: () => act('sync') } }, 'Sync'));
    buttons.push(h('button', { id: 'action-restart', type: 'button', disabled: busy, title: page.kind === 'workspace' ? 'restart every service of this workspace' : 'restart this service', on: { click: () => act('restart') } }, 'Restart'));
    buttons.push(
      ui(page).confirmDelete
        ? h('button', { id: 'action-delete-confirm', type: 'button', class: 'danger confirm', disabled: busy, on: { click: () => act('delete') } }, `Really delete ${page.id}?`)
        : h('button', { id: 'action-delete', type: 'button', class: 'danger', disabled: busy, on: { click: () => { ui(page).confirmDelete = true; render(); } } }, 'Delete'),
    );
  }
  const element = h('div', { class: 'actions' }, buttons, h('span', { id: 'action-status', class: ui(page).status?.error ? 'error' : 'muted' }, ui(page).status?.text ?? ui(page).progress ?? ''));
  page.actionBar = { signature, element };
  return element;
}

function render() {
  if (!state.me) return;
  const health = state.health;
  if (health) {
    $('#health').textContent = `${health.applySets.length} apply set${health.applySets.length === 1 ? '' : 's'} · ${health.passes} passes · last ${ago(health.lastPassAt) || 'never'}` +
      (Object.keys(health.suspended).length ? ` · suspended: ${Object.keys(health.suspended).join(', ')}` : '');
  }
  const route = parseRoute();
  const page = route.kind && state.page?.id === `${route.kind}/${route.name}` ? state.page : undefined;
  // Rebuilt only when what it shows changed (passes come every resync: a button must stay put
  // under the pointer); latencies are patched in place.
  const { fresh: _fresh, stream: _stream, health: _health, latency: _latency, ...shown } = state;
  const signature = JSON.stringify([location.hash, shown], (k, v) => (k === 'actionBar' ? undefined : v));
  if (signature !== lastRender) {
    lastRender = signature;
    const view = route.kind ? (page ? resourceView(page) : [h('p', { class: 'muted' }, 'loading…')]) : fleetView();
    $('#app').replaceChildren(...view);
    $('#app').dataset.view = route.kind ? 'resource' : 'fleet';
    state.fresh.clear();
  }
  for (const cell of document.querySelectorAll('#nodes tr[data-id] .latency')) {
    const ms = state.latency[cell.closest('tr').dataset.id.slice('node/'.length)];
    cell.textContent = ms !== undefined ? `${ms} ms` : '';
  }
}
let lastRender = '';

// ---------- start ----------

window.addEventListener('hashchange', () => {
  state.page = undefined;
  render();
  scheduleRefresh(0);
});
$('#signout').addEventListener('click', () => signOut());
$('#login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const candidate = $('#token').value.trim();
  $('#login-error').textContent = '';
  signIn(candidate).catch((err) => {
    $('#login-error').textContent = `sign-in failed: ${err.message}`;
  });
});

if (token()) {
  signIn(token()).catch((err) => signOut(`sign-in failed: ${err.message}`));
} else {
  signOut();
}
