// 会议安排: schedule, edit, cancel; for one meeting: leave requests and
// check-ins confirmed by staff, each with its reason.
import {
  busy, checkAll, confirmBox, ensureCss, field, fmtTime, h, isoFromInput, localInput, makeT, section, select, table,
  unitOptions,
} from "./dom.js";

export async function renderMeetings(el, params, ctx) {
  ensureCss();
  const t = makeT(ctx);
  const [units, types] = await Promise.all([ctx.api.get("/api/v1/org-units"), ctx.api.get("/api/v1/meeting-types")]);
  const typeName = (code) => (types.find((x) => x.code === code) || {}).name_zh || code;
  const branches = unitOptions(units, { kinds: ["branch"] });
  const branchName = (id) => (units.find((u) => u.id === id) || {}).name || "";
  const branchSel = select(branches, (params.query && params.query.get("branch")) || (branches[0] || [""])[0]);
  branchSel.name = "branch";
  const listBox = h("div", {});
  const detailBox = h("div", {});

  // One form for a new meeting and for changing a scheduled one.
  function meetingForm(m, onDone) {
    const type = field(t("meeting_type"), select(types.map((x) => [x.code, x.name_zh]), m ? m.meeting_type : undefined));
    type.input.name = "m-type";
    const topic = field(t("topic"), h("input", { name: "m-topic", maxlength: 300, value: m ? m.topic : "" }),
      { required: true, requiredText: t("need_topic") });
    const start = field(t("start"), h("input", { type: "datetime-local", name: "m-start",
      value: m ? localInput(m.scheduled_start) : "" }), { required: true, requiredText: t("need_start") });
    const end = field(t("end"), h("input", { type: "datetime-local", name: "m-end", value: m ? localInput(m.scheduled_end) : "" }),
      { validate: (v) => (v && start.input.value && v <= start.input.value ? t("end_before_start") : "") });
    const submit = h("button", { type: "submit" }, m ? t("save") : t("schedule"));
    const form = h("form", { class: "adm-form", novalidate: true }, type, topic, start, end, submit);
    form.addEventListener("submit", busy(submit, async (ev) => {
      ev.preventDefault();
      if (!checkAll([topic, start, end])) return;
      const body = { meeting_type: type.input.value, topic: topic.input.value.trim(),
        scheduled_start: isoFromInput(start.input.value), scheduled_end: isoFromInput(end.input.value) };
      try {
        const saved = m ? await ctx.api.patch(`/api/v1/meetings/${m.id}`, body)
          : await ctx.api.post(`/api/v1/branches/${branchSel.value}/meetings`, body);
        ctx.toast(m ? t("saved") : t("scheduled_ok", { topic: saved.topic }), "ok");
        if (!m) { topic.input.value = ""; start.input.value = ""; end.input.value = ""; }
        await onDone(saved);
      } catch (err) {
        end.show(t.err(err));
      }
    }));
    return form;
  }

  async function showDetail(m) {
    const [members, leaves, attendance] = await Promise.all([
      ctx.api.get(`/api/v1/branches/${m.branch_id}/members`),
      ctx.api.get(`/api/v1/meetings/${m.id}/leave-requests`),
      ctx.api.get(`/api/v1/meetings/${m.id}/attendance`)]);
    const memberName = (id) => (members.find((x) => x.id === id) || {}).name || "";
    const memberOpts = members.map((x) => [String(x.id), `${x.name}（${x.member_no}）`]);
    const personForm = (label, url, done) => {
      const who = field(t("member"), select(memberOpts));
      who.input.name = `${label}-member`;
      const reason = field(t("reason"), h("input", { name: `${label}-reason`, maxlength: 300 }),
        { required: true, requiredText: t("need_reason") });
      const submit = h("button", { type: "submit" }, t(label));
      const form = h("form", { class: "adm-form", novalidate: true }, who, reason, submit);
      form.addEventListener("submit", busy(submit, async (ev) => {
        ev.preventDefault();
        if (!reason.check()) return;
        try {
          await ctx.api.post(url, { member_id: Number(who.input.value), reason: reason.input.value.trim() });
          ctx.toast(t(done), "ok");
          await showDetail(m);
        } catch (err) {
          reason.show(t.err(err));
        }
      }));
      return form;
    };
    const method = (a) => (a.method === "staff" ? t("method_staff") : t("method_fingerprint"));
    detailBox.replaceChildren(section(t("meeting_detail", { topic: m.topic || typeName(m.meeting_type) }),
      h("p", {}, `${branchName(m.branch_id)} · ${typeName(m.meeting_type)} · ${t(`mst_${m.status}`)} · ${fmtTime(m.scheduled_start || m.started_at)}`),
      h("h3", {}, t("leave_requests")),
      table([t("member"), t("reason"), t("filed_by"), t("filed_at")],
        leaves.map((l) => [memberName(l.member_id), l.reason, l.filed_by ? h("code", {}, l.filed_by) : "", fmtTime(l.filed_at)]), { empty: t("none") }),
      m.status === "scheduled" || m.status === "live" ? personForm("record_leave", `/api/v1/meetings/${m.id}/leave-requests`, "leave_ok") : null,
      h("h3", {}, t("checkins")),
      table([t("member"), t("method"), t("reason"), t("checked_in_at")],
        attendance.map((a) => [a.name, method(a), a.reason || "", fmtTime(a.checked_in_at)]), { empty: t("none") }),
      m.status === "live" ? personForm("staff_checkin", `/api/v1/meetings/${m.id}/checkins`, "checkin_ok")
        : h("p", { class: "adm-hint" }, t("staff_checkin_live_only"))));
    detailBox.scrollIntoView({ block: "start" });
  }

  async function load() {
    if (!branchSel.value) { listBox.replaceChildren(h("p", {}, t("no_branch"))); return; }
    const meetings = await ctx.api.get(`/api/v1/meetings?branch_id=${branchSel.value}&limit=100`);
    listBox.replaceChildren(table([t("meeting_type"), t("topic"), t("status"), t("start"), t("actions")],
      meetings.map((m) => {
        const msg = h("span", { class: "adm-msg", role: "alert" });
        const actions = h("td", { class: "adm-actions" },
          h("button", { type: "button", class: "secondary", onclick: () => showDetail(m).catch((e) => { msg.textContent = t.err(e); }) },
            t("details")));
        const tr = h("tr", { dataset: { meeting: m.id, topic: m.topic } }, h("td", {}, typeName(m.meeting_type)),
          h("td", {}, m.topic), h("td", {}, t(`mst_${m.status}`)), h("td", {}, fmtTime(m.scheduled_start || m.started_at)),
          actions);
        if (m.status === "scheduled") {
          actions.append(
            h("button", { type: "button", class: "secondary", onclick: () => {
              tr.replaceWith(h("tr", {}, h("td", { colspan: 5 }, meetingForm(m, load),
                h("button", { type: "button", class: "secondary", onclick: load }, t("cancel")))));
            } }, t("edit")),
            h("button", { type: "button", class: "danger", onclick: async () => {
              if (!(await confirmBox(t("cancel_meeting_confirm", { topic: m.topic })))) return;
              try {
                await ctx.api.post(`/api/v1/meetings/${m.id}/cancel`, { reason: "" });
                await load();
              } catch (err) { msg.textContent = t.err(err); }
            } }, t("cancel_meeting")));
        }
        actions.append(msg);
        return tr;
      }), { empty: t("no_meetings") }));
  }

  const showErr = (err) => listBox.replaceChildren(h("p", { class: "adm-msg", role: "alert" }, t.err(err)));
  branchSel.addEventListener("change", () => { detailBox.replaceChildren(); load().catch(showErr); });
  el.replaceChildren(h("div", { class: "adm-page" }, h("h1", {}, t("nav_meetings")),
    h("div", { class: "adm-form" }, field(t("branch"), branchSel)),
    section(t("new_meeting"), meetingForm(null, load)), section(t("meetings"), listBox), detailBox));
  await load().catch(showErr);
}
