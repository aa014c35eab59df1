// 组织架构: create, rename, move and deactivate the units of one's area.
import { busy, checkAll, ensureCss, field, h, makeT, section, select, table, unitOptions } from "./dom.js";

const KINDS = ["township", "branch", "other"];

export async function renderOrgs(el, _params, ctx) {
  ensureCss();
  const t = makeT(ctx);
  const kindName = (k) => t(`kind_${k}`);
  let units = [];
  const list = h("div", {});
  const name = field(t("unit_name"), h("input", { name: "unit-name", maxlength: 200 }),
    { required: true, requiredText: t("need_name") });
  const kind = field(t("unit_kind"), select(KINDS.map((k) => [k, kindName(k)]), "branch"));
  kind.input.name = "unit-kind";
  const parentSel = select([]);
  parentSel.name = "unit-parent";
  const parent = field(t("unit_parent"), parentSel, { required: true, requiredText: t("need_parent") });
  const code = field(t("unit_code"), h("input", { name: "unit-code", maxlength: 64 }));
  const create = h("button", { type: "submit" }, t("create"));
  const form = h("form", { class: "adm-form", novalidate: true }, name, kind, parent, code, create);
  form.addEventListener("submit", busy(create, async (ev) => {
    ev.preventDefault();
    if (!checkAll([name, parent])) return;
    const body = { name: name.input.value.trim(), kind: kind.input.value, parent_id: Number(parentSel.value) };
    if (code.input.value.trim()) body.code = code.input.value.trim();
    try {
      const unit = await ctx.api.post("/api/v1/org-units", body);
      ctx.toast(t("unit_created", { name: unit.name }), "ok");
      name.input.value = "";
      code.input.value = "";
      await load();
    } catch (err) {
      parent.show(t.err(err));
    }
  }));

  function row(u) {
    const depth = u.path.split("/").length - units[0].path.split("/").length;
    const mine = u.id === ctx.me.scope_id;
    const status = h("td", {}, u.active === false ? t("inactive") : t("active"));
    const actions = h("td", { class: "adm-actions" });
    const tr = h("tr", { dataset: { unit: u.name }, class: u.active === false ? "adm-off" : "" },
      h("td", {}, h("span", { class: "adm-indent" }, "　".repeat(Math.max(0, depth))), u.name),
      h("td", {}, kindName(u.kind)), h("td", {}, u.code ? h("code", {}, u.code) : ""), status, actions);
    if (mine) return tr;
    const msg = h("div", { class: "adm-msg", role: "alert" });
    const edit = (mode) => {
      actions.replaceChildren();
      const input = mode === "rename" ? h("input", { value: u.name, maxlength: 200, name: "rename" })
        : select(unitOptions(units.filter((p) => p.kind !== "branch" && !p.path.startsWith(u.path))), u.parent_id);
      const save = h("button", { type: "button" }, t("save"));
      save.addEventListener("click", busy(save, async () => {
        const value = input.value.trim();
        if (!value) { msg.textContent = mode === "rename" ? t("need_name") : t("need_parent"); return; }
        const body = mode === "rename" ? { name: value } : { parent_id: Number(value) };
        try {
          await ctx.api.patch(`/api/v1/org-units/${u.id}`, body);
          ctx.toast(t("saved"), "ok");
          await load();
        } catch (err) {
          msg.textContent = t.err(err);
        }
      }));
      const cancel = h("button", { type: "button", class: "secondary", onclick: () => { fill(); } }, t("cancel"));
      actions.append(input, save, cancel, msg);
    };
    const toggle = async () => {
      try {
        await ctx.api.patch(`/api/v1/org-units/${u.id}`, { active: u.active === false });
        ctx.toast(t("saved"), "ok");
        await load();
      } catch (err) {
        msg.textContent = t.err(err);
      }
    };
    function fill() {
      actions.replaceChildren(
        h("button", { type: "button", class: "secondary", onclick: () => edit("rename") }, t("rename")),
        h("button", { type: "button", class: "secondary", onclick: () => edit("move") }, t("move")),
        h("button", { type: "button", class: "secondary", onclick: toggle },
          u.active === false ? t("activate") : t("deactivate")),
        msg);
    }
    fill();
    return tr;
  }

  async function load() {
    units = await ctx.api.get("/api/v1/org-units");
    const cur = parentSel.value;
    parentSel.replaceChildren(...unitOptions(units.filter((u) => u.kind !== "branch"))
      .map(([v, l]) => h("option", { value: v }, l)));
    if (cur && units.some((u) => String(u.id) === cur)) parentSel.value = cur;
    list.replaceChildren(table([t("unit_name"), t("unit_kind"), t("unit_code"), t("status"), t("actions")],
      units.map(row), { empty: t("none") }));
  }

  el.replaceChildren(h("div", { class: "adm-page" }, h("h1", {}, t("nav_orgs")),
    section(t("new_unit"), form), section(t("unit_tree"), list)));
  try {
    await load();
  } catch (err) {
    list.replaceChildren(h("p", { class: "adm-msg", role: "alert" }, t.err(err)));
  }
}
