// 电话抽查: import a household ledger, draw a reproducible sample, record calls.
import { api, fill, checkRequired, download, failed, field, fieldError, flash, fmt, h, input, select, t, table, unitPicker } from "./core.js";

const OUTCOMES = ["confirmed", "denied", "unreachable", "wrong_number", "refused"];

export async function render(root, params, ctx) {
  const list = h("div");
  const detail = h("div");
  const ledgers = await api.get("/api/v1/supervision/households/ledgers").catch(() => []);
  const imp = h("form", { class: "filters" }, field("unit", await unitPicker()), field("ledger_name", input("name")),
    field("file", input("file", { type: "file", accept: ".csv,.xlsx", required: true })), h("button", { type: "submit" }, t("import")));
  const impMsg = h("div", { class: "form-msg error", role: "alert" });
  imp.append(impMsg);
  imp.addEventListener("submit", async (e) => {
    e.preventDefault();
    impMsg.textContent = "";
    if (!checkRequired(imp)) return;
    try {
      const r = await api.form("/api/v1/supervision/households/import", new FormData(imp));
      if (r.errors.length) fill(impMsg, ...r.errors.map((x) => h("div", {}, `${t("row_n", { row: x.row })}：${x.problems.join("；")}`)));
      else { flash(`${t("imported")}: ${r.imported}`); ctx.navigate("/supervision/spot-checks", { replace: true }); }
    } catch (err) { failed(err); }
  });
  const drawForm = h("form", { class: "filters" }, field("unit", await unitPicker()),
    field("population", select("population", [["members", t("members")], ["households", t("households")]])),
    field("ledger_pick", select("ledger_id", [["", t("none_chosen")], ...ledgers.map((l) => [l.id, `${l.name}（${l.rows}）`])])),
    field("sample_size", input("sample_size", { type: "number", min: 1, value: 20 })),
    field("label", input("label", { required: true, size: 30, placeholder: t("label_example", { year: new Date().getFullYear() }) })),
    h("button", { type: "submit" }, t("draw")));
  drawForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!checkRequired(drawForm)) return;
    if (drawForm.elements.population.value === "households" && !drawForm.elements.ledger_id.value) {
      fieldError(drawForm.elements.ledger_id, t("ledger_needed"));
      return;
    }
    const f = Object.fromEntries(new FormData(drawForm).entries());
    const body = { population: f.population, sample_size: Number(f.sample_size), label: f.label };
    if (f.unit_id) body.unit_id = Number(f.unit_id);
    if (f.ledger_id) body.ledger_id = Number(f.ledger_id);
    try { const c = await api.post("/api/v1/supervision/spot-checks", body); flash(t("saved")); load(); show(c.id); } catch (err) { failed(err); }
  });
  root.append(h("section", { class: "card" }, h("h2", {}, t("spot_checks")), h("p", { class: "note" }, t("spot_note")), list),
    h("section", { class: "card" }, detail),
    h("section", { class: "card" }, h("h2", {}, t("draw")), drawForm),
    h("section", { class: "card" }, h("h2", {}, t("household_ledger")), h("p", { class: "note" }, t("ledger_columns")), imp));

  async function load() {
    try {
      const rows = await api.get("/api/v1/supervision/spot-checks");
      fill(list, table([{ label: "label", key: "label" }, { label: "population", render: (c) => t(c.population) },
        { label: "sample_size", key: "sample_size", num: true }, { label: "population_size", key: "population_size", num: true },
        { label: "seed", render: (c) => h("code", {}, c.seed) }, { label: "time", render: (c) => fmt(c.created_at) },
        { label: "", render: (c) => h("button", { class: "link", onclick: () => show(c.id) }, t("open")) }], rows));
    } catch (e) { failed(e); }
  }
  async function show(id) {
    try {
      const c = await api.get(`/api/v1/supervision/spot-checks/${id}`);
      const verifyBox = h("span");
      fill(detail, h("h2", {}, c.label),
        h("p", { class: "note" }, `${t("seed")}：`, h("code", {}, c.seed), ` · ${t("population_hash")}：`, h("code", {}, `${c.population_hash.slice(0, 16)}…`)),
        h("div", { class: "filters" },
          h("button", { class: "secondary", onclick: async () => {
            const v = await api.get(`/api/v1/supervision/spot-checks/${id}/verify`).catch(failed);
            if (v) verifyBox.textContent = `${v.sample_matches ? t("sample_ok") : t("sample_bad")}${v.population_changed_since ? `；${t("population_changed")}` : ""}`;
          } }, t("verify")), verifyBox,
          h("button", { class: "secondary", onclick: () => download(`/api/v1/supervision/spot-checks/${id}/export.xlsx`, "抽查.xlsx").catch(failed) }, t("export_xlsx"))),
        table([{ label: "#", key: "position", num: true }, { label: "branch", key: "branch_name" }, { label: "name", key: "name" },
          { label: "phone", key: "phone" },
          { label: "outcome", render: (r) => (r.outcome === "pending" ? callForm(id, r) : [t(r.outcome), r.note ? `（${r.note}）` : ""].join("")) },
          { label: "called_by", render: (r) => (r.called_by ? `${r.called_by} ${fmt(r.called_at)}` : "—") }], c.calls));
      detail.scrollIntoView({ behavior: "smooth" });
    } catch (e) { failed(e); }
  }
  function callForm(id, r) {
    const out = select("outcome", OUTCOMES.map((o) => [o, t(o)]));
    const note = input("note", { placeholder: t("note") });
    return h("span", { class: "inline" }, out, note, h("button", { class: "link", onclick: async () => {
      try { await api.post(`/api/v1/supervision/spot-checks/${id}/calls/${r.id}`, { outcome: out.value, note: note.value }); show(id); } catch (e) { failed(e); }
    } }, t("save")));
  }
  load();
}
