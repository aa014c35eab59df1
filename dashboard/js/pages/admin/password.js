// 修改密码: every signed-in person changes their own password (the forced
// change of a given password is the shell's sign-in step).
import { busy, checkAll, ensureCss, field, h, makeT, section } from "./dom.js";

export async function renderPassword(el, _params, ctx) {
  ensureCss();
  const t = makeT(ctx);
  const current = field(t("pw_current"), h("input", { type: "password", name: "my-current", autocomplete: "current-password" }),
    { required: true, requiredText: t("need_password") });
  const next = field(t("pw_new"), h("input", { type: "password", name: "my-new", autocomplete: "new-password" }),
    { required: true, requiredText: t("need_password"), validate: (v) => (v.length < 8 ? t("short_password") : "") });
  const again = field(t("pw_again"), h("input", { type: "password", name: "my-again", autocomplete: "new-password" }),
    { validate: (v) => (v !== next.input.value ? t("pw_mismatch") : "") });
  const save = h("button", { type: "submit" }, t("save"));
  const done = h("p", { class: "adm-ok", role: "status" });
  const form = h("form", { class: "adm-form", novalidate: true }, current, next, again, save);
  form.addEventListener("submit", busy(save, async (ev) => {
    ev.preventDefault();
    done.textContent = "";
    if (!checkAll([current, next, again])) return;
    try {
      await ctx.api.post("/api/v1/auth/password", { current_password: current.input.value, new_password: next.input.value });
      for (const f of [current, next, again]) f.input.value = "";
      done.textContent = t("pw_changed");
    } catch (err) {
      (err && err.code === "wrong_password" ? current : next).show(t.err(err));
    }
  }));
  el.replaceChildren(h("div", { class: "adm-page" }, h("h1", {}, t("nav_password")),
    section(t("nav_password"), form, done, h("p", { class: "adm-hint" }, t("pw_hint")))));
}
