// 合规监测: outcome of every branch, meeting type and period; alerts.
import { api, fill, daysAgo, failed, field, fmt, h, input, qs, STATUS_CLASS, t, table, today, unitPicker } from "./core.js";
import { barChart, COLORS } from "./chart.js";

// Each outcome keeps its colour everywhere: the chart's bars and the table's pills.
const OUTCOMES = { held_ok: COLORS.ok, no_quorum: COLORS.warn, not_recorded: COLORS.bad, not_held: COLORS.grave, due: COLORS.muted };

/** A generated note ({code, params}) in the reader's language. */
export function noteText(n) { return t(`note_${n.code}`, n.params); }

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
    fill(out, h("p", { class: "muted" }, t("loading")));
    try {
      const data = await api.get(`/api/v1/supervision/compliance${qs({ unit_id: f.get("unit_id"), since: f.get("since"), until: f.get("until") })}`);
      const codes = Object.keys(data.summary);
      const chart = barChart({ title: t("outcomes_by_type"), labels: codes.map((c) => names[c] || c),
        series: Object.entries(OUTCOMES).map(([o, color]) => ({ name: t(o), color, values: codes.map((c) => data.summary[c][o] || 0) })) });
      let cells = data.cells;
      if (f.get("problems")) cells = cells.filter((c) => c.status !== "held_ok");
      fill(out, h("div", { class: "chart-box" }, chart),
        h("p", { class: "muted" }, `${t("rows")}: ${cells.length}`),
        table([{ label: "township", key: "township" }, { label: "branch", key: "branch_name" },
          { label: "meeting_type", render: (c) => names[c.code] || c.code }, { label: "period", key: "period" },
          { label: "status", render: (c) => h("span", { class: `pill ${STATUS_CLASS[c.status]}` }, t(c.status)) },
          { label: "note", render: (c) => (c.notes || []).map(noteText).join("；") || "—" },
          { label: "meeting", render: (c) => (c.meeting_id ? h("a", { href: `#/playback/${c.meeting_id}` }, c.meeting_label || t("open")) : "—") }],
        cells.slice(0, 1000)));
    } catch (e) { fill(out, ); failed(e); }
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  load();
  api.get("/api/v1/supervision/compliance/alerts?limit=100").then((rows) => fill(alerts, 
    table([{ label: "time", render: (a) => fmt(a.created_at) }, { label: "kind", render: (a) => t(`alert_${a.kind}`) },
      { label: "period", key: "period_key" }, { label: "message", key: "message" }], rows))).catch(failed);
}
