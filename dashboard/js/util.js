// Small DOM and formatting helpers shared by the views.
import { currentLang, t } from "./shell/i18n.js";

/** el("div.tile.live", {dataset: {id: 1}}, child, "text") */
export function el(spec, props, ...children) {
  const [head, ...classes] = spec.split(".");
  const [tag, id] = head.split("#");
  const node = document.createElement(tag || "div");
  if (id) node.id = id;
  if (classes.length) node.className = classes.join(" ");
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (k === "dataset") Object.assign(node.dataset, v);
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k in node) node[k] = v;
      else node.setAttribute(k, v);
    }
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

/** Call `fn` just after every wall-clock second (with the header clock):
 * per-second work of several parts of the page then shares one frame.
 * Returns a function that stops it. */
export function everySecond(fn) {
  let timer = 0;
  const next = () => { timer = setTimeout(() => { fn(); next(); }, 1000 - (Date.now() % 1000) + 5); };
  next();
  return () => clearTimeout(timer);
}

export function clear(node) { while (node.firstChild) node.firstChild.remove(); }

/** Set text only when it changed (cheap for 512 tiles ticking every second). */
export function setText(node, text) { if (node.textContent !== text) node.textContent = text; }

export function pad(n) { return n < 10 ? "0" + n : String(n); }

export function fmtDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
}

export function fmtAge(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return currentLang() === "zh" ? `${s} 秒` : `${s}s`;
  if (s < 3600) return currentLang() === "zh" ? `${Math.floor(s / 60)} 分钟` : `${Math.floor(s / 60)}m`;
  return currentLang() === "zh" ? `${Math.floor(s / 3600)} 小时` : `${Math.floor(s / 3600)}h`;
}

export function fmtTime(iso) {
  const d = new Date(iso);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDateTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// One collator for every sort: localeCompare(b, "zh") builds a new one per
// call, which costs whole milliseconds when 512 tiles are sorted.
export const zhCompare = new Intl.Collator("zh").compare;

export const STATE_ORDER = { stalled: 0, live: 1, scheduled: 2, offline: 3, idle: 4 };

export function stateLabel(state) { return t("st_" + state); }

export function alertLabel(alert) {
  const key = "al_" + alert.kind;
  const s = t(key);
  // An alert kind this page does not know yet: a generic word, never the hub's English.
  return s === key ? t("al_other") : s;
}

export function meetingTypeName(meeting) {
  if (!meeting) return "";
  return currentLang() === "en" ? (meeting.type_name_en || meeting.type) : (meeting.type_name || meeting.type);
}

/** Labels for org units in a picker: the name, and where two units of the list
 * share it (两个"第一党支部"), the parent's name after it, then the code. */
export function unitLabels(units, shown = units) {
  const byId = new Map(units.map((u) => [u.id, u]));
  const count = new Map();
  for (const u of shown) count.set(u.name, (count.get(u.name) || 0) + 1);
  const labels = new Map();
  for (const u of shown) {
    if (count.get(u.name) < 2) { labels.set(u.id, u.name); continue; }
    const parent = byId.get(u.parent_id);
    labels.set(u.id, `${u.name}（${parent ? parent.name : ""}${u.code ? (parent ? " · " : "") + u.code : ""}）`);
  }
  // still equal (same name under one parent, no code): the id tells them apart
  const seen = new Map();
  for (const label of labels.values()) seen.set(label, (seen.get(label) || 0) + 1);
  for (const [id, label] of labels) if (seen.get(label) > 1) labels.set(id, `${label} #${id}`);
  return labels;
}
