// 会议计划 (the branch secretary): file a plan for the township's review
// (组织生活预审), see the return reason, edit and resubmit.
import {
  failed, formField, h, historyTable, itemsEditor, itemsTable, meetingTypes, period, statusPill, t, toast, when,
} from "./common.js";

export async function render(root, params, ctx) {
  const { api } = ctx;
  const branchId = ctx.me.scope_id;
  const types = await meetingTypes(api);
  const typeName = Object.fromEntries(types);
  const list = h("div", { id: "my-plans" });
  const detail = h("section", { class: "card", id: "my-plan-detail" });
  const newCard = h("section", { class: "card", id: "my-new-plan" });
  root.append(h("section", { class: "card" }, h("h2", {}, `${ctx.me.scope_name} · ${t("plans")}`), list), detail, newCard);

  async function load() {
    const plans = await api.get("/api/v1/supervision/plans");
    list.replaceChildren(plans.length ? h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ["period", "status", "revision", "return_reason", "submitted_at", ""].map((k) => h("th", {}, k ? t(k) : "")))),
      h("tbody", {}, plans.map((p) => h("tr", { dataset: { plan: p.id } },
        h("td", {}, period(p)), h("td", {}, statusPill(p.status)), h("td", {}, t("revision_n", { n: p.revision })),
        h("td", { class: "reason" }, p.status === "returned" ? p.return_reason : "—"), h("td", {}, when(p.submitted_at)),
        h("td", {}, h("button", { type: "button", class: "secondary", onclick: () => open(p.id) },
          p.status === "approved" ? t("view") : t("edit")))))))
      : h("p", { class: "empty" }, t("no_plans")));
  }

  async function open(id) {
    const p = await api.get(`/api/v1/supervision/plans/${id}`).catch((e) => { failed(e); return null; });
    if (!p) return;
    const head = h("h2", {}, `${period(p)} · `, statusPill(p.status), ` · ${t("revision_n", { n: p.revision })}`);
    const reason = p.status === "returned"
      ? h("p", { class: "page-msg error return-reason" }, `${t("return_reason")}：${p.return_reason}`) : null;
    if (p.status === "approved") {
      detail.replaceChildren(h("div", {}, head, h("p", {}, t("approved_final")), itemsTable(p.items, typeName), historyTable(p.reviews)));
      return;
    }
    const editor = itemsEditor(types, p.items);
    const form = h("form", { class: "stack", novalidate: true }, editor.el,
      h("div", {}, h("button", { type: "submit" }, p.status === "returned" ? t("resubmit") : t("save_changes"))));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!editor.check()) return;
      try {
        const saved = await api.put(`/api/v1/supervision/plans/${id}/items`, { items: editor.items() });
        toast(saved.status === "resubmitted" ? t("resubmitted_ok") : ctx.t("saved"));
        await load();
        await open(id);
      } catch (err) {
        if (err.code === "plan_items_invalid") editor.showProblems(err.body.problems);
        failed(err);
      }
    });
    detail.replaceChildren(h("div", {}, head, reason, form, historyTable(p.reviews)));
  }

  function newPlan() {
    const now = new Date();
    const next = new Date(now.getFullYear(), now.getMonth() + 1, 1);
    const kind = h("select", { name: "kind" }, h("option", { value: "monthly" }, t("monthly")), h("option", { value: "annual" }, t("annual")));
    const year = h("input", { name: "year", type: "number", min: 2000, max: 2100, required: true, value: next.getFullYear() });
    const month = h("input", { name: "month", type: "number", min: 1, max: 12, required: true, value: next.getMonth() + 1 });
    const monthField = formField("my.month", month);
    kind.addEventListener("change", () => { monthField.hidden = kind.value === "annual"; month.required = kind.value !== "annual"; });
    const editor = itemsEditor(types);
    const form = h("form", { class: "stack", novalidate: true },
      h("div", { class: "filters" }, formField("my.kind", kind), formField("my.year", year), monthField), editor.el,
      h("div", {}, h("button", { type: "submit" }, t("file"))));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!editor.check()) return;
      const body = { branch_id: branchId, kind: kind.value, year: Number(year.value), items: editor.items() };
      if (kind.value === "monthly") body.month = Number(month.value);
      try {
        const p = await api.post("/api/v1/supervision/plans", body);
        toast(t("filed"));
        newPlan();
        await load();
        await open(p.id);
      } catch (err) {
        if (err.code === "plan_items_invalid") editor.showProblems(err.body.problems);
        failed(err);
      }
    });
    newCard.replaceChildren(h("h2", {}, t("new_plan")), form);
  }

  newPlan();
  await load();
  if (params.query && params.query.get("plan")) await open(Number(params.query.get("plan")));
}
