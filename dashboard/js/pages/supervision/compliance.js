// 合规监测: outcome of every branch, meeting type and period; alerts.
import { api, daysAgo, failed, field, fmt, h, input, qs, STATUS_CLASS, t, table, today, unitPicker } from "./core.js";
import { barChart } from "./chart.js";

const OUTCOMES = ["held_ok", "no_quorum", "not_recorded", "not_held", "due"];

export async function render(root) {
  const rules = await api.get("/api/v1/supervision/rules").catch((e) => { failed(e); return { rules: [], theme_day_moves: {} }; });
  const names = Object.fromEntries(rules.rules.map((r) => [r.code, r.name_zh]));
  const form = h("form", { class: "filters" },
    field("unit", await unitPicker()),
    field("since", input("since", { type: "date", value: daysAgo(90) })),
    field("until", input("until", { type: "date", value: today() })),
    field("only_problems", input("problems", { type: "checkbox", checked: true })),
    h("button", { type: "submit" }, t("show")));
  const out = h("div");
  const alerts = h("div");
  root.append(
    h("section", { class: "card" }, h("h2", {}, t("rules_in_force")),
      table([{ label: "meeting_type", render: (r) => r.name_zh }, { label: "frequency", render: (r) => t(r.frequency) },
        { label: "quorum", render: (r) => t(r.quorum) }, { label: "min_minutes", key: "min_minutes", num: true },
        { label: "fixed_day", key: "fixed_day", num: true }], rules.rules),
      Object.keys(rules.theme_day_moves).length ? h("p", { class: "note" }, `${t("theme_day_moves")}: `,
        Object.entries(rules.theme_day_moves).map(([a, b]) => `${a} → ${b}`).join("；")) : null),
    h("section", { class: "card" }, h("h2", {}, t("compliance")), form, out),
    h("section", { class: "card" }, h("h2", {}, t("alerts")), alerts));

  async function load() {
    const f = new FormData(form);
    out.replaceChildren(h("p", { class: "muted" }, t("loading")));
    try {
      const data = await api.get(`/api/v1/supervision/compliance${qs({ unit_id: f.get("unit_id"), since: f.get("since"), until: f.get("until") })}`);
      const codes = Object.keys(data.summary);
      const chart = barChart({ title: t("outcomes_by_type"), labels: codes.map((c) => names[c] || c),
        series: OUTCOMES.map((o) => ({ name: t(o), values: codes.map((c) => data.summary[c][o] || 0) })) });
      let cells = data.cells;
      if (f.get("problems")) cells = cells.filter((c) => c.status !== "held_ok");
      out.replaceChildren(h("div", { class: "chart-box" }, chart),
        h("p", { class: "muted" }, `${t("rows")}: ${cells.length}`),
        table([{ label: "township", key: "township" }, { label: "branch", key: "branch_name" },
          { label: "meeting_type", render: (c) => names[c.code] || c.code }, { label: "period", key: "period" },
          { label: "status", render: (c) => h("span", { class: `pill ${STATUS_CLASS[c.status]}` }, t(c.status)) },
          { label: "note", render: (c) => c.note || "" },
          { label: "meeting", render: (c) => (c.meeting_id ? h("a", { href: `/ui/#/playback/${c.meeting_id}` }, c.meeting_id.slice(0, 8)) : "—") }],
        cells.slice(0, 1000)));
    } catch (e) { out.replaceChildren(); failed(e); }
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  load();
  api.get("/api/v1/supervision/compliance/alerts?limit=100").then((rows) => alerts.replaceChildren(
    table([{ label: "time", render: (a) => fmt(a.created_at) }, { label: "kind", render: (a) => t(`alert_${a.kind}`) },
      { label: "period", key: "period_key" }, { label: "message", key: "message" }], rows))).catch(failed);
}
