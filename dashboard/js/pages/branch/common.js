// Helpers of the branch secretary's pages: texts under "my.", errors in the
// words of their code (this area's codes first, then the shell's), dates in
// county style, status pills, and the plan items editor shared by the
// secretary's plans and the township's review.
import { errorText, has, t as shellT } from "../../shell/i18n.js";
import { fieldError, formField, h, toast } from "../../shell/ui.js";

export { fieldError, formField, h, toast };

/** t("x") looks up "my.x" first, then the shared key. */
export function t(key, vars) { return has(`my.${key}`) ? shellT(`my.${key}`, vars) : shellT(key, vars); }

/** The text for an API error: this area's codes, then the shell's (never the hub's English detail in zh-CN). */
export function errText(err) {
  const code = err && (err.code || (err.body && err.body.code));
  if (code && has(`my.err.${code}`)) return shellT(`my.err.${code}`, err.body && typeof err.body === "object" ? err.body : {});
  return errorText(err);
}

export function failed(err) { console.error(err); toast(errText(err), "error"); }

const pad = (n) => String(n).padStart(2, "0");
/** "2026-11-30T07:05:00Z" -> "2026-11-30 15:05" in the browser's (county's) time; dates stay dates. */
export function when(v) {
  if (!v) return "—";
  if (/^\d{4}-\d\d-\d\d$/.test(v)) return v;
  const d = new Date(v);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function period(p) {
  return p.kind === "annual" ? t("period_annual", { year: p.year }) : t("period_monthly", { year: p.year, month: p.month });
}

const TONE = { approved: "ok", returned: "bad", resubmitted: "warn", submitted: "muted" };
export function statusPill(status) {
  return h("span", { class: `pill ${TONE[status] || "muted"}`, dataset: { status } }, has(`my.st.${status}`) ? t(`st.${status}`) : status);
}

let typesCache = null;
/** [[code, 中文名], ...] of the configured meeting types. */
export async function meetingTypes(api) {
  if (!typesCache) typesCache = (await api.get("/api/v1/meeting-types")).map((x) => [x.code, x.name_zh]);
  return typesCache;
}
export function forgetTypes() { typesCache = null; }

function select(name, options, value) {
  return h("select", { name, required: true }, options.map(([v, l]) => h("option", { value: v, selected: v === value }, l)));
}

/**
 * An editable list of plan items. Returns {el, items(), check(), showProblems(problems)}:
 * `check()` puts a visible message under every empty field; `showProblems` places the
 * hub's per-item problems (code plan_items_invalid) under their rows, in Chinese.
 */
export function itemsEditor(types, initial = []) {
  const rows = h("div", { class: "stack plan-items" });
  const add = (it = {}) => {
    const row = h("div", { class: "filters plan-item" },
      formField("my.meeting_type", select("meeting_type", types, it.meeting_type)),
      formField("my.planned_date", h("input", { name: "planned_date", type: "date", required: true, value: it.planned_date || "" })),
      formField("my.topic", h("input", { name: "topic", required: true, size: 28, value: it.topic || "", placeholder: t("topic_hint") })),
      formField("my.form", h("input", { name: "form", required: true, value: it.form || "", placeholder: t("form_hint") })),
      h("button", { type: "button", class: "secondary", onclick: () => { if (rows.children.length > 1) row.remove(); } }, t("remove_item")),
      h("small", { class: "field-msg item-msg", role: "alert" }));
    rows.append(row);
  };
  (initial.length ? initial : [{}]).forEach(add);
  const el = h("div", {}, rows, h("button", { type: "button", class: "secondary", onclick: () => add() }, t("add_item")));
  const inputs = (row) => [...row.querySelectorAll("input, select")];
  return {
    el,
    items: () => [...rows.children].map((row) => Object.fromEntries(inputs(row).map((i) => [i.name, i.value.trim()]))),
    check() {
      let ok = true;
      for (const row of rows.children) {
        row.querySelector(".item-msg").textContent = "";
        for (const i of inputs(row)) {
          const empty = !i.value.trim();
          fieldError(i, empty ? shellT("field_required", { field: i.closest(".field").querySelector(".field-label").textContent }) : "");
          if (empty && ok) { i.focus(); ok = false; }
        }
      }
      return ok;
    },
    showProblems(problems) {
      for (const row of rows.children) row.querySelector(".item-msg").textContent = "";
      for (const p of problems || []) {
        const row = rows.children[p.item - 1];
        if (!row) continue;
        const msg = row.querySelector(".item-msg");
        msg.textContent = [msg.textContent, t(`problem.${p.problem}`, { item: p.item })].filter(Boolean).join("；");
        const name = { topic_vague: "topic", form_missing: "form", outside_period: "planned_date", unknown_type: "meeting_type" }[p.problem];
        const input = name && row.querySelector(`[name=${name}]`);
        if (input) input.classList.add("invalid");
      }
    },
  };
}

/** The items of a plan, read-only. */
export function itemsTable(items, typeName) {
  return h("table", { class: "grid" },
    h("thead", {}, h("tr", {}, ["meeting_type", "planned_date", "topic", "form"].map((k) => h("th", {}, t(k))))),
    h("tbody", {}, items.map((i) => h("tr", {}, h("td", {}, typeName[i.meeting_type] || i.meeting_type), h("td", {}, i.planned_date),
      h("td", {}, i.topic), h("td", {}, i.form)))));
}

/** The review history of a plan. */
export function historyTable(reviews) {
  if (!reviews.length) return null;
  return h("div", {}, h("h3", {}, t("history")), h("table", { class: "grid" },
    h("thead", {}, h("tr", {}, ["revision", "decision", "return_reason", "reviewer", "at"].map((k) => h("th", {}, t(k))))),
    h("tbody", {}, reviews.map((r) => h("tr", {}, h("td", {}, t("revision_n", { n: r.revision })), h("td", {}, statusPill(r.decision)),
      h("td", {}, r.reason || "—"), h("td", {}, r.reviewer), h("td", {}, when(r.at)))))));
}
