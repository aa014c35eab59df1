// 会议计划: file, review (approve / return with a reason), plan against actual.
import { api, fill, failed, field, fieldError, flash, fmt, h, input, qs, select, t, table, unitPicker } from "./core.js";

export async function render(root) {
  const types = await api.get("/api/v1/meeting-types").catch(() => []);
  const typeOpts = types.map((x) => [x.code, x.name_zh]);
  const name = Object.fromEntries(typeOpts);
  const list = h("div");
  const detail = h("div");
  const filter = h("form", { class: "filters" }, field("unit", await unitPicker()),
    field("status", select("status", [["", t("all")], ["awaiting", t("submitted")], ["approved", t("approved")], ["returned", t("returned")]])),
    h("button", { type: "submit" }, t("show")));
  filter.addEventListener("submit", (e) => { e.preventDefault(); load(); });

  const rows = h("div", { class: "rows" });
  const addRow = () => rows.append(h("div", { class: "row" }, select("meeting_type", typeOpts), input("planned_date", { type: "date", required: true }),
    input("topic", { placeholder: t("topic"), required: true }), input("form", { placeholder: t("form_hint"), required: true }),
    h("button", { type: "button", class: "link", onclick: (e) => e.target.parentElement.remove() }, "✕")));
  addRow();
  const now = new Date();
  const fileForm = h("form", { class: "stack" },
    h("div", { class: "filters" }, field("branch", await unitPicker("branch_id", { kinds: ["branch"], blank: false })),
      field("kind", select("kind", [["monthly", t("monthly_plan")], ["annual", t("annual_plan")]])),
      field("year", input("year", { type: "number", value: now.getFullYear() })),
      field("month", input("month", { type: "number", min: 1, max: 12, value: now.getMonth() + 1 }))),
    rows, h("div", {}, h("button", { type: "button", class: "secondary", onclick: addRow }, t("add_item")), " ",
      h("button", { type: "submit" }, t("file_plan"))));
  fileForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(fileForm);
    const items = [...rows.children].map((r) => Object.fromEntries([...r.querySelectorAll("input,select")].map((i) => [i.name, i.value])));
    const body = { branch_id: Number(f.get("branch_id")), kind: f.get("kind"), year: Number(f.get("year")), items };
    if (body.kind === "monthly") body.month = Number(f.get("month"));
    try { const p = await api.post("/api/v1/supervision/plans", body); flash(t("saved")); load(); show(p.id); } catch (err) { failed(err); }
  });

  root.append(h("section", { class: "card" }, h("h2", {}, t("plans")), filter, list),
    h("section", { class: "card" }, detail),
    h("section", { class: "card" }, h("h2", {}, t("file_plan")), fileForm));

  async function load() {
    const f = new FormData(filter);
    try {
      const data = await api.get(`/api/v1/supervision/plans${qs({ unit_id: f.get("unit_id"), status: f.get("status") })}`);
      fill(list, table([{ label: "branch", key: "branch_name" },
        { label: "kind", render: (p) => (p.kind === "annual" ? `${p.year} ${t("annual_plan")}` : `${p.year}-${String(p.month).padStart(2, "0")} ${t("monthly_plan")}`) },
        { label: "status", render: (p) => h("span", { class: `pill ${p.status === "approved" ? "ok" : p.status === "returned" ? "bad" : "muted"}` }, t(p.status)) },
        { label: "revision", key: "revision", num: true }, { label: "submitted_at", render: (p) => fmt(p.submitted_at) },
        { label: "", render: (p) => h("button", { class: "link", onclick: () => show(p.id) }, t("open")) }], data));
    } catch (e) { failed(e); }
  }

  async function show(id) {
    try {
      const [p, va] = await Promise.all([api.get(`/api/v1/supervision/plans/${id}`), api.get(`/api/v1/supervision/plans/${id}/vs-actual`)]);
      const reason = input("reason");
      const review = async (decision) => {
        fieldError(reason, "");
        if (decision === "return" && !reason.value.trim()) { fieldError(reason, t("reason_needed")); reason.focus(); return; }
        try { await api.post(`/api/v1/supervision/plans/${id}/review`, { decision, reason: reason.value }); flash(t("saved")); load(); show(id); } catch (e) { failed(e); }
      };
      fill(detail, h("h2", {}, `${p.branch_name} · ${p.year}${p.month ? `-${p.month}` : ""} · ${t(p.status)}`),
        p.return_reason ? h("p", { class: "note bad" }, `${t("return_reason")}: ${p.return_reason}`) : null,
        table([{ label: "date", key: "planned_date" }, { label: "meeting_type", render: (i) => name[i.meeting_type] || i.meeting_type },
          { label: "topic", key: "topic" }, { label: "form", key: "form" }], p.items),
        ["submitted", "resubmitted"].includes(p.status) ? h("div", { class: "filters" }, field("return_reason", reason),
          h("button", { onclick: () => review("approve") }, t("approve")), h("button", { class: "danger", onclick: () => review("return") }, t("return"))) : null,
        h("h3", {}, `${t("vs_actual")}: ${va.held}/${va.planned}`),
        table([{ label: "meeting_type", render: (r) => name[r.meeting_type] || r.meeting_type }, { label: "planned_date", key: "planned_date" },
          { label: "topic", key: "topic" }, { label: "status", render: (r) => h("span", { class: `pill ${r.status === "held" ? "ok" : r.status === "not_held" ? "bad" : "muted"}` }, t(`plan_${r.status}`)) },
          { label: "held_on", key: "held_on" }], va.rows),
        h("h3", {}, t("reviews")),
        table([{ label: "revision", key: "revision", num: true }, { label: "decision", render: (r) => t(r.decision) }, { label: "reason", key: "reason" },
          { label: "reviewer", key: "reviewer" }, { label: "time", render: (r) => fmt(r.at) }], p.reviews));
      detail.scrollIntoView({ behavior: "smooth" });
    } catch (e) { failed(e); }
  }
  load();
}
