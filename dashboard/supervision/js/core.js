// Shared helpers of the supervision pages: API calls, element builder,
// i18n (Chinese first, English on switch), tables, messages.
import { DICT } from "./dict.js";

let lang = localStorage.getItem("bl.lang") || "zh";
export const getLang = () => lang;
export function setLang(l) { lang = l; localStorage.setItem("bl.lang", l); document.documentElement.lang = l === "zh" ? "zh-CN" : "en"; }
export function t(key) { const e = DICT[key]; return e ? (lang === "zh" ? e[0] : e[1]) : key; }

export class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; this.detail = detail; }
}

export async function call(method, url, body, isForm = false) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    if (isForm) init.body = body;
    else { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  }
  let res;
  try { res = await fetch(url, init); } catch (err) { throw new ApiError(0, t("network_down")); }
  if (res.status === 204) return null;
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    if (res.status === 401) throw new ApiError(401, t("sign_in_first"));
    const detail = data && typeof data === "object" ? (data.detail || data.title) : String(data || res.status);
    throw new ApiError(res.status, detail);
  }
  return data;
}
export const api = {
  get: (u) => call("GET", u), post: (u, b) => call("POST", u, b ?? {}), put: (u, b) => call("PUT", u, b),
  patch: (u, b) => call("PATCH", u, b), del: (u) => call("DELETE", u), form: (u, fd) => call("POST", u, fd, true),
};

export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => p.append(k, x)); else p.append(k, v);
  }
  const s = p.toString();
  return s ? `?${s}` : "";
}

// Downloads go through fetch so errors show as messages, not as a JSON page.
export async function download(url, fallbackName) {
  const res = await fetch(url, { credentials: "same-origin" });
  if (!res.ok) {
    const data = await res.json().catch(() => ({}));
    throw new ApiError(res.status, data.detail || `HTTP ${res.status}`);
  }
  const blob = await res.blob();
  const cd = res.headers.get("content-disposition") || "";
  const m = /filename\*=UTF-8''([^;]+)/.exec(cd);
  const a = h("a", { href: URL.createObjectURL(blob), download: m ? decodeURIComponent(m[1]) : fallbackName });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export function table(columns, rows, { empty } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty || t("no_data"));
  return h("table", { class: "grid" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : "" }, t(c.label))))),
    h("tbody", {}, rows.map((r) => h("tr", { class: r._class || "" },
      columns.map((c) => h("td", { class: c.num ? "num" : "" }, c.render ? c.render(r) : fmt(r[c.key])))))));
}

export function fmt(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(2);
  if (typeof v === "string" && /^\d{4}-\d\d-\d\dT/.test(v)) return new Date(v).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { hour12: false });
  return String(v);
}
export const pct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);
export const isoDay = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
export const today = () => isoDay(new Date());
export const daysAgo = (n) => isoDay(new Date(Date.now() - n * 86400000));

let toastTimer;
export function flash(message, kind = "ok") {
  const el = document.getElementById("flash");
  el.textContent = message; el.className = `flash ${kind}`; el.hidden = false;
  clearTimeout(toastTimer); toastTimer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 9000 : 3500);
}
export function failed(err) { flash(err.detail || String(err), "error"); if (err.status === 401) showSignIn(); }
function showSignIn() { document.getElementById("signin").hidden = false; }

export function field(label, input) { return h("label", { class: "field" }, h("span", {}, t(label)), input); }
export function input(name, attrs = {}) { return h("input", { name, ...attrs }); }
export function select(name, options, attrs = {}) {
  return h("select", { name, ...attrs }, options.map(([v, l]) => h("option", { value: v }, l)));
}
export function formData(form) { return Object.fromEntries(new FormData(form).entries()); }

// The operator's area of the tree, for unit pickers.
let unitsCache;
export async function units() {
  if (!unitsCache) unitsCache = await api.get("/api/v1/org-units");
  return unitsCache;
}
export async function unitPicker(name = "unit_id", { kinds = ["county", "township", "branch"], blank = true } = {}) {
  const list = (await units()).filter((u) => kinds.includes(u.kind));
  const depth = (u) => u.path.split("/").filter(Boolean).length;
  const opts = list.map((u) => [u.id, `${"\u3000".repeat(Math.max(0, depth(u) - 1))}${u.name}`]);
  return select(name, blank ? [["", t("my_area")], ...opts] : opts);
}
export const STATUS_CLASS = { held_ok: "ok", no_quorum: "warn", not_recorded: "warn", not_held: "bad", due: "muted" };
