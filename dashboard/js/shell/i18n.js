// The one i18n of the dashboard. Each area keeps its own dictionary
// (dashboard/js/i18n/<area>.js: `export default { key: ["中文", "English"] }`);
// error texts are looked up by the hub's problem-details `code`, never shown
// from the English `detail` in the Chinese UI.
import admin from "../i18n/admin.js";
import branch from "../i18n/branch.js";
import common from "../i18n/common.js";
import errors from "../i18n/errors.js";
import supervision from "../i18n/supervision.js";
import wall from "../i18n/wall.js";

const KEY = "bl.lang";
const DICT = Object.assign({}, wall, supervision, admin, branch, common);
const ERRORS = errors;

let current = localStorage.getItem(KEY) === "en" ? "en" : "zh";
const listeners = new Set();

export function lang() { return current; }
export const currentLang = lang;  // the wall's older name

function pick(entry) { return current === "en" ? (entry[1] ?? entry[0]) : entry[0]; }
function fill(s, vars) { return vars ? s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? "")) : s; }

/** The text for `key` in the current language; `{name}` placeholders filled from `vars`. */
export function t(key, vars) {
  const entry = DICT[key];
  return fill(entry ? pick(entry) : key, vars);
}

/** Whether a key exists (pages use this for statuses or codes that may be unknown). */
export function has(key) { return key in DICT; }

/** The text for an error: by its `code` (ApiError), else by HTTP status, else a
 * generic sentence naming the code. In zh-CN the hub's English detail is never shown. */
export function errorText(err) {
  if (!err) return "";
  const code = err.code || (err.body && err.body.code) || "";
  const vars = { code, status: err.status ?? "", ...(err.body && typeof err.body === "object" ? err.body : {}) };
  if (code && ERRORS[code]) return fill(pick(ERRORS[code]), vars);
  const byStatus = ERRORS[`http_${err.status}`];
  if (byStatus) return fill(pick(byStatus), vars);
  if (current === "en" && err.detail) return err.detail;
  return fill(pick(ERRORS._generic || ["操作未完成（代码 {code}），请稍后重试或联系县里的技术人员", "Request failed ({code})"]),
    { code: code || err.status || "?" });
}

export function setLang(next) {
  current = next === "en" ? "en" : "zh";
  localStorage.setItem(KEY, current);
  applyStatic(document);
  for (const fn of listeners) fn(current);
}

export function onLangChange(fn) { listeners.add(fn); return () => listeners.delete(fn); }

/** Fill every element marked data-i18n (text), data-i18n-ph (placeholder) or data-i18n-title. */
export function applyStatic(root) {
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
  document.title = t("app_title");
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-ph]")) el.placeholder = t(el.dataset.i18nPh);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}
