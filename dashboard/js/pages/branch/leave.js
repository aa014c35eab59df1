// 请假登记 (the branch secretary): leave for members of the branch, for its
// meetings that have not ended.
import { failed, fieldError, formField, h, t, toast, when } from "./common.js";

export async function render(root, _params, ctx) {
  const { api } = ctx;
  const branchId = ctx.me.scope_id;
  const [meetings, members, types] = await Promise.all([
    api.get(`/api/v1/meetings?branch_id=${branchId}`), api.get(`/api/v1/branches/${branchId}/members`), api.get("/api/v1/meeting-types")]);
  const typeName = Object.fromEntries(types.map((x) => [x.code, x.name_zh]));
  const open = meetings.filter((m) => m.status === "scheduled" || m.status === "live");
  const memberName = Object.fromEntries(members.map((m) => [m.id, m.name]));
  const card = h("section", { class: "card" }, h("h2", {}, `${ctx.me.scope_name} · ${t("leave")}`));
  root.append(card);
  if (!open.length) { card.append(h("p", { class: "empty" }, t("no_meetings"))); return; }
  const label = (m) => `${when(m.scheduled_start || m.started_at)} ${typeName[m.meeting_type] || m.meeting_type}${m.topic ? `：${m.topic}` : ""}`;
  const meeting = h("select", { name: "meeting", required: true }, open.map((m) => h("option", { value: m.id }, label(m))));
  const member = h("select", { name: "member", required: true }, h("option", { value: "" }, t("choose")),
    members.filter((m) => m.active).map((m) => h("option", { value: m.id }, `${m.name}（${m.member_no}）`)));
  const reason = h("input", { name: "reason", required: true, maxlength: 200, size: 30 });
  const listed = h("div", { id: "my-leave-list" });
  const form = h("form", { class: "filters", novalidate: true }, formField("my.meeting", meeting), formField("my.member", member),
    formField("my.reason", reason), h("button", { type: "submit" }, t("record_leave")));
  card.append(form, h("h3", {}, t("leave_list")), listed);

  async function load() {
    const rows = await api.get(`/api/v1/meetings/${meeting.value}/leave-requests`);
    listed.replaceChildren(rows.length ? h("ul", {}, rows.map((r) => h("li", {}, `${memberName[r.member_id] || r.member_id}：${r.reason}（${when(r.filed_at)}）`)))
      : h("p", { class: "empty" }, ctx.t("no_data")));
  }
  meeting.addEventListener("change", () => load().catch(failed));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    let ok = true;
    for (const input of [member, reason]) {
      const empty = !input.value.trim();
      fieldError(input, empty ? ctx.t("field_required", { field: input.closest(".field").querySelector(".field-label").textContent }) : "");
      ok = ok && !empty;
    }
    if (!ok) return;
    try {
      await api.post(`/api/v1/meetings/${meeting.value}/leave-requests`, { member_id: Number(member.value), reason: reason.value.trim() });
      toast(t("leave_saved"));
      reason.value = "";
      await load();
    } catch (err) { failed(err); }
  });
  await load();
}
