// Small shared helpers for every page of the dashboard: an element builder,
// tables, form fields with visible validation messages, toasts, a confirm
// dialog, and the persistent view sections the wall keeps alive.
import { t } from "./i18n.js";

/** h("button", {class: "x", onclick: fn, dataset: {id: 1}}, "text", child, [more]) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/** A cell value for people: dashes for nothing, never "null" or "undefined". */
export function show(v) {
  if (v === null || v === undefined || v === "" || Number.isNaN(v)) return "—";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(2);
  return String(v);
}

/** table([{label: "i18n.key", key: "field", render: (row) => node, num: true}], rows, {empty: "text"}) */
export function table(columns, rows, { empty, rowClass } = {}) {
  if (!rows || !rows.length) return h("p", { class: "empty" }, empty || t("no_data"));
  return h("table", { class: "grid" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : "" }, t(c.label))))),
    h("tbody", {}, rows.map((r) => h("tr", { class: rowClass ? rowClass(r) : "" },
      columns.map((c) => h("td", { class: c.num ? "num" : "" }, c.render ? c.render(r) : show(r[c.key])))))));
}

/** A labelled field: formField("label.key", inputElement, {hint}) with a message line under it. */
export function formField(label, input, { hint } = {}) {
  return h("label", { class: "field" },
    h("span", { class: "field-label" }, t(label)), input,
    hint ? h("small", { class: "field-hint" }, t(hint)) : null,
    h("small", { class: "field-msg", role: "alert" }));
}

/** Show (or clear, with "") a validation message under a field's input
 * (inputs outside a formField get a message line right after them). */
export function fieldError(input, message) {
  const field = input.closest(".field");
  let msg = field && field.querySelector(".field-msg");
  if (!msg) {
    msg = input.nextElementSibling && input.nextElementSibling.matches(".field-msg") ? input.nextElementSibling : null;
    if (!msg && message) { msg = h("small", { class: "field-msg", role: "alert" }); input.after(msg); }
  }
  input.classList.toggle("invalid", !!message);
  input.setAttribute("aria-invalid", message ? "true" : "false");
  if (msg) msg.textContent = message || "";
}

/** Check the form's required fields (attribute `required`): a visible message on each empty one. */
export function checkRequired(form) {
  let ok = true;
  for (const input of form.querySelectorAll("input, select, textarea")) {
    if (input.type !== "checkbox") fieldError(input, "");
    if (input.required && !String(input.value || "").trim()) {
      const label = input.closest(".field")?.querySelector(".field-label")?.textContent || "";
      fieldError(input, t("field_required", { field: label }));
      if (ok) input.focus();
      ok = false;
    }
  }
  return ok;
}

export function formData(form) { return Object.fromEntries(new FormData(form).entries()); }

let toastTimer;
/** A short message at the top of the page; kind is "ok", "error" or "info". */
export function toast(message, kind = "ok") {
  let el = document.getElementById("toast");
  if (!el) {
    el = h("div", { id: "toast", class: "toast", role: "status", "aria-live": "polite" });
    document.body.append(el);
  }
  el.textContent = message;
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 9000 : 3500);
}

/** A modal yes/no question; resolves true when confirmed. */
export function confirmDialog(message, { ok = "ok", cancel = "cancel", danger = false } = {}) {
  return new Promise((resolve) => {
    const close = (answer) => { overlay.remove(); document.removeEventListener("keydown", onKey, true); resolve(answer); };
    const onKey = (ev) => { if (ev.key === "Escape") { ev.stopPropagation(); close(false); } };
    const yes = h("button", { type: "button", class: danger ? "danger" : "", onclick: () => close(true) }, t(ok));
    const overlay = h("div", { class: "overlay confirm" },
      h("div", { class: "dialog", role: "dialog", "aria-modal": "true" },
        h("p", {}, message),
        h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: () => close(false) }, t(cancel)), yes)));
    document.addEventListener("keydown", onKey, true);
    document.body.append(overlay);
    yes.focus();
  });
}

/** The persistent <section id="view-NAME" class="view"> in <main> (created once, hidden by the router). */
export function viewSection(name) {
  let el = document.getElementById(`view-${name}`);
  if (!el) {
    el = h("section", { id: `view-${name}`, class: "view", hidden: true });
    document.querySelector("main").append(el);
  }
  return el;
}

/** A modal asking for a line of text; resolves the text, or null when cancelled. */
export function promptDialog(message, { label = "", ok = "ok", cancel = "cancel", required = false } = {}) {
  return new Promise((resolve) => {
    const input = h("textarea", { rows: 3, required });
    const close = (answer) => { overlay.remove(); document.removeEventListener("keydown", onKey, true); resolve(answer); };
    const onKey = (ev) => { if (ev.key === "Escape") { ev.stopPropagation(); close(null); } };
    const form = h("form", { class: "dialog", role: "dialog", "aria-modal": "true" },
      h("p", {}, message), formField(label, input),
      h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: () => close(null) }, t(cancel)),
        h("button", { type: "submit" }, t(ok))));
    form.addEventListener("submit", (ev) => { ev.preventDefault(); if (checkRequired(form)) close(input.value.trim()); });
    const overlay = h("div", { class: "overlay confirm" }, form);
    document.addEventListener("keydown", onKey, true);
    document.body.append(overlay);
    input.focus();
  });
}

function labelOf(input) {
  // a page's field, or a plain <label><span>name</span><input></label> (the sign-in and password forms)
  return input.closest(".field")?.querySelector(".field-label")?.textContent
    || input.closest("label")?.querySelector("span")?.textContent
    || input.getAttribute("aria-label") || input.placeholder || "";
}

/** The browser's own validation, in our words and on the page (its bubbles are in the browser's language). */
export function validationText(input) {
  const v = input.validity;
  if (v.valueMissing) return t("field_required", { field: labelOf(input) });
  if (v.rangeUnderflow) return t("field_min", { min: input.min });
  if (v.rangeOverflow) return t("field_max", { max: input.max });
  if (v.tooShort) return t("field_too_short", { n: input.minLength });
  if (v.tooLong) return t("field_too_long", { n: input.maxLength });
  if (v.stepMismatch) return t("field_step", { step: input.step });
  return t("field_invalid");
}

document.addEventListener("invalid", (ev) => {
  ev.preventDefault();
  const first = !document.querySelector(".invalid");
  fieldError(ev.target, validationText(ev.target));
  if (first) ev.target.focus();
}, true);
document.addEventListener("input", (ev) => {
  if (ev.target instanceof HTMLElement && ev.target.classList.contains("invalid")) fieldError(ev.target, "");
}, true);
