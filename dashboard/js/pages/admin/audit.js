// 审计日志: filter by who, what, which unit and when; export what the
// filter finds as CSV.
import { lang } from "../../shell/i18n.js";
import { busy, ensureCss, field, fmtTime, h, isoFromInput, makeT, section, select, table, unitOptions } from "./dom.js";

export async function renderAudit(el, _params, ctx) {
  ensureCss();
  const t = makeT(ctx);
  // Actions and details in words come from the hub (hub/audit/labels.py), which
  // writes the same words into the CSV; the codes stay for IT.
  const [units, actions] = await Promise.all([ctx.api.get("/api/v1/org-units"), ctx.api.get("/api/v1/audit/action-labels")]);
  const unitName = (id) => (units.find((u) => u.id === id) || {}).name || "";
  const inLang = (zh, en) => (lang() === "en" ? en || zh : zh);
  const actor = field(t("actor"), h("input", { name: "f-actor", maxlength: 100 }));
  const action = field(t("action"), select([["", t("all")], ...actions.map((a) => [a.code, inLang(a.zh, a.en)])]));
  action.input.name = "f-action";
  const unit = field(t("unit"), select([["", t("all")], ...unitOptions(units, { activeOnly: false })]));
  unit.input.name = "f-unit";
  const since = field(t("since"), h("input", { type: "datetime-local", name: "f-since" }));
  const until = field(t("until"), h("input", { type: "datetime-local", name: "f-until" }),
    { validate: (v) => (v && since.input.value && v <= since.input.value ? t("end_before_start") : "") });
  const search = h("button", { type: "submit" }, t("search"));
  const exportBtn = h("button", { type: "button", class: "secondary" }, t("export_csv"));
  const result = h("div", {});
  const form = h("form", { class: "adm-form", novalidate: true }, actor, action, unit, since, until, search, exportBtn);

  function query() {
    const q = new URLSearchParams();
    if (actor.input.value.trim()) q.set("actor", actor.input.value.trim());
    if (action.input.value) q.set("action", action.input.value);
    if (unit.input.value) q.set("unit_id", unit.input.value);
    if (since.input.value) q.set("since", isoFromInput(since.input.value));
    if (until.input.value) q.set("until", isoFromInput(until.input.value));
    return q;
  }

  async function load() {
    if (!until.check()) return;
    try {
      const entries = await ctx.api.get(`/api/v1/audit?${query()}&limit=500`);
      result.replaceChildren(h("p", { class: "adm-hint", role: "status" }, t("audit_count", { n: entries.length })),
        table([t("time"), t("actor"), t("action"), t("target"), t("unit"), t("address"), t("detail"), t("action_code")],
          entries.map((e) => h("tr", { dataset: { action: e.action, actor: e.actor } },
            [fmtTime(e.at), h("code", {}, e.actor), h("span", { class: "adm-action" }, inLang(e.action_zh, e.action_en)),
              h("code", {}, e.target), unitName(e.branch_id), e.address ? h("code", {}, e.address) : "",
              Object.keys(e.detail || {}).length ? h("span", { class: "adm-detail", title: JSON.stringify(e.detail) },
                inLang(e.detail_zh, e.detail_en)) : "",
              h("code", { class: "adm-code-col" }, e.action)]
              .map((c) => h("td", {}, c)))), { empty: t("none") }));
    } catch (err) {
      result.replaceChildren(h("p", { class: "adm-msg", role: "alert" }, t.err(err)));
    }
  }

  form.addEventListener("submit", busy(search, async (ev) => { ev.preventDefault(); await load(); }));
  exportBtn.addEventListener("click", busy(exportBtn, async () => {
    if (!until.check()) return;
    try {
      await ctx.api.download(`/api/v1/audit/export.csv?${query()}`);
    } catch (err) {
      result.prepend(h("p", { class: "adm-msg", role: "alert" }, t.err(err)));
    }
  }));
  el.replaceChildren(h("div", { class: "adm-page" }, h("h1", {}, t("nav_audit")), section(t("filter"), form), result));
  await load();
}
