// Entry point: sign-in, the hash router between the views, the socket
// banner and the operator's keyboard shortcuts.
import { api, ApiError } from "./api.js";
import { BranchView } from "./branch.js";
import { feed } from "./feed.js";
import { applyStatic, currentLang, onLangChange, setLang, t } from "./i18n.js";
import { PlaybackView } from "./playback.js";
import { RotationView } from "./rotation.js";
import { WallView } from "./wall.js";

const $ = (id) => document.getElementById(id);
const views = { login: $("view-login"), wall: $("view-wall"), branch: $("view-branch"), rotation: $("view-rotation"), playback: $("view-playback") };
let operator = null;
let wall = null;
const branch = new BranchView(views.branch);
const rotation = new RotationView(views.rotation);
const playback = new PlaybackView(views.playback);
let current = null;
let lastRoute = "";

function show(name) {
  for (const [k, node] of Object.entries(views)) node.hidden = k !== name;
  document.body.dataset.view = name;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("on", a.dataset.view === name);
  $("topbar").hidden = name === "login";
}

function route() {
  const hash = location.hash || "#/wall";
  if (!operator) { show("login"); return; }
  if (hash === lastRoute) return;
  lastRoute = hash;
  const [, name, arg] = hash.split("/");
  if (current === "branch") branch.close();
  if (current === "rotation") rotation.close();
  if (current === "playback") playback.close();
  current = name;
  if (name === "branch" && arg) { show("branch"); branch.open(Number(arg)); }
  else if (name === "rotation") { show("rotation"); rotation.open(); }
  else if (name === "playback") { show("playback"); playback.open(arg ? decodeURIComponent(arg) : null); }
  else { current = "wall"; show("wall"); }
}

async function signedIn(op) {
  if (op.must_change_password) {
    // A generated or reset password: the hub answers nothing else until it is changed.
    operator = null;
    show("login");
    $("login-form").hidden = true;
    $("pw-form").hidden = false;
    $("pw-current").focus();
    return;
  }
  $("login-form").hidden = false;
  $("pw-form").hidden = true;
  operator = op;
  $("operator").textContent = `${op.display_name || op.username} · ${op.scope_name}`;
  if (!wall) wall = new WallView(views.wall);
  applyStatic(document);
  feed.start();
  lastRoute = "";
  route();
}

function signedOut() {
  operator = null;
  lastRoute = "";
  feed.stop();
  show("login");
  $("login-user").focus();
}

feed.onAuthLost = signedOut;

feed.onStatus((up, attempt) => {
  const banner = $("feed-banner");
  const down = !up && feed.everUp;
  banner.hidden = !down;
  document.body.classList.toggle("feed-down", down);
  if (down) banner.textContent = t("feed_down", { n: attempt });
});

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const msg = $("login-msg");
  msg.textContent = "";
  try {
    const res = await api.post("/api/v1/auth/login", { username: $("login-user").value.trim(), password: $("login-pass").value });
    $("login-pass").value = "";
    if (!location.hash || location.hash === "#/login") location.hash = "#/wall";
    await signedIn(res.operator);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) msg.textContent = t("login_bad");
    else if (err instanceof ApiError && err.status === 429) msg.textContent = t("login_limited");
    else msg.textContent = t("login_failed", { detail: err.detail || String(err) });
  }
});

$("pw-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const msg = $("pw-msg");
  msg.textContent = "";
  try {
    await api.post("/api/v1/auth/password", { current_password: $("pw-current").value, new_password: $("pw-new").value });
    $("pw-current").value = "";
    $("pw-new").value = "";
    if (!location.hash || location.hash === "#/login") location.hash = "#/wall";
    await signedIn(await api.get("/api/v1/auth/me"));
  } catch (err) {
    if (err instanceof ApiError && err.body && err.body.code === "wrong_password") msg.textContent = t("pw_wrong");
    else msg.textContent = t("pw_failed", { detail: err.detail || String(err) });
  }
});

$("logout").addEventListener("click", async () => {
  try { await api.post("/api/v1/auth/logout"); } catch { /* gone anyway */ }
  signedOut();
});

$("lang").addEventListener("click", () => setLang(currentLang() === "zh" ? "en" : "zh"));
onLangChange(() => {
  // Views built with t() are rebuilt by routing again.
  const again = lastRoute;
  lastRoute = "";
  if (operator && again && !again.startsWith("#/wall")) { if (current === "branch") branch.close(); if (current === "rotation") rotation.close(); if (current === "playback") playback.close(); current = null; }
  route();
});

function toggleHelp(force) {
  const help = $("help");
  help.hidden = force === undefined ? !help.hidden : !force;
}

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

document.addEventListener("keydown", (ev) => {
  if (!operator) return;
  if (ev.key === "Escape") {
    if (!$("help").hidden) { toggleHelp(false); return; }
    if (typing(ev.target)) { ev.target.blur(); return; }
    if (current === "playback" && playback.meetingId) location.hash = "#/playback";
    else if (current !== "wall") location.hash = "#/wall";
    return;
  }
  if (typing(ev.target) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (ev.key === " " && current === "branch") { ev.preventDefault(); if (!ev.repeat) branch.setTalking(true); return; }
  if (ev.key === "/") { ev.preventDefault(); if (current !== "wall") location.hash = "#/wall"; wall.focusSearch(); }
  else if (ev.key === "r") location.hash = current === "rotation" ? "#/wall" : "#/rotation";
  else if (ev.key === "p" && current === "rotation") rotation.togglePause();
  else if (ev.key === "ArrowRight" && current === "rotation") rotation.step(1);
  else if (ev.key === "ArrowLeft" && current === "rotation") rotation.step(-1);
  else if (ev.key === "?") toggleHelp();
  else if (ev.key === "l") setLang(currentLang() === "zh" ? "en" : "zh");
});
document.addEventListener("keyup", (ev) => {
  if (ev.key === " " && current === "branch") { ev.preventDefault(); branch.setTalking(false); }
});
window.addEventListener("blur", () => branch.setTalking(false));
window.addEventListener("hashchange", route);
$("help-close").addEventListener("click", () => toggleHelp(false));
$("help-btn").addEventListener("click", () => toggleHelp(true));  // no inline handlers: the CSP forbids them

async function boot() {
  applyStatic(document);
  try {
    await signedIn(await api.get("/api/v1/auth/me"));
  } catch {
    signedOut();
  }
}

// Exposed for the bench and tests: what the page received from the hub.
window.branchlive = { feed, views: { branch, rotation, playback } };
boot();
