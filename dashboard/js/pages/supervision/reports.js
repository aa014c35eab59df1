// 统计报告: any period and area; totals, charts, XLSX for reporting up.
import { api, fill, download, failed, field, h, input, pct, qs, t, table, unitPicker } from "./core.js";
import { barChart, COLORS, lineChart } from "./chart.js";

const TOTALS = ["branches", "meetings", "live_streamed", "attendance_rate", "flagged_meetings", "inspections", "average_score",
  "video_inspection_items", "rectifications_opened", "rectifications_closed", "rectifications_overdue", "notices", "spot_checks", "spot_check_calls"];

export async function render(root) {
  const y = new Date().getFullYear();
  const q = Math.floor(new Date().getMonth() / 3) + 1;
  const form = h("form", { class: "filters" }, field("unit", await unitPicker()),
    field("period", input("period", { value: `${y}`, placeholder: `${y} / ${y}-Q${q} / ${y}-03`, list: "periods" })),
    h("datalist", { id: "periods" }, [`${y}`, `${y - 1}`, ...[1, 2, 3, 4].map((n) => `${y}-Q${n}`)].map((p) => h("option", { value: p }))),
    h("button", { type: "submit" }, t("show")),
    h("button", { type: "button", class: "secondary", onclick: () => download(`/api/v1/supervision/reports/export.xlsx${qs(params())}`, "督查报告.xlsx").catch(failed) }, t("export_xlsx")));
  const out = h("div");
  const params = () => { const f = new FormData(form); return { unit_id: f.get("unit_id"), period: f.get("period") }; };
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  root.append(h("section", { class: "card" }, h("h2", {}, t("reports")), form, out));

  async function load() {
    fill(out, h("p", { class: "muted" }, t("loading")));
    try {
      const r = await api.get(`/api/v1/supervision/reports${qs(params())}`);
      const tot = r.totals;
      fill(out, 
        h("p", { class: "muted" }, `${r.unit.name} · ${r.since} — ${r.until}`),
        h("div", { class: "stats" }, TOTALS.map((k) => h("div", { class: "stat" },
          h("b", {}, k === "attendance_rate" ? pct(tot[k]) : tot[k] ?? "—"), h("span", {}, t(`tot_${k}`))))),
        h("div", { class: "charts" },
          h("div", { class: "chart-box" }, barChart({ title: t("meetings_by_type"), labels: r.by_type.map((x) => x.name_zh),
            series: [{ name: t("tot_meetings"), color: COLORS.blue, values: r.by_type.map((x) => x.meetings) },
              { name: t("tot_live_streamed"), color: COLORS.ok, values: r.by_type.map((x) => x.recorded) }] })),
          h("div", { class: "chart-box" }, lineChart({ title: t("by_month"), labels: r.by_month.map((x) => x.month.slice(2)),
            series: [{ name: t("tot_meetings"), color: COLORS.blue, values: r.by_month.map((x) => x.meetings) },
              { name: t("tot_live_streamed"), color: COLORS.ok, values: r.by_month.map((x) => x.recorded) }] })),
          h("div", { class: "chart-box" }, lineChart({ title: t("attendance_by_month"), labels: r.by_month.map((x) => x.month.slice(2)), max: 1,
            format: (v) => `${Math.round(v * 100)}%`, series: [{ name: t("tot_attendance_rate"), color: COLORS.ok, values: r.by_month.map((x) => x.attendance_rate || 0) }] })),
          h("div", { class: "chart-box" }, barChart({ title: t("by_township"), labels: r.by_township.map((x) => x.township),
            series: [{ name: t("tot_meetings"), color: COLORS.blue, values: r.by_township.map((x) => x.meetings) },
              { name: t("tot_rectifications_opened"), color: COLORS.gold, values: r.by_township.map((x) => x.rect_opened || 0) },
              { name: t("tot_rectifications_overdue"), color: COLORS.bad, values: r.by_township.map((x) => x.rect_overdue || 0) }] }))),
        table([{ label: "township", key: "township" }, { label: "tot_branches", render: (x) => x.branches || 0, num: true },
          { label: "tot_meetings", key: "meetings", num: true }, { label: "tot_live_streamed", key: "recorded", num: true },
          { label: "tot_attendance_rate", render: (x) => pct(x.attendance_rate), num: true }, { label: "tot_inspections", render: (x) => x.inspections || 0, num: true },
          { label: "tot_rectifications_opened", render: (x) => x.rect_opened || 0, num: true }, { label: "tot_rectifications_closed", render: (x) => x.rect_closed || 0, num: true },
          { label: "tot_rectifications_overdue", render: (x) => x.rect_overdue || 0, num: true }], r.by_township));
    } catch (e) { fill(out, ); failed(e); }
  }
  load();
}
