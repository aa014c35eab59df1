// 计划预审 (township and county operators): the plans awaiting review,
// filed or resubmitted by the branches; approve, or return with a reason.
import { failed, fieldError, formField, h, historyTable, itemsTable, meetingTypes, period, statusPill, t, toast, when } from "./common.js";

export async function render(root, _params, ctx) {
  const { api } = ctx;
  const typeName = Object.fromEntries(await meetingTypes(api));
  const list = h("div", { id: "review-queue" });
  const detail = h("section", { class: "card", id: "review-detail" });
  root.append(h("section", { class: "card" }, h("h2", {}, t("awaiting")), list), detail);

  async function load() {
    const plans = await api.get("/api/v1/supervision/plans?status=awaiting");
    list.replaceChildren(plans.length ? h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ["branch", "period", "status", "revision", "submitted_by", "submitted_at", ""].map((k) => h("th", {}, k ? t(k) : "")))),
      h("tbody", {}, plans.map((p) => h("tr", { dataset: { plan: p.id } },
        h("td", {}, p.branch_name), h("td", {}, period(p)), h("td", {}, statusPill(p.status)), h("td", {}, t("revision_n", { n: p.revision })),
        h("td", {}, p.submitted_by), h("td", {}, when(p.submitted_at)),
        h("td", {}, h("button", { type: "button", class: "secondary", onclick: () => open(p.id) }, t("view")))))))
      : h("p", { class: "empty" }, t("no_awaiting")));
  }

  async function open(id) {
    const p = await api.get(`/api/v1/supervision/plans/${id}`).catch((e) => { failed(e); return null; });
    if (!p) return;
    const reason = h("textarea", { name: "reason", rows: 2, cols: 50, maxlength: 2000 });
    const decide = async (decision) => {
      fieldError(reason, "");
      if (decision === "return" && !reason.value.trim()) { fieldError(reason, t("reason_needed")); reason.focus(); return; }
      try {
        await api.post(`/api/v1/supervision/plans/${id}/review`, { decision, reason: reason.value.trim() });
        toast(decision === "approve" ? t("approved_ok") : t("returned_ok"));
        detail.replaceChildren();
        await load();
      } catch (err) { failed(err); }
    };
    detail.replaceChildren(h("div", {},
      h("h2", {}, `${p.branch_name} · ${period(p)} · `, statusPill(p.status), ` · ${t("revision_n", { n: p.revision })}`),
      itemsTable(p.items, typeName), historyTable(p.reviews),
      h("div", { class: "stack" }, formField("my.reason_label", reason),
        h("div", { class: "filters" },
          h("button", { type: "button", class: "approve", onclick: () => decide("approve") }, t("approve")),
          h("button", { type: "button", class: "danger return", onclick: () => decide("return") }, t("return"))))));
  }

  await load();
}
