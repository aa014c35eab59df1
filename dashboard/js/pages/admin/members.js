// 党员花名册: import a roster (CSV/XLSX) and fix each bad row in the page,
// edit a member, status (正式/预备/免计/转出), committee roles.
import { branchPicker, busy, ensureCss, field, h, makeT, section, select, table } from "./dom.js";

const FIELDS = ["name", "member_no", "phone", "status", "excused", "excused_reason", "committee", "committee_role"];

// The four states a roster shows, over the hub's fields.
function standing(m) {
  if (!m.active) return "transferred";
  if (m.excused) return "excused";
  return m.status;
}

export async function renderMembers(el, params, ctx) {
  ensureCss();
  const t = makeT(ctx);
  const units = await ctx.api.get("/api/v1/org-units");
  const branchSel = branchPicker(units, params);
  const rosterBox = h("div", {});
  const importBox = h("div", { class: "adm-import-result" });
  const fileInput = h("input", { type: "file", name: "roster-file", accept: ".csv,.xlsx" });
  const file = field(t("roster_file"), fileInput, { required: true, requiredText: t("need_file") });
  const upload = h("button", { type: "submit" }, t("import"));
  const form = h("form", { class: "adm-form", novalidate: true }, file, upload,
    h("p", { class: "adm-hint" }, t("roster_hint")));
  form.addEventListener("submit", busy(upload, async (ev) => {
    ev.preventDefault();
    if (!fileInput.files.length) { file.show(t("need_file")); return; }
    const data = new FormData();
    data.append("file", fileInput.files[0]);
    try {
      const report = await ctx.api.form(`/api/v1/branches/${branchSel.value}/roster`, data);
      showReport(report);
      await loadRoster();
    } catch (err) {
      file.show(t.err(err));
    }
  }));

  function rowReason(e) {
    const text = ctx.t(`admin.roster_err_${e.code}`, { row: e.row, value: (e.values || {})[e.field] || "" });
    return text && !text.startsWith("admin.") ? text : t("roster_err_other");
  }

  // Bad rows as an editable table; "send again" posts only these rows.
  function showReport(report) {
    const summary = h("p", { class: report.errors.length ? "adm-warn" : "adm-ok", role: "status" },
      t("import_summary", { created: report.created, updated: report.updated, bad: report.errors.length }));
    if (!report.errors.length) { importBox.replaceChildren(summary); return; }
    const editors = report.errors.map((e) => {
      const inputs = {};
      const cells = FIELDS.map((f) => {
        const input = h("input", { value: (e.values || {})[f] || "", name: `fix-${e.row}-${f}`, "aria-label": t(`col_${f}`) });
        if (f === e.field) input.classList.add("adm-bad");
        inputs[f] = input;
        return h("td", {}, input);
      });
      const tr = h("tr", { dataset: { row: e.row } }, h("td", {}, String(e.row)),
        h("td", { class: "adm-reason" }, rowReason(e)), cells);
      return { row: e.row, inputs, tr };
    });
    const resend = h("button", { type: "button" }, t("resend_rows"));
    resend.addEventListener("click", busy(resend, async () => {
      const rows = editors.map((x) => ({
        row: x.row, values: Object.fromEntries(FIELDS.map((f) => [f, x.inputs[f].value.trim()])) }));
      try {
        const again = await ctx.api.post(`/api/v1/branches/${branchSel.value}/roster/rows`, { rows });
        showReport(again);
        await loadRoster();
      } catch (err) {
        importBox.append(h("p", { class: "adm-msg", role: "alert" }, t.err(err)));
      }
    }));
    importBox.replaceChildren(summary, h("h3", {}, t("bad_rows")),
      table([t("col_row"), t("col_reason"), ...FIELDS.map((f) => t(`col_${f}`))], editors.map((x) => x.tr)),
      resend);
  }

  function editor(m, tr) {
    const name = field(t("col_name"), h("input", { value: m.name, maxlength: 100, name: "edit-name" }),
      { required: true, requiredText: t("need_name") });
    const phone = field(t("col_phone"), h("input", { value: m.phone || "", maxlength: 32, name: "edit-phone" }),
      { validate: (v) => (v && !/^[+\d][\d\s-]*$/.test(v) ? t("bad_phone") : "") });
    const st = field(t("col_standing"), select(
      ["full", "probationary", "excused", "transferred"].map((s) => [s, t(`standing_${s}`)]), standing(m)));
    st.input.name = "edit-standing";
    const reason = field(t("col_excused_reason"), h("input", { value: m.excused_reason || "", maxlength: 200, name: "edit-reason" }),
      { validate: (v) => (st.input.value === "excused" && !v ? t("need_reason") : "") });
    const committee = field(t("col_committee"), h("input", { type: "checkbox", checked: m.committee, name: "edit-committee" }));
    const role = field(t("col_committee_role"), h("input", { value: m.committee_role || "", maxlength: 40, name: "edit-role" }));
    const save = h("button", { type: "button" }, t("save"));
    const msg = h("div", { class: "adm-msg", role: "alert" });
    save.addEventListener("click", busy(save, async () => {
      if (![name, phone, reason].map((f) => f.check()).every(Boolean)) return;
      const s = st.input.value;
      const body = {
        name: name.input.value.trim(), phone: phone.input.value.trim() || null,
        active: s !== "transferred", excused: s === "excused",
        excused_reason: reason.input.value.trim() || null,
        committee: committee.input.checked || Boolean(role.input.value.trim()),
        committee_role: role.input.value.trim() || null,
      };
      if (s === "full" || s === "probationary") body.status = s;
      try {
        await ctx.api.patch(`/api/v1/members/${m.id}`, body);
        ctx.toast(t("saved"), "ok");
        await loadRoster();
      } catch (err) {
        msg.textContent = t.err(err);
      }
    }));
    const cancel = h("button", { type: "button", class: "secondary", onclick: () => loadRoster() }, t("cancel"));
    tr.replaceWith(h("tr", { class: "adm-editing" }, h("td", { colspan: 7 },
      h("div", { class: "adm-form" }, name, phone, st, reason, committee, role, save, cancel, msg))));
  }

  async function loadRoster() {
    if (!branchSel.value) { rosterBox.replaceChildren(h("p", {}, t("no_branch"))); return; }
    const members = await ctx.api.get(`/api/v1/branches/${branchSel.value}/members?include_inactive=true`);
    const rows = members.map((m) => {
      const tr = h("tr", { dataset: { member: m.member_no } });
      tr.append(...[h("code", {}, m.member_no), m.name, m.phone || "", t(`standing_${standing(m)}`),
        m.excused_reason || "", m.committee ? (m.committee_role || t("yes")) : "",
        h("button", { type: "button", class: "secondary", onclick: () => editor(m, tr) }, t("edit"))]
        .map((c) => h("td", {}, c)));
      return tr;
    });
    rosterBox.replaceChildren(table([t("col_member_no"), t("col_name"), t("col_phone"), t("col_standing"),
      t("col_excused_reason"), t("col_committee_role"), t("actions")], rows, { empty: t("roster_empty") }),
    h("p", { class: "adm-hint" }, t("roster_count", { n: members.filter((m) => m.active).length })));
  }

  branchSel.addEventListener("change", () => { importBox.replaceChildren(); loadRoster().catch(showLoadError); });
  const showLoadError = (err) => rosterBox.replaceChildren(h("p", { class: "adm-msg", role: "alert" }, t.err(err)));
  el.replaceChildren(h("div", { class: "adm-page" }, h("h1", {}, t("nav_members")),
    h("div", { class: "adm-form" }, field(t("branch"), branchSel)),
    section(t("import_roster"), form, importBox), section(t("roster"), rosterBox)));
  await loadRoster().catch(showLoadError);
}
