// Small DOM helpers for the administration pages: elements, labelled
// fields with visible validation messages, tables, unit pickers, times.
// Text always goes in through textContent (never innerHTML).

// The element builder is the shell's; re-exported so the admin pages import one module.
import { confirmDialog, h } from "../../shell/ui.js";
import { unitLabels } from "../../util.js";

export { h };

// Translation for this area: admin dictionary first, then the shell's.
export function makeT(ctx) {
  const tt = (key, vars) => ctx.t(`admin.${key}`, vars);
  // An API error as a sentence: the admin dictionary knows this area's codes,
  // the shell's errorText all the others (never the raw English detail).
  tt.err = (err) => {
    const code = err && err.code;
    if (code) {
      const own = ctx.t(`admin.err_${code}`);
      if (own && own !== `admin.err_${code}`) return own;
    }
    return ctx.errorText(err);
  };
  return tt;
}

// A labelled input with a message line under it; `check()` shows the
// message and returns false while the value is not acceptable.
export function field(label, input, { required = false, requiredText = "", validate = null } = {}) {
  const msg = h("div", { class: "adm-msg", role: "alert", "aria-live": "polite" });
  const wrap = h("label", { class: "adm-field" }, h("span", { class: "adm-label" }, label), input, msg);
  wrap.input = input;
  wrap.show = (text) => {
    msg.textContent = text || "";
    wrap.classList.toggle("adm-invalid", Boolean(text));
  };
  wrap.check = () => {
    const v = input.type === "checkbox" ? input.checked : (input.value || "").trim();
    let problem = "";
    if (required && !v) problem = requiredText;
    else if (validate) problem = validate(v) || "";
    wrap.show(problem);
    return !problem;
  };
  input.addEventListener("input", () => wrap.show(""));
  return wrap;
}

export function checkAll(fields) {
  return fields.map((f) => f.check()).every(Boolean);
}

export function select(options, value) {
  const s = h("select", {});
  for (const [v, label] of options) s.append(h("option", { value: v }, label));
  if (value !== undefined && value !== null) s.value = String(value);
  return s;
}

// The branch picker at the top of the members and devices pages (?branch=ID preselects).
export function branchPicker(units, params) {
  const branches = unitOptions(units, { kinds: ["branch"] });
  const sel = select(branches, (params.query && params.query.get("branch")) || (branches[0] || [""])[0]);
  sel.name = "branch";
  return sel;
}

export function table(headers, rows, { empty = "" } = {}) {
  const body = h("tbody", {});
  for (const r of rows) body.append(r instanceof Node ? r : h("tr", {}, r.map((c) => h("td", {}, c))));
  if (!rows.length && empty) body.append(h("tr", {}, h("td", { colspan: headers.length, class: "adm-empty" }, empty)));
  return h("table", { class: "adm-table" }, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))), body);
}

export function section(title, ...children) {
  return h("section", { class: "adm-section" }, h("h2", {}, title), ...children);
}

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

// <input type="datetime-local"> value <-> ISO with the browser's offset.
export function localInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function isoFromInput(value) {
  return value ? new Date(value).toISOString() : null;
}

// Units as an indented list (tree order by path), with their depth.
export function unitOptions(units, { kinds = null, activeOnly = true } = {}) {
  const minDepth = Math.min(...units.map((u) => u.path.split("/").length));
  const shown = units.filter((u) => (!kinds || kinds.includes(u.kind)) && (!activeOnly || u.active !== false));
  const labels = unitLabels(units, shown);
  return shown.map((u) => [String(u.id), `${"　".repeat(u.path.split("/").length - minDepth)}${labels.get(u.id)}`]);
}

export function busy(button, work) {
  return async (...args) => {
    if (button.disabled) return;
    button.disabled = true;
    try {
      await work(...args);
    } finally {
      button.disabled = false;
    }
  };
}

let cssLoaded = false;
export function ensureCss() {
  if (cssLoaded) return;
  cssLoaded = true;
  document.head.append(h("link", { rel: "stylesheet", href: new URL("./admin.css", import.meta.url).href }));
}

// A modal yes/no question (the shell's dialog); resolves true on 确定.
export function confirmBox(text) {
  return confirmDialog(text, { danger: true });
}
