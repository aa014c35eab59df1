// The wall area on the shell: the wall (/wall), a branch's live view
// (/branch/:id), rotation (/rotation) and playback (/playback[/:id]). The
// views are kept alive between visits (the wall holds every tile), the live
// feed runs while an operator is signed in, and the wall's keyboard
// shortcuts act while one of these views is shown.
import { BranchView } from "../../branch.js";
import { feed } from "../../feed.js";
import { PlaybackView } from "../../playback.js";
import { RotationView } from "../../rotation.js";
import { lang, setLang, t } from "../../shell/i18n.js";
import { current, navigate } from "../../shell/router.js";
import { viewSection } from "../../shell/ui.js";
import { WallView } from "../../wall.js";

export const OPERATORS = ["county_admin", "township_operator", "viewer"];

const branch = new BranchView(viewSection("branch"));
const rotation = new RotationView(viewSection("rotation"));
const playback = new PlaybackView(viewSection("playback"));
let wall = null;
let signedIn = false;

export const routes = [
  { path: "/wall", title: "nav_wall", nav: "wall", keep: "wall", roles: OPERATORS,
    render: () => {} },  // built at sign-in (below), kept between visits
  { path: "/branch/:id", title: "live_view", keep: "branch", roles: OPERATORS, relang: true,
    render: (_el, p) => { branch.open(Number(p.id)); return () => branch.close(); } },
  { path: "/rotation", title: "nav_rotation", nav: "rotation", keep: "rotation", roles: OPERATORS, relang: true,
    render: () => { rotation.open(); return () => rotation.close(); } },
  { path: "/playback", title: "nav_playback", nav: "playback", keep: "playback", roles: OPERATORS, relang: true,
    render: () => { playback.open(null); return () => playback.close(); } },
  { path: "/playback/:id", title: "nav_playback", nav: "playback", keep: "playback", roles: OPERATORS, relang: true,
    render: (_el, p) => { playback.open(p.id); return () => playback.close(); } },
];

export function onSignIn(ctx) {
  if (!OPERATORS.includes(ctx.me.role)) return;
  signedIn = true;
  // Before the feed starts: the wall takes the first full snapshot, whichever page the operator opens first.
  if (!wall) wall = new WallView(viewSection("wall"));
  feed.onAuthLost = () => ctx.sessionLost();
  feed.start();
}

export function onSignOut() {
  signedIn = false;
  feed.stop();
  toggleHelp(false);
  document.getElementById("feed-banner").hidden = true;
  document.body.classList.remove("feed-down");
}

feed.onStatus((up, attempt) => {
  const banner = document.getElementById("feed-banner");
  const down = signedIn && !up && feed.everUp;
  banner.hidden = !down;
  document.body.classList.toggle("feed-down", down);
  if (down) banner.textContent = t("feed_down", { n: attempt });
});

function toggleHelp(force) {
  const help = document.getElementById("help");
  help.hidden = force === undefined ? !help.hidden : !force;
}

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

/** Which of the wall's views is shown ("wall", "branch", "rotation", "playback"), or null. */
function view() {
  const cur = current();
  return signedIn && cur && ["wall", "branch", "rotation", "playback"].includes(cur.route.keep) ? cur.route.keep : null;
}

document.addEventListener("keydown", (ev) => {
  const v = view();
  if (!v) return;
  if (ev.key === "Escape") {
    if (!document.getElementById("help").hidden) { toggleHelp(false); return; }
    if (typing(ev.target)) { ev.target.blur(); return; }
    if (v === "playback" && playback.meetingId) navigate("/playback");
    else if (v !== "wall") navigate("/wall");
    return;
  }
  if (typing(ev.target) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (ev.key === " " && v === "branch") { ev.preventDefault(); if (!ev.repeat) branch.setTalking(true); return; }
  if (ev.key === "/") { ev.preventDefault(); if (v !== "wall") navigate("/wall"); wall?.focusSearch(); }
  else if (ev.key === "r") navigate(v === "rotation" ? "/wall" : "/rotation");
  else if (ev.key === "p" && v === "rotation") rotation.togglePause();
  else if (ev.key === "ArrowRight" && v === "rotation") rotation.step(1);
  else if (ev.key === "ArrowLeft" && v === "rotation") rotation.step(-1);
  else if (ev.key === "?") toggleHelp();
  else if (ev.key === "l") setLang(lang() === "zh" ? "en" : "zh");
});
document.addEventListener("keyup", (ev) => {
  if (ev.key === " " && view() === "branch") { ev.preventDefault(); branch.setTalking(false); }
});
window.addEventListener("blur", () => branch.setTalking(false));
document.getElementById("help-close").addEventListener("click", () => toggleHelp(false));
document.getElementById("help-btn").addEventListener("click", () => toggleHelp(true));  // no inline handlers: the CSP forbids them

// Exposed for the bench and tests: what the page received from the hub.
window.branchlive = { feed, views: { branch, rotation, playback } };
