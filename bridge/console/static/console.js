// The operator console (docs/console.md). Every value from the network is put on the page as
// text (textContent, DOM nodes): never as markup. No inline script or style (the page's CSP).
import { el, text, clear, chart } from "./dom.js";

const PAGE = 50;
const state = {
  me: null,
  csrf: "",
  offset: 0,
  total: 0,
  now: 0, // bridge's clock minus ours (seconds), for "expires in"
  rows: new Map(), // token -> {binding, tr}
  // Changes streamed while a read of the page is on its way: applied again to its answer.
  removedSince: new Set(),
  upsertedSince: new Map(),
  why: "", // the extension whose why view is open
  stream: null,
};

const $ = (id) => document.getElementById(id);

// -- the API ------------------------------------------------------------------------------

class Refused extends Error {
  constructor(status, reason) {
    super(reason);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const method = options.method || "GET";
  if (method !== "GET" && state.csrf) headers.set("X-CSRF-Token", state.csrf);
  const response = await fetch(path, { ...options, method, headers, credentials: "same-origin" });
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  if (!response.ok) {
    if (response.status === 401) showLogin("");
    throw new Refused(response.status, body.text || body.message || response.statusText);
  }
  return body;
}

// Run ``job`` now, or once more after the one running; at most one every ``gap`` ms.
function coalesced(job, gap) {
  let running = false;
  let again = false;
  let last = 0;
  const kick = () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    const wait = Math.max(0, last + gap - Date.now());
    setTimeout(async () => {
      again = false;
      try {
        await job();
      } catch (error) {
        console.warn(error);
      } finally {
        last = Date.now();
        running = false;
        if (again) kick();
      }
    }, wait);
  };
  return kick;
}

// -- login ---------------------------------------------------------------------------------

function showLogin(message) {
  if (state.stream) state.stream.close();
  state.stream = null;
  $("console").hidden = true;
  $("login").hidden = false;
  text($("login-error"), message);
}

async function login(event) {
  event.preventDefault();
  const body = new URLSearchParams({ login: $("login-name").value, password: $("login-password").value });
  try {
    await api("/api/sessions", { method: "POST", body });
  } catch (error) {
    showLogin(error.message);
    return;
  }
  $("login-password").value = "";
  await start();
}

async function logout() {
  try {
    await api("/api/sessions", { method: "DELETE" });
  } finally {
    state.csrf = "";
    showLogin("");
  }
}

async function start() {
  try {
    state.me = await api("/api/console/me");
  } catch (error) {
    showLogin(error.status === 401 ? "" : error.message);
    return;
  }
  state.csrf = state.me.csrf_token;
  if (!state.me.console) {
    showLogin("no permission: the console is for administrators");
    return;
  }
  text($("who"), `${state.me.login}@${state.me.domain}` + (state.me.scope ? ` (domain ${state.me.scope})` : " (every domain)"));
  $("login").hidden = true;
  $("console").hidden = false;
  connect();
  await Promise.all([loadRegistrations(), loadSummary(), loadAttempts(), loadBans()]);
}

// -- the stream ----------------------------------------------------------------------------

const refreshRegistrations = coalesced(() => loadRegistrations(), 1000);
const refreshSummary = coalesced(() => loadSummary(), 1000);
const refreshBans = coalesced(() => loadBans(), 250);

function connect() {
  if (state.stream) state.stream.close();
  const stream = new EventSource("/api/events");
  state.stream = stream;
  const live = $("live");
  stream.onopen = () => {
    text(live, "live");
    live.classList.remove("off");
  };
  stream.onerror = async () => {
    text(live, "reconnecting");
    live.classList.add("off");
    if (stream.readyState === EventSource.CLOSED) {
      // Refused (logged out, session expired): the browser does not retry that.
      try {
        await api("/api/console/me");
        setTimeout(connect, 1000);
      } catch {
        /* showLogin ran */
      }
    }
  };
  const on = (type, handler) => stream.addEventListener(type, (m) => handler(JSON.parse(m.data)));
  on("registration", onRegistration);
  on("registrations_refresh", () => {
    refreshRegistrations();
    refreshSummary();
  });
  on("attempt", onAttempt);
  on("ban", () => {
    refreshBans();
    refreshSummary();
  });
  on("node", refreshSummary);
  on("reload", () => {
    refreshRegistrations();
    refreshSummary();
    loadAttempts();
    refreshBans();
  });
}

function onRegistration(message) {
  // The page changes at once where it can; it is read again at most once a second (order
  // across pages, totals, facets).
  if (message.op === "remove") {
    state.removedSince.add(message.token);
    state.upsertedSince.delete(message.token);
    const shown = state.rows.get(message.token);
    if (shown) shown.tr.remove();
    state.rows.delete(message.token);
  } else {
    const b = message.binding;
    state.upsertedSince.set(b.token, b);
    state.removedSince.delete(b.token);
    const shown = state.rows.get(b.token);
    if (shown) {
      const tr = registrationRow(b);
      shown.tr.replaceWith(tr);
      state.rows.set(b.token, { binding: b, tr });
    } else {
      placeNew(b);
    }
  }
  refreshRegistrations();
  refreshSummary();
}

// The server's order (bridge/console/paging.py: realm lower-cased, user, node, Call-ID).
function orderKey(b) {
  return [b.domain.toLowerCase(), b.user, b.node, b.token];
}

function sortsBefore(a, b) {
  const x = orderKey(a);
  const y = orderKey(b);
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i]) return x[i] < y[i];
  }
  return false;
}

// A new binding goes into the page shown when it belongs there (the filters and the order
// say so); otherwise the coming read of the page places it.
function placeNew(b) {
  if ($("search").value) return; // the search's fields are the server's to match
  const domain = $("filter-domain").value;
  const status = $("filter-status").value;
  const node = $("filter-node").value;
  if ((domain && b.domain.toLowerCase() !== domain) || (status && b.status !== status) || (node && b.node !== node)) return;
  const shown = [...state.rows.values()];
  const index = shown.findIndex((row) => sortsBefore(b, row.binding));
  const tr = registrationRow(b);
  if (index === 0 && state.offset > 0) return; // it belongs to an earlier page
  if (index === -1) {
    const lastPage = state.offset + shown.length >= state.total;
    if (shown.length >= PAGE || !lastPage) return; // it belongs to a later page
    $("registrations").tBodies[0].append(tr);
  } else {
    shown[index].tr.before(tr);
  }
  state.rows.set(b.token, { binding: b, tr });
  if (state.rows.size > PAGE) {
    const last = [...state.rows.values()].reduce((a, c) => (sortsBefore(a.binding, c.binding) ? c : a));
    last.tr.remove();
    state.rows.delete(last.binding.token);
  }
}

function onAttempt(message) {
  if (message.failed) {
    const tbody = $("attempts").tBodies[0];
    const tr = attemptRow({ user: message.user, ...message.attempt });
    tr.classList.add("fresh");
    tbody.prepend(tr);
    while (tbody.rows.length > 200) tbody.deleteRow(-1);
  }
  if (state.why && state.why === message.user) showWhy(state.why);
  refreshSummary();
}

// -- registrations -------------------------------------------------------------------------

function expiresIn(expires) {
  if (!expires) return "";
  const left = Math.round(expires - (Date.now() / 1000 + state.now));
  return left > 0 ? `${left} s` : "expired";
}

function registrationRow(b) {
  const expires = el("td", { class: "expires" }, expiresIn(b.expires));
  const tr = el(
    "tr",
    { "data-token": b.token },
    el("td", {}, `${b.user}@${b.domain}`),
    el("td", {}, b.contact),
    el("td", {}, `${b.network_ip}:${b.network_port} ${b.network_proto}`),
    el("td", { class: "agent" }, b.user_agent),
    el("td", {}, b.status),
    expires,
    el("td", {}, b.node),
  );
  return tr;
}

function fillSelect(select, counts, current) {
  const keep = select.options[0];
  clear(select);
  select.append(keep);
  const names = Object.keys(counts).sort();
  if (current && !names.includes(current)) names.unshift(current);
  for (const name of names) {
    select.append(el("option", { value: name }, `${name} (${counts[name] || 0})`));
  }
  select.value = current;
}

let asked = 0; // the latest read of the page: an older answer arriving later is dropped

async function loadRegistrations() {
  const mine = ++asked;
  state.removedSince = new Set();
  state.upsertedSince = new Map();
  const query = new URLSearchParams({
    q: $("search").value,
    domain: $("filter-domain").value,
    status: $("filter-status").value,
    node: $("filter-node").value,
    offset: String(state.offset),
    limit: String(PAGE),
  });
  const page = await api(`/api/console/registrations?${query}`);
  if (mine !== asked) return;
  state.now = page.now - Date.now() / 1000;
  state.total = page.total;
  if (page.total <= state.offset && state.offset > 0) {
    state.offset = Math.max(0, Math.floor((page.total - 1) / PAGE) * PAGE);
    return loadRegistrations();
  }
  const tbody = $("registrations").tBodies[0];
  const rows = new Map();
  const trs = page.rows.filter((b) => !state.removedSince.has(b.token)).map((b) => {
    const tr = registrationRow(b);
    rows.set(b.token, { binding: b, tr });
    return tr;
  });
  clear(tbody);
  tbody.append(...trs);
  state.rows = rows;
  for (const b of state.upsertedSince.values()) {
    const shown = rows.get(b.token);
    if (shown) {
      const tr = registrationRow(b);
      shown.tr.replaceWith(tr);
      rows.set(b.token, { binding: b, tr });
    } else {
      placeNew(b);
    }
  }
  fillSelect($("filter-domain"), page.domains, $("filter-domain").value);
  fillSelect($("filter-status"), page.statuses, $("filter-status").value);
  fillSelect($("filter-node"), page.nodes, $("filter-node").value);
  const last = Math.min(page.total, state.offset + page.rows.length);
  text($("page-info"), page.total ? `${state.offset + 1}–${last} of ${page.total}` : "no registrations");
  $("prev").disabled = state.offset === 0;
  $("next").disabled = last >= page.total;
}

function tick() {
  for (const { binding, tr } of state.rows.values()) {
    const cell = tr.querySelector("td.expires");
    if (cell) text(cell, expiresIn(binding.expires));
  }
}

// -- counters, chart, nodes ----------------------------------------------------------------

function when(epoch) {
  if (!epoch) return "";
  return new Date(epoch * 1000).toISOString().replace("T", " ").slice(0, 19);
}

async function loadSummary() {
  const s = await api("/api/console/summary");
  text($("count-online"), String(s.online));
  text($("count-offline"), String(s.offline));
  text($("count-failing"), String(s.failing));
  text($("count-banned"), String(s.banned));
  const box = $("chart");
  clear(box);
  box.append(chart(s.chart));
  const tbody = $("nodes").tBodies[0];
  clear(tbody);
  for (const n of s.nodes) {
    const follower = n.state === "standby" ? "another bridge instance" : n.state === "not_started" ? "" : "this instance";
    tbody.append(
      el(
        "tr",
        { "data-node": n.name },
        el("td", {}, n.name),
        el("td", { class: `state ${n.state}` }, n.state),
        el("td", {}, follower),
        el("td", {}, when(n.since)),
        el("td", {}, when(n.last_heartbeat)),
        el("td", {}, String(n.registrations)),
        el("td", {}, n.last_error),
      ),
    );
  }
}

// -- attempts and the why view -------------------------------------------------------------

function attemptRow(a) {
  const open = el("button", { type: "button", class: "link why-link" }, a.user);
  open.addEventListener("click", () => showWhy(a.user));
  return el(
    "tr",
    {},
    el("td", {}, when(a.at)),
    el("td", {}, open),
    el("td", {}, a.port ? `${a.ip}:${a.port}` : a.ip),
    el("td", { class: "agent" }, a.user_agent),
    el("td", { class: "reason", "data-outcome": a.outcome }, a.says),
    el("td", {}, a.detail),
  );
}

async function loadAttempts() {
  const body = await api("/api/console/attempts");
  const tbody = $("attempts").tBodies[0];
  clear(tbody);
  tbody.append(...body.rows.map(attemptRow));
}

async function showWhy(user) {
  state.why = user;
  const report = await api(`/api/guard/why?user=${encodeURIComponent(user)}`);
  if (state.why !== user) return;
  text($("why-user"), report.user);
  const says = $("why-says");
  text(says, report.verdict.says);
  says.className = `says ${report.verdict.ok ? "ok" : "bad"}`;
  text($("why-change"), report.verdict.change);
  const tbody = $("why-history").tBodies[0];
  clear(tbody);
  for (const a of report.attempts) {
    tbody.append(
      el(
        "tr",
        {},
        el("td", {}, a.repeats ? `${when(a.at)}, ${a.repeats} more until ${when(a.last_at)}` : when(a.at)),
        el("td", {}, a.says),
        el("td", {}, a.port ? `${a.ip}:${a.port}` : a.ip),
        el("td", { class: "agent" }, a.user_agent),
        el("td", {}, a.freeswitch),
        el("td", {}, a.detail),
      ),
    );
  }
  $("why").hidden = false;
}

// -- bans ----------------------------------------------------------------------------------

async function loadBans() {
  const body = await api("/api/console/bans");
  const tbody = $("bans").tBodies[0];
  clear(tbody);
  for (const b of body.rows) {
    const lift = el("button", { type: "button", class: "lift" }, "lift");
    lift.addEventListener("click", () => liftBan(b.ip));
    tbody.append(
      el(
        "tr",
        { "data-ip": b.ip },
        el("td", {}, b.ip),
        el("td", {}, b.scope),
        el("td", {}, b.extension),
        el("td", {}, b.rule),
        el("td", {}, String(b.offences)),
        el("td", {}, when(b.banned_at)),
        el("td", {}, when(b.until)),
        el("td", {}, lift),
      ),
    );
  }
}

async function liftBan(ip) {
  if (!window.confirm(`Lift every ban and limit of ${ip}?`)) return;
  try {
    await api(`/api/guard/bans/${encodeURIComponent(ip)}`, { method: "DELETE" });
  } catch (error) {
    window.alert(`Not lifted: ${error.message}`);
  }
  await loadBans();
  refreshSummary();
}

// -- page wiring ---------------------------------------------------------------------------

function showView(name) {
  for (const button of document.querySelectorAll("nav button")) {
    button.classList.toggle("active", button.dataset.view === name);
  }
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${name}`;
}

// What the operator asked for is read at once (not coalesced with the live refreshes).
function reread() {
  loadRegistrations().catch((error) => console.warn(error));
}

let searchTimer = 0;
function wire() {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  for (const button of document.querySelectorAll("nav button")) {
    button.addEventListener("click", () => showView(button.dataset.view));
  }
  $("search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      state.offset = 0;
      reread();
    }, 200);
  });
  for (const id of ["filter-domain", "filter-status", "filter-node"]) {
    $(id).addEventListener("change", () => {
      state.offset = 0;
      reread();
    });
  }
  $("prev").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - PAGE);
    reread();
  });
  $("next").addEventListener("click", () => {
    if (state.offset + PAGE < state.total) state.offset += PAGE;
    reread();
  });
  $("why-close").addEventListener("click", () => {
    state.why = "";
    $("why").hidden = true;
  });
  setInterval(tick, 1000);
}

wire();
start();
