// One wall tile: built once per branch, then patched in place.
import { t } from "./shell/i18n.js";
import { alertLabel, el, fmtAge, fmtDateTime, fmtDuration, fmtTime, meetingTypeName, setText, stateLabel } from "./util.js";

export const DEFAULT_THUMB_PERIOD = 5;   // s; the edge's default (devices/media/config.py)
export const STALE_PERIODS = 3;

export function thumbUrl(branchId, at) {
  return `/api/v1/branches/${branchId}/thumbnail.jpg?t=${encodeURIComponent(at)}`;
}

// 实到 / 应到 · 请假 · 法定人数: the hub's numbers (hub/attendance/summary.py),
// the same the hall's kiosk shows; one text for the tile and the branch view.
export function attendanceText(tile) {
  const q = tile.quorum;
  let text = `${t("present")} ${tile.checked_in} / ${t("expected")} ${tile.expected ?? tile.roster}`;
  if (tile.on_leave) text += ` · ${t("on_leave")} ${tile.on_leave}`;
  if (q && q.rule !== "none") text += ` · ${t("quorum")} ${q.present}/${q.required} ${q.met ? t("quorum_yes") : t("quorum_no")}`;
  return text;
}

// The dense tile's one line: "5/6 ✓" (实到/应到, quorum mark; the legend says so),
// or the state and the planned time when no meeting is open.
export function shortText(tile) {
  if (tile.meeting) {
    const q = tile.quorum;
    const mark = q && q.rule !== "none" ? (q.met ? " ✓" : " ✗") : "";
    return `${tile.checked_in}/${tile.expected ?? tile.roster}${mark}`;
  }
  if (tile.next_meeting) return `${stateLabel(tile.state)} ${fmtTime(tile.next_meeting.scheduled_start).slice(0, 5)}`;
  return stateLabel(tile.state);
}

function thumbImg() {
  const img = el("img", { alt: "", decoding: "async", draggable: false });
  img.addEventListener("error", () => img.classList.add("broken"));
  img.addEventListener("load", () => img.classList.remove("broken"));
  return img;
}

export function buildTile(branchId) {
  const img = thumbImg();
  const r = {
    img,
    badge: el("span.badge"),
    stale: el("span.stale-label"),
    none: el("span.no-thumb"),
    name: el("div.name"),
    town: el("span.town"),
    meet: el("div.meet"),
    dur: el("span.dur"),
    ci: el("span.ci"),
    short: el("span.short"),
    alerts: el("div.alerts"),
  };
  const node = el("a.tile", { href: `#/branch/${branchId}`, dataset: { id: branchId } },
    el("div.thumb", null, img, r.none, r.badge, r.stale),
    el("div.info", null,
      el("div.line1", null, r.name, r.short),
      el("div.line2", null, r.town, r.dur),
      r.meet,
      el("div.line3", null, r.ci),
      r.alerts));
  node._r = r;
  node._thumb = { at: null, shown: null, fetchedAt: 0, period: DEFAULT_THUMB_PERIOD };
  node._tile = null;
  return node;
}

/** The state colour, badge and alert frame: applied to every tile at once,
 * on screen or not, so that group headers always count what the tiles say. */
export function patchState(node, tile) {
  const lang = document.documentElement.lang;
  if (node.dataset.state !== tile.state || node._lang !== lang) {
    node._lang = lang;
    node.className = `tile st-${tile.state}` + (node._stale ? " stale" : "") + (tile.alerts.length ? " alerting" : "");
    node.dataset.state = tile.state;
    setText(node._r.badge, stateLabel(tile.state));
  }
  node.classList.toggle("alerting", tile.alerts.length > 0);
}

/** Patch a tile element with new data; `visible` decides whether to fetch the picture now. */
export function patchTile(node, tile, visible) {
  const r = node._r;
  const prev = node._tile;
  node._tile = tile;
  patchState(node, tile);
  // Most updates only bring a new picture time (every 5 s per hall) or a
  // heartbeat: the texts are rewritten only when what they show changed.
  const m = tile.meeting;
  const q = tile.quorum;
  const textKey = [document.documentElement.lang, tile.state, tile.name, tile.township, m && m.id, m && m.topic,
    tile.checked_in, tile.expected, tile.roster, tile.on_leave, q && q.met, q && q.present, q && q.required,
    tile.next_meeting && tile.next_meeting.scheduled_start, tile.alerts.map((a) => a.kind).join(",")].join("|");
  if (node._textKey !== textKey) {
    node._textKey = textKey;
    patchTexts(node, tile, prev);
  }
  const th = node._thumb;
  if (tile.thumbnail_at !== th.at) {
    if (th.at != null && tile.thumbnail_at != null && tile.thumbnail_at > th.at) {
      // Learn the hall's picture period so "stale" means three missed pictures.
      th.period = Math.min(60, Math.max(DEFAULT_THUMB_PERIOD, tile.thumbnail_at - th.at));
    }
    th.at = tile.thumbnail_at;
  }
  if (visible) loadThumb(node);
  setText(r.none, th.at == null ? t("thumb_none") : "");
}

function patchTexts(node, tile, prev) {
  const r = node._r;
  setText(r.short, shortText(tile));
  setText(r.name, tile.name);
  r.name.title = tile.name;
  setText(r.town, tile.township || "");
  const m = tile.meeting;
  if (m) {
    setText(r.meet, `${meetingTypeName(m)}${m.topic ? " · " + m.topic : ""}`);
    r.meet.title = m.topic || "";
  } else if (tile.next_meeting) {
    setText(r.meet, t("next_meeting", { time: fmtDateTime(tile.next_meeting.scheduled_start) }));
  } else {
    setText(r.meet, t("no_meeting"));
  }
  if (m) {
    const q = tile.quorum;
    const mark = q && q.rule !== "none" ? (q.met ? " ✓" : " ✗") : "";
    setText(r.ci, attendanceText(tile) + mark);
    r.ci.className = "ci" + (q && q.rule !== "none" ? (q.met ? " q-met" : " q-not") : "");
    r.ci.title = q && q.rule !== "none" ? `${q.met ? t("quorum_met") : t("quorum_not")} (${q.present}/${q.required})` : "";
  } else {
    setText(r.ci, `${t("roster")} ${tile.roster}`);
    r.ci.className = "ci";
  }
  const alertKey = tile.alerts.map((a) => a.kind).join(",");
  if (!prev || alertKey !== prev.alerts.map((a) => a.kind).join(",") || r.alerts.dataset.lang !== document.documentElement.lang) {
    r.alerts.replaceChildren(...tile.alerts.map((a) => el("span.alert", { title: a.message, dataset: { kind: a.kind } }, alertLabel(a))));
    r.alerts.dataset.lang = document.documentElement.lang;
  }
}

// How often a tile's picture may be fetched again: 0 = at every new picture,
// null = not at all (dense tiles too small for one). The dense wall shows
// 512 pictures; refetching each every 5 s would keep the page busy decoding.
// Staleness is judged from the picture's timestamp, not from the fetch.
let thumbGapMs = 0;
export function setThumbGap(ms) { thumbGapMs = ms; }

export function loadThumb(node) {
  const th = node._thumb;
  if (thumbGapMs === null || th.at == null || th.shown === th.at) return;
  const now = performance.now();
  if (th.shown != null && now - th.fetchedAt < thumbGapMs) return;
  th.shown = th.at;
  th.fetchedAt = now;
  // The picture is fetched off the page and swapped in with the others that
  // have arrived, in one frame: an <img> loading in place costs a frame of
  // the whole wall each. (Not img.decode(): Chromium asks the compositor for
  // the decode, a frame per picture; decoding="async" decodes at raster,
  // off the main thread.)
  const img = thumbImg();
  const at = th.at;
  img.addEventListener("load", () => swapThumb(node, img, at), { once: true });
  img.addEventListener("error", () => { if (node._thumb.shown === at) node._r.img.classList.add("broken"); }, { once: true });
  img.src = thumbUrl(node.dataset.id, at);
}

const swaps = new Map();   // tile element -> decoded <img> waiting to be shown
let swapFrame = 0;
let holdSwaps = false;

/** Hold decoded pictures until flushThumbs() (the dense wall swaps them at
 * its per-second frame), or show each batch at the next frame. */
export function setThumbHold(hold) {
  holdSwaps = hold;
  if (!hold && swaps.size && !swapFrame) swapFrame = requestAnimationFrame(flushThumbs);
}

/** Put the decoded pictures in place of the old ones. */
export function flushThumbs() {
  if (swapFrame) { cancelAnimationFrame(swapFrame); swapFrame = 0; }
  for (const [node, fresh] of swaps) { node._r.img.replaceWith(fresh); node._r.img = fresh; }
  swaps.clear();
}

function swapThumb(node, img, at) {
  if (node._thumb.shown !== at) return;   // a newer picture is on its way
  swaps.set(node, img);
  if (!holdSwaps && !swapFrame) swapFrame = requestAnimationFrame(flushThumbs);
}

/** Per-second work: duration (not drawn on dense tiles) and picture age. `hubNow` in epoch seconds. */
export function tickTile(node, hubNow, feedUp, dense = false) {
  const tile = node._tile;
  if (!tile) return;
  const r = node._r;
  const m = tile.meeting;
  if (!dense) setText(r.dur, m && m.started_at ? fmtDuration(hubNow - Date.parse(m.started_at) / 1000) : "");
  const th = node._thumb;
  const age = th.at == null ? null : hubNow - th.at;
  const stale = !feedUp || (age != null && age > STALE_PERIODS * th.period);
  if (node._stale !== stale) {
    node._stale = stale;
    node.classList.toggle("stale", stale);
  }
  setText(r.stale, stale && age != null ? t("thumb_stale", { age: fmtAge(age) }) : "");
}
