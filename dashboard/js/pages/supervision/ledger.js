// 整改台账 and 通报: open, close (销号), evidence, export; overdue into notices.
import { api, fill, checkRequired, confirmDialog, daysAgo, isoDay, download, failed, field, flash, fmt, h, input, promptDialog, qs, select, t, table, today, unitPicker } from "./core.js";

export async function render(root) {
  const list = h("div");
  const filter = h("form", { class: "filters" }, field("unit", await unitPicker()),
    field("status", select("status", [["", t("all")], ["open", t("open_items")], ["closed", t("closed_items")]])),
    field("overdue_only", input("overdue", { type: "checkbox" })),
    h("button", { type: "submit" }, t("show")),
    h("button", { type: "button", class: "secondary", onclick: () => exportLedger() }, t("export_xlsx")));
  filter.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  const params = () => { const f = new FormData(filter); return { unit_id: f.get("unit_id"), status: f.get("status"), overdue: f.get("overdue") ? "true" : "" }; };
  const exportLedger = () => { const p = params(); delete p.overdue; download(`/api/v1/rectifications/export.xlsx${qs(p)}`, "整改台账.xlsx").catch(failed); };

  const types = Object.fromEntries((await api.get("/api/v1/meeting-types").catch(() => [])).map((x) => [x.code, x.name_zh]));
  const branchPick = await unitPicker("branch_id", { kinds: ["branch"], blank: false });
  const meetingPick = select("evidence_meeting_id", [["", t("none_chosen")]]);
  const fillMeetings = async () => {
    if (!branchPick.value) return;
    try {
      const list = await api.get(`/api/v1/meetings${qs({ branch_id: branchPick.value, limit: 50 })}`);
      fill(meetingPick, ...[["", t("none_chosen")], ...list.filter((m) => m.started_at).map((m) => [m.id, meetingName(m, types)])]
        .map(([v, l]) => h("option", { value: v }, l)));
    } catch (err) { failed(err); }
  };
  branchPick.addEventListener("change", fillMeetings);
  fillMeetings();
  const create = h("form", { class: "stack", novalidate: true },
    h("div", { class: "filters" }, field("branch", branchPick),
      field("deadline", input("deadline", { type: "date", required: true, min: today() })),
      field("responsible", input("responsible", { required: true }))),
    field("problem", h("textarea", { name: "problem", required: true, rows: 2 })),
    field("measures", h("textarea", { name: "measures", required: true, rows: 2 })),
    h("div", { class: "filters" }, field("evidence_meeting", meetingPick),
      field("evidence_at", input("evidence_at", { type: "number", min: 0, step: "any", placeholder: t("seconds") }))),
    h("button", { type: "submit" }, t("open_item")));
  create.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!checkRequired(create)) return;
    const f = Object.fromEntries(new FormData(create).entries());
    const body = { branch_id: Number(f.branch_id), problem: f.problem, measures: f.measures, deadline: f.deadline, responsible: f.responsible };
    if (f.evidence_meeting_id) body.evidence_meeting_id = f.evidence_meeting_id.trim();
    if (f.evidence_at) body.evidence_at = Number(f.evidence_at);
    try { await api.post("/api/v1/rectifications", body); flash(t("saved")); create.reset(); load(); } catch (err) { failed(err); }
  });

  const notices = h("div");
  const draft = h("form", { class: "filters" }, field("unit", await unitPicker()),
    field("since", input("period_start", { type: "date", value: daysAgo(90) })),
    field("until", input("period_end", { type: "date", value: today() })),
    h("button", { type: "submit" }, t("draft_notice")));
  draft.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData(draft).entries());
    try {
      await api.post("/api/v1/supervision/notices", { period_start: f.period_start, period_end: f.period_end, unit_id: f.unit_id ? Number(f.unit_id) : null });
      flash(t("saved")); loadNotices();
    } catch (err) { failed(err); }
  });

  root.append(h("section", { class: "card" }, h("h2", {}, t("ledger")), filter, list),
    h("section", { class: "card" }, h("h2", {}, t("open_item")), create),
    h("section", { class: "card" }, h("h2", {}, t("notices")), draft, notices));

  async function load() {
    try {
      const rows = await api.get(`/api/v1/rectifications${qs(params())}`);
      rows.forEach((r) => { r._class = r.overdue && r.status === "open" ? "overdue" : ""; });
      fill(list, table([{ label: "branch", key: "branch_name" }, { label: "problem", key: "problem" }, { label: "measures", key: "measures" },
        { label: "deadline", key: "deadline" }, { label: "responsible", key: "responsible" },
        { label: "status", render: (r) => h("span", { class: `pill ${r.status === "closed" ? (r.overdue ? "warn" : "ok") : r.overdue ? "bad" : "muted"}` },
          r.status === "closed" ? t("closed_items") : r.overdue ? t("overdue") : t("open_items")) },
        { label: "closed_on", render: (r) => (r.closed_on ? `${r.closed_on}（${r.verified_by}）` : "—") },
        { label: "evidence", render: (r) => evidence(r) },
        { label: "", render: (r) => (r.status === "open" ? h("button", { class: "link", onclick: () => close(r) }, t("close_item")) : "") }], rows));
    } catch (e) { failed(e); }
  }
  function evidence(r) {
    const links = r.evidence.map((ev) => h("a", { href: `/api/v1/rectifications/${r.id}/evidence/${ev.id}`, target: "_blank" }, ev.filename));
    if (r.evidence_meeting_id) links.unshift(h("a", { href: `#/playback/${r.evidence_meeting_id}?t=${r.evidence_offset_s || 0}` }, `▶ ${t("recording_at", { s: Math.round(r.evidence_offset_s || 0) })}`));
    const file = h("input", { type: "file", accept: "image/*,application/pdf,.doc,.docx,.xls,.xlsx", hidden: true, onchange: async () => {
      const fd = new FormData(); fd.append("file", file.files[0]);
      try { await api.form(`/api/v1/rectifications/${r.id}/evidence`, fd); flash(t("saved")); load(); } catch (e) { failed(e); }
    } });
    return h("span", { class: "evidence" }, links.flatMap((l) => [l, " "]), r.status === "open" ? h("button", { class: "link", onclick: () => file.click() }, t("upload")) : null, file);
  }
  async function close(r) {
    const note = await promptDialog(`${t("close_item")}：${r.problem}`, { label: "sv.closing_note", required: true });
    if (note === null) return;
    try { await api.post(`/api/v1/rectifications/${r.id}/close`, { note }); flash(t("saved")); load(); } catch (e) { failed(e); }
  }
  async function loadNotices() {
    try {
      const rows = await api.get("/api/v1/supervision/notices");
      fill(notices, table([{ label: "title_col", key: "title" }, { label: "unit", key: "scope_name" },
        { label: "status", render: (n) => h("span", { class: `pill ${n.status === "published" ? "ok" : "muted"}` }, t(n.status)) },
        { label: "items", render: (n) => n.items.length, num: true }, { label: "published_at", render: (n) => fmt(n.published_at) },
        { label: "", render: (n) => h("span", {},
          n.status === "draft" ? h("button", { class: "link", onclick: () => publish(n) }, t("publish")) : null, " ",
          h("button", { class: "link", onclick: () => download(`/api/v1/supervision/notices/${n.id}/export.xlsx`, "通报.xlsx").catch(failed) }, t("export_xlsx"))) }], rows));
    } catch (e) { failed(e); }
  }
  async function publish(n) {
    if (!(await confirmDialog(`${t("publish")}：${n.title}？`, { ok: "sv.publish" }))) return;
    try { await api.post(`/api/v1/supervision/notices/${n.id}/publish`); flash(t("saved")); loadNotices(); } catch (e) { failed(e); }
  }
  load(); loadNotices();
}

/** A meeting as people name it: its (local) day, type and topic. */
function meetingName(m, types) {
  return [isoDay(new Date(m.started_at)), types[m.meeting_type] || "", m.topic || ""].filter(Boolean).join(" ");
}
