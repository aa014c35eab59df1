// 消息与通报 (the branch secretary's landing page): the in-app messages
// addressed to this account, marked read one by one, and the published
// notices (通报) that name this branch.
import { failed, h, t, when } from "./common.js";

export async function render(root, _params, ctx) {
  const { api } = ctx;
  const messages = h("div", { id: "my-messages" });
  const notices = h("div", { id: "my-notices" });
  root.append(h("section", { class: "card" }, h("h2", {}, `${ctx.me.scope_name} · ${t("messages")}`), messages),
    h("section", { class: "card" }, h("h2", {}, t("notices")), notices));

  async function loadMessages() {
    const rows = await api.get("/api/v1/supervision/notifications/inbox");
    messages.replaceChildren(rows.length ? h("div", { class: "stack" }, rows.map((n) => {
      const unread = !n.read_at;
      const button = unread ? h("button", { type: "button", class: "secondary", onclick: async () => {
        button.disabled = true;
        try { await api.post(`/api/v1/supervision/notifications/${n.id}/read`); await loadMessages(); } catch (err) { button.disabled = false; failed(err); }
      } }, t("mark_read")) : null;
      return h("div", { class: `card message ${unread ? "unread" : "read"}`, dataset: { id: n.id } },
        h("div", { class: "filters" },
          h("span", { class: `pill ${unread ? "warn" : "muted"}` }, unread ? t("unread") : t("read")),
          h("strong", {}, n.title || t(`kind.${n.kind}`)), h("span", {}, when(n.created_at)), button),
        h("p", { class: "message-text" }, n.text));
    })) : h("p", { class: "empty" }, t("no_messages")));
  }

  async function loadNotices() {
    const rows = (await api.get("/api/v1/supervision/notices")).filter((n) => n.status === "published" && n.items.length);
    notices.replaceChildren(rows.length ? h("div", { class: "stack" }, rows.map((n) => h("div", {},
      h("h3", {}, `${n.title}（${when(n.published_at)}）`),
      h("ul", {}, n.items.map((i) => h("li", {}, `${i.problem} · ${t("deadline")} ${i.deadline} · ${t("days_overdue", { n: i.days_overdue })}`))))))
      : h("p", { class: "empty" }, t("no_notices")));
  }

  await Promise.all([loadMessages(), loadNotices()]);
}
