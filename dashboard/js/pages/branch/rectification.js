// 整改事项 (the branch secretary): the branch's rectification items and
// the upload of evidence (photos, documents). Closing (销号) stays with the
// township, which verifies the evidence.
import { failed, fieldError, formField, h, t, toast } from "./common.js";

export async function render(root, _params, ctx) {
  const { api } = ctx;
  const list = h("div", { id: "my-items", class: "stack" });
  root.append(h("section", { class: "card" }, h("h2", {}, `${ctx.me.scope_name} · ${t("rectification")}`), list));

  async function load() {
    const items = await api.get("/api/v1/rectifications");
    list.replaceChildren(...(items.length ? items.map(card) : [h("p", { class: "empty" }, t("no_items"))]));
  }

  function card(item) {
    const state = item.status === "closed" ? h("span", { class: "pill ok" }, t("closed"))
      : h("span", { class: `pill ${item.overdue ? "bad" : "warn"}` }, item.overdue ? t("overdue") : t("open"));
    const evidence = item.evidence.length
      ? h("ul", { class: "evidence" }, item.evidence.map((e) => h("li", {},
        h("a", { href: `/api/v1/rectifications/${item.id}/evidence/${e.id}`, target: "_blank", rel: "noopener", translate: "no" }, e.filename))))
      : h("p", { class: "empty" }, t("no_evidence"));
    let upload = null;
    if (item.status !== "closed") {
      const file = h("input", { type: "file", name: "file", accept: "image/*,application/pdf,.doc,.docx,.xls,.xlsx,video/*" });
      const form = h("form", { class: "filters upload" }, formField("my.choose_file", file), h("button", { type: "submit" }, t("upload")));
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        fieldError(file, "");
        if (!file.files.length) { fieldError(file, t("pick_file_first")); return; }
        const data = new FormData();
        data.append("file", file.files[0]);
        try {
          const ev = await api.form(`/api/v1/rectifications/${item.id}/evidence`, data);
          toast(t("uploaded", { name: ev.filename }));
          await load();
        } catch (err) { fieldError(file, ""); failed(err); }
      });
      upload = form;
    }
    return h("div", { class: "card item", dataset: { item: item.id } },
      h("div", { class: "filters" }, state, h("strong", {}, item.problem)),
      h("p", {}, `${t("measures")}：${item.measures}`),
      h("p", {}, `${t("deadline")}：${item.deadline} · ${t("responsible")}：${item.responsible}`,
        item.closed_on ? ` · ${t("closed_on")}：${item.closed_on}` : ""),
      h("h3", {}, t("evidence")), evidence, upload);
  }

  await load();
}
