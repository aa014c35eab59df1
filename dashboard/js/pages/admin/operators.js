// 操作员: create accounts (role and area), change role or area, deactivate,
// reset a password (shown once; to be changed at the next sign-in).
import { busy, checkAll, confirmBox, ensureCss, field, h, makeT, section, select, table, unitOptions } from "./dom.js";

const ROLES = ["county_admin", "township_operator", "viewer", "branch_secretary"];
// Township operators may create read-only accounts and secretaries for branches in their area.
const TOWNSHIP_MAY_CREATE = ["viewer", "branch_secretary"];

function newPassword() {
  const abc = "abcdefghjkmnpqrstuvwxyzACDEFGHJKLMNPQRSTUVWXYZ23456789";
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => abc[b % abc.length]).join("");
}

export async function renderOperators(el, _params, ctx) {
  ensureCss();
  const t = makeT(ctx);
  const units = await ctx.api.get("/api/v1/org-units");
  const scopes = unitOptions(units, { kinds: ["county", "township", "other", "branch"] });
  const roles = ROLES.filter((r) => ctx.me.role === "county_admin" || TOWNSHIP_MAY_CREATE.includes(r)).map((r) => [r, t(`role_${r}`)]);
  const listBox = h("div", {});
  const secretBox = h("div", { "aria-live": "polite" });

  const username = field(t("username"), h("input", { name: "op-username", maxlength: 64, autocomplete: "off" }), {
    required: true, requiredText: t("need_username"),
    validate: (v) => (/^[A-Za-z0-9_.-]{2,64}$/.test(v) ? "" : t("bad_username")) });
  const display = field(t("display_name"), h("input", { name: "op-display", maxlength: 100 }));
  const password = field(t("first_password"), h("input", { name: "op-password", value: newPassword(), maxlength: 200 }), {
    required: true, requiredText: t("need_password"), validate: (v) => (v.length < 8 ? t("short_password") : "") });
  const role = field(t("role"), select(roles, roles.some(([r]) => r === "township_operator") ? "township_operator" : "viewer"));
  role.input.name = "op-role";
  const scope = field(t("scope"), select(scopes));
  scope.input.name = "op-scope";
  const mustChange = field(t("must_change"), h("input", { type: "checkbox", checked: true, name: "op-must-change" }));
  const create = h("button", { type: "submit" }, t("create"));
  const form = h("form", { class: "adm-form", novalidate: true }, username, display, password, role, scope, mustChange, create);
  form.addEventListener("submit", busy(create, async (ev) => {
    ev.preventDefault();
    if (!checkAll([username, password])) return;
    const body = { username: username.input.value.trim(), password: password.input.value, role: role.input.value,
      scope_id: Number(scope.input.value), display_name: display.input.value.trim(),
      must_change_password: mustChange.input.checked };
    try {
      const op = await ctx.api.post("/api/v1/operators", body);
      secretBox.replaceChildren(h("p", { class: "adm-ok", role: "status" },
        t("operator_created", { name: op.username }), " ", h("code", { class: "adm-secret" }, body.password)));
      username.input.value = "";
      display.input.value = "";
      password.input.value = newPassword();
      await load();
    } catch (err) {
      (err && err.status === 409 ? username : scope).show(t.err(err));
    }
  }));

  function row(o) {
    const msg = h("span", { class: "adm-msg", role: "alert" });
    const actions = h("td", { class: "adm-actions" });
    const tr = h("tr", { dataset: { operator: o.username }, class: o.active ? "" : "adm-off" },
      h("td", {}, h("code", {}, o.username)), h("td", {}, o.display_name), h("td", {}, t(`role_${o.role}`)),
      h("td", {}, o.scope_name), h("td", {}, o.active ? (o.must_change_password ? t("must_change_pending") : t("active"))
        : t("inactive")), actions);
    if (o.id === ctx.me.id) return tr;
    const call = async (work) => { try { await work(); } catch (err) { msg.textContent = t.err(err); } };
    const edit = () => {
      const r = select(roles, o.role);
      const s = select(scopes, o.scope_id);
      const save = h("button", { type: "button" }, t("save"));
      save.addEventListener("click", busy(save, () => call(async () => {
        await ctx.api.patch(`/api/v1/operators/${o.id}`, { role: r.value, scope_id: Number(s.value) });
        ctx.toast(t("saved"), "ok");
        await load();
      })));
      actions.replaceChildren(r, s, save, h("button", { type: "button", class: "secondary", onclick: load }, t("cancel")), msg);
    };
    const reset = h("button", { type: "button", class: "secondary" }, t("reset_password"));
    reset.addEventListener("click", busy(reset, () => call(async () => {
      if (!(await confirmBox(t("reset_confirm", { name: o.username })))) return;
      const res = await ctx.api.post(`/api/v1/operators/${o.id}/password-reset`);
      secretBox.replaceChildren(h("p", { class: "adm-ok", role: "status" },
        t("password_reset_done", { name: o.username }), " ", h("code", { class: "adm-secret" }, res.password)));
      await load();
    })));
    const toggle = h("button", { type: "button", class: o.active ? "danger" : "secondary" },
      o.active ? t("deactivate") : t("activate"));
    toggle.addEventListener("click", busy(toggle, () => call(async () => {
      if (o.active && !(await confirmBox(t("deactivate_confirm", { name: o.username })))) return;
      await ctx.api.patch(`/api/v1/operators/${o.id}`, { active: !o.active });
      await load();
    })));
    actions.append(h("button", { type: "button", class: "secondary", onclick: edit }, t("change_role")), reset, toggle, msg);
    return tr;
  }

  async function load() {
    const ops = await ctx.api.get("/api/v1/operators");
    listBox.replaceChildren(table([t("username"), t("display_name"), t("role"), t("scope"), t("status"), t("actions")],
      ops.map(row), { empty: t("none") }));
  }

  el.replaceChildren(h("div", { class: "adm-page" }, h("h1", {}, t("nav_operators")),
    section(t("new_operator"), form, secretBox), section(t("operators"), listBox)));
  await load().catch((err) => listBox.replaceChildren(h("p", { class: "adm-msg", role: "alert" }, t.err(err))));
}
