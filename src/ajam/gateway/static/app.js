// The operator panel: sign-in, then live calls, the journal, the call-center board (supervisors),
// click-to-call and the screen pop, all kept current by one push connection.

import { api, setCsrfToken, setUnauthorizedHandler } from "./api.js";
import { Board } from "./board.js";
import { Dialer } from "./dial.js";
import { language, onLanguageChange, setLanguage, t, translatePage } from "./i18n.js";
import { Journal } from "./journal.js";
import { LiveCalls } from "./live.js";
import { DEFAULT_CONTACT_URL, ScreenPop } from "./popup.js";
import { PushClient } from "./push.js";
import { setDialHandler } from "./util.js";

const $ = (id) => document.getElementById(id);
const VIEW_KEY = "ajam.view";
const HEALTH_POLL_MS = 3000;
const RECONNECTED_NOTICE_MS = 4000;

const state = {
  me: null,
  contactTemplate: DEFAULT_CONTACT_URL,
  pbx: "unknown", // until /api/health or a pbx envelope tells
  pushState: "connecting",
  pushOpenedBefore: false,
  pushLosses: 0,
  pbxChanges: 0, // PBX state changes seen (shown as data-changes on the banner)
  transport: null,
  view: "calls",
  healthTimer: null,
  noticeTimer: null,
  notice: null,
};

const live = new LiveCalls({ body: $("live-body"), empty: $("live-empty") });
const journal = new Journal({
  form: $("journal-filters"),
  body: $("journal-body"),
  empty: $("journal-empty"),
  range: $("journal-range"),
  prev: $("journal-prev"),
  next: $("journal-next"),
  error: $("journal-error"),
  csv: $("journal-csv"),
  outcome: $("journal-outcome"),
  direction: $("journal-direction"),
});
const board = new Board({ queues: $("board-queues"), chart: $("board-chart"), error: $("board-error") });
const dialer = new Dialer({
  form: $("dial-form"),
  number: $("dial-number"),
  fromLabel: $("dial-from-label"),
  fromSelect: $("dial-from-select"),
  fromInput: $("dial-from-input"),
  submit: $("dial-submit"),
  status: $("dial-status"),
});
const popups = new ScreenPop($("popups"), {
  extensions: () => (state.me?.extensions ?? []).map(String),
  contactTemplate: () => state.contactTemplate,
});
const push = new PushClient({ onEnvelope, onState: onPushState, onResync: resync });

setDialHandler((number) => dialer.dial(number));

function isSupervisor() {
  return state.me && (state.me.role === "supervisor" || state.me.role === "admin");
}

// ------------------------------------------------------------------ push
function onEnvelope(envelope) {
  switch (envelope.type) {
    case "ringing":
    case "answered":
      live.handle(envelope);
      popups.handle(envelope);
      break;
    case "ended":
      live.handle(envelope);
      popups.handle(envelope);
      if (state.view === "journal") journal.callEnded();
      if (isSupervisor() && state.view === "board") board.scheduleChart();
      break;
    case "queue":
      if (isSupervisor() && envelope.data) board.update(envelope.data);
      break;
    case "pbx":
      setPbx(envelope.data?.state);
      break;
    case "dial":
      dialer.handle(envelope);
      break;
    default:
      break;
  }
}

function onPushState(pushState, transport) {
  state.pushState = pushState;
  state.transport = transport;
  if (pushState === "open") {
    if (state.pushOpenedBefore) resync();
    state.pushOpenedBefore = true;
    state.pushLosses = 0;
  } else if (pushState === "lost") {
    state.pushLosses += 1;
    if (state.pushLosses >= 2) checkSession(); // a WebSocket refused for an expired session looks like a drop
  }
  renderBanner();
}

async function checkSession() {
  try {
    await api.me();
  } catch (failure) {
    if (failure.status === 401 && state.me) leave("error.session");
  }
}

/** Reload what the push channel may have missed. */
function resync() {
  const asked = Date.now();
  live
    .load()
    .then(() => popups.prune((callId) => live.calls.has(callId), asked)) // calls that ended while we were away
    .catch(() => {});
  if (isSupervisor()) board.load();
  if (state.view === "journal") journal.load();
  refreshHealth();
}

// ------------------------------------------------------------------ PBX state banner
function setPbx(pbxState) {
  if (!pbxState || pbxState === "gap") return;
  const wasDown = state.pbx === "disconnected" || state.pbx === "connecting"; // not "unknown": no notice at start
  const nowUp = pbxState === "connected" || pbxState === "reconnected";
  state.pbx = nowUp ? "connected" : pbxState;
  state.pbxChanges += 1;
  clearTimeout(state.noticeTimer);
  state.notice = null;
  if (nowUp && (wasDown || pbxState === "reconnected")) {
    state.notice = "pbx.reconnected";
    state.noticeTimer = setTimeout(() => {
      state.notice = null;
      renderBanner();
    }, RECONNECTED_NOTICE_MS);
    if (wasDown) resync();
  }
  scheduleHealthPoll();
  renderBanner();
}

function scheduleHealthPoll() {
  clearTimeout(state.healthTimer);
  state.healthTimer = null;
  if (state.me && state.pbx !== "connected") state.healthTimer = setTimeout(refreshHealth, HEALTH_POLL_MS);
}

async function refreshHealth() {
  try {
    const health = await api.health();
    if (health?.pbx && health.pbx !== state.pbx) setPbx(health.pbx);
    else scheduleHealthPoll();
  } catch {
    scheduleHealthPoll();
  }
}

function renderBanner() {
  const banner = $("pbx-banner");
  let key = null;
  let kind = "ok";
  if (state.pbx === "disconnected") [key, kind] = ["pbx.disconnected", "bad"];
  else if (state.pbx === "connecting") [key, kind] = ["pbx.connecting", "warn"];
  else if (state.pushState === "lost" && state.pushLosses > 1) [key, kind] = ["push.lost", "warn"];
  else if (state.notice) [key, kind] = [state.notice, "ok"];
  banner.dataset.pbx = state.pbx;
  banner.dataset.changes = String(state.pbxChanges);
  banner.dataset.push = state.pushState;
  banner.dataset.transport = state.transport ?? "";
  banner.dataset.kind = kind;
  banner.hidden = !state.me || key === null;
  banner.textContent = key ? t(key) : "";
}

// ------------------------------------------------------------------ views
function showView(view, { focus = false } = {}) {
  if (view === "board" && !isSupervisor()) view = "calls";
  state.view = view;
  try {
    localStorage.setItem(VIEW_KEY, view);
  } catch {
    // not remembered
  }
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const selected = tab.dataset.view === view;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    if (selected && focus) tab.focus();
  }
  for (const name of ["calls", "journal", "board"]) $(`view-${name}`).hidden = name !== view;
  if (view === "journal") journal.load();
  if (view === "board") board.loadChart();
}

function visibleTabs() {
  return [...document.querySelectorAll('[role="tab"]')].filter((tab) => !tab.hidden);
}

for (const tab of document.querySelectorAll('[role="tab"]')) {
  tab.addEventListener("click", () => showView(tab.dataset.view));
  tab.addEventListener("keydown", (event) => {
    const tabs = visibleTabs();
    const index = tabs.indexOf(tab);
    let next = null;
    if (event.key === "ArrowRight") next = tabs[(index + 1) % tabs.length];
    if (event.key === "ArrowLeft") next = tabs[(index - 1 + tabs.length) % tabs.length];
    if (event.key === "Home") next = tabs[0];
    if (event.key === "End") next = tabs[tabs.length - 1];
    if (next) {
      event.preventDefault();
      showView(next.dataset.view, { focus: true });
    }
  });
}

// ------------------------------------------------------------------ session
/** The CRM link template: the gateway's --contact-url (in /api/me), else the default. */
function contactTemplateFor(me) {
  const configured = me.contact_url;
  return typeof configured === "string" && configured ? configured : DEFAULT_CONTACT_URL;
}

async function enter(me) {
  state.me = { ...me, extensions: (me.extensions ?? []).map(String) };
  setCsrfToken(me.csrf_token);
  state.contactTemplate = contactTemplateFor(me);
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("logout").hidden = false;
  renderUser();
  $("tab-board").hidden = !isSupervisor();
  journal.canExport = isSupervisor();
  dialer.configure(state.me);
  state.pushOpenedBefore = false;
  push.start();
  live.load().catch(() => {});
  if (isSupervisor()) board.load();
  let saved = "calls";
  try {
    saved = localStorage.getItem(VIEW_KEY) || "calls";
  } catch {
    saved = "calls";
  }
  showView(saved);
  refreshHealth();
  renderBanner();
}

function renderUser() {
  const info = $("user-info");
  if (!state.me) {
    info.hidden = true;
    return;
  }
  const role = t(`role.${state.me.role}`) === `role.${state.me.role}` ? state.me.role : t(`role.${state.me.role}`);
  let text = t("user.as", { username: state.me.username, role });
  if (state.me.extensions.length) text += ` · ${t("user.extensions", { extensions: state.me.extensions.join(", ") })}`;
  info.textContent = text;
  info.hidden = false;
}

function leave(messageKey = null) {
  push.stop();
  clearTimeout(state.healthTimer);
  state.me = null;
  setCsrfToken("");
  popups.clear();
  live.clear();
  board.clear();
  dialer.reset();
  $("app-view").hidden = true;
  $("logout").hidden = true;
  $("user-info").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = messageKey ? t(messageKey) : "";
  $("login-password").value = "";
  renderBanner();
  $("login-username").focus();
}

setUnauthorizedHandler(() => {
  if (state.me) leave("error.session");
});

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = $("login-username").value.trim();
  const password = $("login-password").value;
  const error = $("login-error");
  if (!username || !password) {
    error.textContent = t("login.failed");
    return;
  }
  $("login-submit").disabled = true;
  error.textContent = "";
  try {
    const login = await api.login(username, password);
    let me = login;
    try {
      me = { ...login, ...(await api.me()) };
    } catch {
      me = login;
    }
    $("login-password").value = "";
    await enter(me);
  } catch (failure) {
    if (failure.status === 401 || failure.status === 403) error.textContent = t("login.failed");
    else if (failure.status === 429) error.textContent = t("login.throttled", { seconds: failure.retryAfter ?? 60 });
    else error.textContent = t("login.error", { message: failure.message });
  } finally {
    $("login-submit").disabled = false;
  }
});

$("logout").addEventListener("click", async () => {
  try {
    await api.logout();
  } catch {
    // signed out locally all the same
  }
  leave();
});

// ------------------------------------------------------------------ language
const languageSelect = $("lang-select");
languageSelect.value = language();
languageSelect.addEventListener("change", () => setLanguage(languageSelect.value));
onLanguageChange(() => {
  languageSelect.value = language();
  applyLanguage();
});

function applyLanguage() {
  translatePage();
  document.title = t("app.title");
  renderUser();
  renderBanner();
  live.render();
  journal.rerender();
  board.render();
  dialer.rerender();
  popups.rerender();
}

// ------------------------------------------------------------------ start
setInterval(() => {
  live.tick();
  board.tick();
}, 1000);

async function boot() {
  applyLanguage();
  try {
    const me = await api.me();
    await enter(me);
  } catch {
    leave();
  }
  document.body.dataset.ready = "true";
}

boot();
