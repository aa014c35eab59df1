// Helpers of the supervision pages, on the shell: the one API client, the
// one i18n (keys of i18n/supervision.js start with "sv."), the shared
// element builder and toasts. Errors show the Chinese text of their code.
import { api, qs } from "../../shell/api.js";
import { errorText, has, lang, t as shellT } from "../../shell/i18n.js";
import { checkRequired, confirmDialog, fieldError, formData, formField, h, promptDialog, show, toast } from "../../shell/ui.js";
import { unitLabels } from "../../util.js";

export { api, has, checkRequired, confirmDialog, fieldError, formData, h, promptDialog, qs };
export const getLang = lang;

/** t("status") looks up "sv.status" first, then the shared key. */
export function t(key, vars) { return has(`sv.${key}`) ? shellT(`sv.${key}`, vars) : shellT(key, vars); }

export const download = (url, name) => api.download(url, name);

export function table(columns, rows, { empty } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty || t("no_data"));
  return h("table", { class: "grid" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : "" }, t(c.label))))),
    h("tbody", {}, rows.map((r) => h("tr", { class: r._class || "" },
      columns.map((c) => h("td", { class: c.num ? "num" : "" }, c.render ? c.render(r) : fmt(r[c.key])))))));
}

export function fmt(v) {
  if (typeof v === "string" && /^\d{4}-\d\d-\d\dT/.test(v)) return new Date(v).toLocaleString(lang() === "zh" ? "zh-CN" : "en-GB", { hour12: false });
  return show(v);
}
export const pct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);
export const isoDay = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
export const today = () => isoDay(new Date());
export const daysAgo = (n) => isoDay(new Date(Date.now() - n * 86400000));

export function flash(message, kind = "ok") { toast(message, kind); }
/** An API failure as a toast, in the words of its code (never the hub's English detail in zh-CN). */
export function failed(err) { console.error(err); toast(errorText(err), "error"); }

export function field(label, input, opts) { return formField(has(`sv.${label}`) ? `sv.${label}` : label, input, opts); }
export function input(name, attrs = {}) { return h("input", { name, ...attrs }); }
export function select(name, options, attrs = {}) {
  return h("select", { name, ...attrs }, options.map(([v, l]) => h("option", { value: v }, l)));
}

// The operator's area of the tree, for unit pickers (cached per sign-in).
let unitsCache;
export function forgetUnits() { unitsCache = undefined; }
export async function units() {
  if (!unitsCache) unitsCache = api.get("/api/v1/org-units").catch((err) => { unitsCache = undefined; throw err; });
  return unitsCache;
}
export async function unitPicker(name = "unit_id", { kinds = ["county", "township", "branch"], blank = true } = {}) {
  const all = await units();
  const list = all.filter((u) => kinds.includes(u.kind));
  const labels = unitLabels(all, list);
  const depth = (u) => u.path.split("/").filter(Boolean).length;
  const opts = list.map((u) => [u.id, `${"\u3000".repeat(Math.max(0, depth(u) - 1))}${labels.get(u.id)}`]);
  return select(name, blank ? [["", t("my_area")], ...opts] : opts);
}
export const STATUS_CLASS = { held_ok: "ok", no_quorum: "warn", not_recorded: "bad", not_held: "bad", due: "muted" };

/** el.replaceChildren(...) that skips empty children: DOM would write null as the text "null". */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false && c !== ""));
}
