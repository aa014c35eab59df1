// 通知: the outbox with delivery status; reminders to a branch's committee.
import { api, fill, failed, has, field, flash, fmt, h, input, qs, select, t, table, unitPicker } from "./core.js";

export async function render(root) {
  const summary = h("div", { class: "stats" });
  const list = h("div");
  const filter = h("form", { class: "filters" }, field("unit", await unitPicker()),
    field("channel", select("channel", [["", t("all")], ["app", t("app")], ["sms", t("sms")]])),
    field("status", select("status", [["", t("all")], ...["queued", "sending", "sent", "failed", "read"].map((s) => [s, t(`n_${s}`)])])),
    h("button", { type: "submit" }, t("show")));
  filter.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  const remind = h("form", { class: "filters" }, field("branch", await unitPicker("branch_id", { kinds: ["branch"], blank: false })),
    field("text", input("text", { required: true, size: 40, value: "请按时召开本月主题党日并全程录像。" })),
    field("sms", input("sms", { type: "checkbox" })), h("button", { type: "submit" }, t("send_reminder")));
  remind.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData(remind).entries());
    try {
      const r = await api.post("/api/v1/supervision/notifications/reminder", { branch_id: Number(f.branch_id), text: f.text, channels: f.sms ? ["app", "sms"] : ["app"] });
      flash(`${t("queued")}: ${r.created}`); load();
    } catch (err) { failed(err); }
  });
  root.append(h("section", { class: "card" }, h("h2", {}, t("notifications")), summary, filter, list),
    h("section", { class: "card" }, h("h2", {}, t("send_reminder")), remind));

  async function load() {
    const f = Object.fromEntries(new FormData(filter).entries());
    try {
      const [s, rows] = await Promise.all([api.get(`/api/v1/supervision/notifications/summary${qs({ unit_id: f.unit_id })}`),
        api.get(`/api/v1/supervision/notifications${qs(f)}`)]);
      fill(summary, ...Object.entries(s).flatMap(([ch, st]) => Object.entries(st).map(([k, n]) =>
        h("div", { class: "stat" }, h("b", {}, n), h("span", {}, `${t(ch)} · ${t(`n_${k}`)}`)))));
      fill(list, table([{ label: "time", render: (n) => fmt(n.created_at) }, { label: "channel", render: (n) => t(n.channel) },
        { label: "kind", render: (n) => (has(`sv.${n.kind}`) ? t(n.kind) : t("other_kind")) }, { label: "recipient", render: (n) => `${n.recipient}${n.phone ? ` ${n.phone}` : ""}` },
        { label: "text", key: "text" },
        { label: "status", render: (n) => h("span", { class: `pill ${{ sent: "ok", read: "ok", failed: "bad", queued: "muted", sending: "warn" }[n.status]}` }, t(`n_${n.status}`)) },
        { label: "attempts", key: "attempts", num: true },
        { label: "last_error", render: (n) => (n.last_error ? h("span", { title: n.last_error }, t("send_error")) : "—") },
        { label: "", render: (n) => (n.status === "failed" ? h("button", { class: "link", onclick: async () => {
          try { await api.post(`/api/v1/supervision/notifications/${n.id}/retry`); load(); } catch (e) { failed(e); } } }, t("retry")) : "") }], rows));
    } catch (e) { failed(e); }
  }
  load();
}
