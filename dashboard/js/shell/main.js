// The dashboard's one page: sign-in, navigation by role, the router, the
// language switch. Areas plug in through dashboard/js/pages/<area>/index.js:
// `routes` (see router.js), and optionally `onSignIn(ctx)` / `onSignOut()`.
import * as admin from "../pages/admin/index.js";
import * as branch from "../pages/branch/index.js";
import * as supervision from "../pages/supervision/index.js";
import * as wall from "../pages/wall/index.js";
import { api, onUnauthorized } from "./api.js";
import { applyStatic, errorText, lang, onLangChange, setLang, t } from "./i18n.js";
import * as router from "./router.js";
import * as session from "./session.js";
import { confirmDialog, h, toast, viewSection } from "./ui.js";

const AREAS = [wall, supervision, admin, branch];
// Top navigation, in this order; each entry opens the first route of its group the user may see.
const NAV = ["wall", "rotation", "playback", "supervision", "admin", "my"];
const $ = (id) => document.getElementById(id);

router.setRoutes(AREAS.flatMap((a) => a.routes || []));

const ctx = {
  me: null, api, t, errorText, toast, confirmDialog,
  navigate: (path, opts) => router.navigate(path, opts),
  signOut: () => session.signOut(),
  sessionLost: () => session.sessionLost(),
  onRoute: (route) => buildSubnav(route),
};
router.setContext(ctx);

function listed(route) { return route.nav && !route.names.length && router.allowed(route, ctx.me); }

function buildNav() {
  const nav = $("nav");
  const links = [];
  for (const group of NAV) {
    const first = router.allRoutes().find((r) => r.nav === group && listed(r));
    if (first) links.push(h("a", { href: `#${first.path}`, dataset: { view: group, i18n: `nav_${group}` } }, t(`nav_${group}`)));
  }
  nav.replaceChildren(...links);
}

function buildSubnav(route) {
  const sub = $("subnav");
  const items = route && route.nav ? router.allRoutes().filter((r) => r.nav === route.nav && listed(r)) : [];
  sub.hidden = items.length < 2;
  sub.replaceChildren(...(items.length < 2 ? [] : items.map((r) => h("a", {
    href: `#${r.path}`, dataset: { path: r.path, i18n: r.title }, class: r.path === route.path ? "on" : "",
  }, t(r.title)))));
}

async function signedIn(me) {
  ctx.me = me;
  document.body.classList.remove("signed-out");
  $("topbar").hidden = false;
  $("view-login").hidden = true;
  $("operator").textContent = `${me.display_name || me.username} · ${me.scope_name || ""}`;
  buildNav();
  for (const area of AREAS) {
    try { await area.onSignIn?.(ctx); } catch (err) { console.error(err); }
  }
  applyStatic(document);
  router.reset();
  const [path] = router.location_();
  if (!router.match(path) || path === "/") router.navigate(router.defaultPath(me), { replace: true });
  else router.dispatch(true);
}

function signedOut() {
  ctx.me = null;
  router.reset();
  for (const area of AREAS) {
    try { area.onSignOut?.(); } catch (err) { console.error(err); }
  }
  document.body.classList.add("signed-out");
  $("topbar").hidden = true;
  $("subnav").hidden = true;
  for (const s of document.querySelectorAll("main > .view")) s.hidden = true;
  $("view-login").hidden = false;
  document.body.dataset.view = "login";
}

onUnauthorized(() => session.sessionLost());
session.start({ signedIn, signedOut });

$("logout").addEventListener("click", () => session.signOut());
$("lang").addEventListener("click", () => setLang(lang() === "zh" ? "en" : "zh"));
onLangChange(() => {
  if (!ctx.me) return;
  buildNav();
  const cur = router.current();
  buildSubnav(cur && cur.route);
  // Pages built with t() are rendered again; kept views (the wall) follow the change themselves.
  if (cur && !cur.route.keep) router.dispatch(true);
  else if (cur && cur.route.relang) router.dispatch(true);
});

viewSection("page");
applyStatic(document);
session.resume();
