// 督查评分: score a branch on a sheet (deductions with reasons, optional
// rectification), and rankings in the township and the county.
import { api, fill, daysAgo, download, failed, field, flash, h, input, qs, select, t, table, today, unitPicker } from "./core.js";
import { barChart } from "./chart.js";

export async function render(root) {
  let templates = [];
  try { templates = await api.get("/api/v1/supervision/score-templates"); } catch (e) { failed(e); }
  if (!templates.length) { root.append(h("p", { class: "empty" }, t("no_data"))); return; }
  const tplSelect = select("template_id", templates.map((x) => [x.id, `${x.name}（${x.max_total}）`]));
  const sheetBox = h("div");
  const form = h("form", { class: "stack" },
    h("div", { class: "filters" }, field("score_sheet", tplSelect), field("branch", await unitPicker("branch_id", { kinds: ["branch"], blank: false })),
      field("group_name", input("group_name", { value: "第一督查组", required: true })),
      field("date", input("inspected_on", { type: "date", value: today(), max: today() }))),
    sheetBox, h("button", { type: "submit" }, t("save_scores")));
  const drawSheet = () => {
    const tpl = templates.find((x) => String(x.id) === tplSelect.value);
    fill(sheetBox, ...tpl.categories.map((c) => h("fieldset", {}, h("legend", {}, `${c.name}（${c.max_points}${t("points")}）`),
      ...c.items.map((i) => h("div", { class: "row score-row", dataset: { item: i.id, max: i.max_points } },
        h("span", { class: "item-name" }, `${i.name}（${i.max_points}）`),
        input("deduction", { type: "number", min: 0, max: i.max_points, step: 0.5, placeholder: t("deduction") }),
        input("reason", { placeholder: t("reason") }),
        h("label", { class: "inline" }, input("rect", { type: "checkbox" }), t("open_item")),
        input("deadline", { type: "date", min: today() }), input("responsible", { placeholder: t("responsible") }))))));
  };
  tplSelect.addEventListener("change", drawSheet);
  drawSheet();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData(form).entries());
    const scores = [];
    for (const row of sheetBox.querySelectorAll(".score-row")) {
      const v = (n) => row.querySelector(`[name=${n}]`);
      if (!v("deduction").value || Number(v("deduction").value) === 0) continue;
      const s = { item_id: Number(row.dataset.item), deduction: Number(v("deduction").value), reason: v("reason").value };
      if (v("rect").checked) s.rectification = { measures: `${t("rectify")}：${v("reason").value}`, deadline: v("deadline").value, responsible: v("responsible").value };
      scores.push(s);
    }
    try {
      const r = await api.post("/api/v1/supervision/inspections", { template_id: Number(f.template_id), branch_id: Number(f.branch_id),
        group_name: f.group_name, inspected_on: f.inspected_on, scores });
      flash(`${t("saved")}: ${r.branch_name} ${r.total}/${r.max_total}`); loadRanks();
    } catch (err) { failed(err); }
  });

  const ranks = h("div");
  const rf = h("form", { class: "filters" }, field("unit", await unitPicker()),
    field("since", input("since", { type: "date", value: daysAgo(365) })), field("until", input("until", { type: "date", value: today() })),
    h("button", { type: "submit" }, t("show")),
    h("button", { type: "button", class: "secondary", onclick: () => download(`/api/v1/supervision/rankings/export.xlsx${qs(rparams())}`, "排名.xlsx").catch(failed) }, t("export_xlsx")));
  const rparams = () => { const f = new FormData(rf); return { template_id: tplSelect.value, unit_id: f.get("unit_id"), since: f.get("since"), until: f.get("until") }; };
  rf.addEventListener("submit", (e) => { e.preventDefault(); loadRanks(); });
  root.append(h("section", { class: "card" }, h("h2", {}, t("rankings")), rf, ranks),
    h("section", { class: "card" }, h("h2", {}, t("score_a_branch")), form));

  async function loadRanks() {
    try {
      const rows = await api.get(`/api/v1/supervision/rankings${qs(rparams())}`);
      const towns = {};
      rows.forEach((r) => { (towns[r.township] ||= []).push(r.total); });
      const labels = Object.keys(towns);
      fill(ranks, 
        labels.length ? h("div", { class: "chart-box" }, barChart({ title: t("average_by_township"), labels, max: 100,
          series: [{ name: t("average_score"), values: labels.map((l) => +(towns[l].reduce((a, b) => a + b, 0) / towns[l].length).toFixed(2)) }] })) : "",
        table([{ label: "county_rank", key: "county_rank", num: true }, { label: "township_rank", key: "township_rank", num: true },
          { label: "township", key: "township" }, { label: "branch", key: "branch_name" }, { label: "date", key: "inspected_on" },
          { label: "total", key: "total", num: true }], rows));
    } catch (e) { failed(e); }
  }
  loadRanks();
}
