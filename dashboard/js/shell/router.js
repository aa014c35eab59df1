// Hash routes ("#/supervision/plans?x=1"). Each area exports its routes from
// dashboard/js/pages/<area>/index.js:
//   {path: "/admin/orgs", title: "admin.orgs", roles: [...], nav: "admin",
//    keep?: "wall", render: async (el, params, ctx) => cleanup?}
// A route renders into the shared page section (#view-page), emptied on each
// visit, or, with `keep: NAME`, into its own section #view-NAME that survives
// navigation (the wall keeps its 512 tiles). `render` may return a function
// that the router calls when the route is left. Other optional fields:
// `home: ["branch_secretary"]` makes the route the landing page of those roles
// (otherwise /wall, else the first route the role may open); `relang: true`
// renders a kept route again when the language changes.
import { applyStatic, t } from "./i18n.js";
import { h, viewSection } from "./ui.js";

let routes = [];
let ctx = null;
let active = null;       // {route, params, path, cleanup}
let lastHash = null;
let generation = 0;

function compile(route) {
  const names = [];
  const pattern = route.path.replace(/:(\w+)/g, (_, n) => { names.push(n); return "([^/]+)"; });
  return { ...route, re: new RegExp(`^${pattern}/?$`), names };
}

export function setRoutes(list) { routes = list.map(compile); }
export function allRoutes() { return routes; }
export function setContext(c) { ctx = c; }
export function current() { return active; }

/** Whether a signed-in user with this role may open the route. */
export function allowed(route, me) { return !!me && (!route.roles || route.roles.includes(me.role)); }

export function match(path) {
  for (const route of routes) {
    const m = route.re.exec(path);
    if (m) return { route, params: Object.fromEntries(route.names.map((n, i) => [n, decodeURIComponent(m[i + 1])])) };
  }
  return null;
}

/** The path and query of the current hash: "#/a/b?x=1" -> ["/a/b", URLSearchParams]. */
export function location_() {
  const raw = (location.hash || "").replace(/^#/, "");
  const [path, query] = raw.split("?");
  return [path || "/", new URLSearchParams(query || "")];
}

export function navigate(path, { replace = false } = {}) {
  const hash = `#${path}`;
  if (replace) history.replaceState(null, "", hash);
  else if (location.hash !== hash) { location.hash = hash; return; }
  dispatch(true);
}

/** The first route a user lands on: the wall for operators, /my/... for branch secretaries. */
export function defaultPath(me) {
  const open = routes.filter((r) => allowed(r, me) && !r.names.length);
  const preferred = open.find((r) => r.home && r.home.includes(me.role)) || open.find((r) => r.path === "/wall") || open[0];
  return preferred ? preferred.path : "/wall";
}

function leave() {
  if (active && active.cleanup) {
    try { active.cleanup(); } catch (err) { console.error(err); }
  }
  if (active && !active.route.keep) viewSection("page").replaceChildren();
  active = null;
}

function showSection(el) {
  for (const s of document.querySelectorAll("main > .view")) s.hidden = s !== el;
}

/** Render the route of the current hash (again when force). */
export async function dispatch(force = false) {
  if (!ctx || !ctx.me) return;
  const hash = location.hash;
  if (!force && hash === lastHash) return;
  lastHash = hash;
  const [path, query] = location_();
  const found = match(path);
  if (!found) { navigate(defaultPath(ctx.me), { replace: true }); return; }
  const { route, params } = found;
  const my = ++generation;
  leave();
  const el = route.keep ? viewSection(route.keep) : viewSection("page");
  if (!route.keep) { el.replaceChildren(); el.className = "view page"; }
  showSection(el);
  document.body.dataset.view = route.keep || (route.nav || "page");
  for (const a of document.querySelectorAll("#topbar nav a")) a.classList.toggle("on", a.dataset.view === route.nav);
  for (const a of document.querySelectorAll("#subnav a")) a.classList.toggle("on", a.dataset.path === route.path);
  ctx.onRoute?.(route);
  if (route.title) document.title = `${t(route.title)} · ${t("app_title")}`;
  else document.title = t("app_title");
  active = { route, params, path, query, cleanup: null };
  if (!allowed(route, ctx.me)) {
    el.append(h("p", { class: "page-msg error" }, t("no_permission")));
    return;
  }
  try {
    const cleanup = await route.render(el, { ...params, query }, ctx);
    applyStatic(el);  // views that mark their texts with data-i18n (the wall's bar) get them filled
    if (my === generation && active) active.cleanup = typeof cleanup === "function" ? cleanup : null;
    else if (typeof cleanup === "function") cleanup();
  } catch (err) {
    console.error(err);
    if (my === generation) el.append(h("p", { class: "page-msg error", role: "alert" }, ctx.errorText(err)));
  }
}

/** Forget the rendered route (sign-out): the next dispatch renders again. */
export function reset() { leave(); lastHash = null; }

window.addEventListener("hashchange", () => dispatch());
