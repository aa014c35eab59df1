// 本支部合规 (the branch secretary): this year's outcome per meeting type
// and period for the branch alone, in Chinese, colours that mean what they say.
import { h, t } from "./common.js";

const TONE = { held_ok: "ok", due: "muted", not_recorded: "warn", no_quorum: "bad", not_held: "bad" };

export async function render(root, _params, ctx) {
  const { api } = ctx;
  const year = new Date().getFullYear();
  const [data, rules] = await Promise.all([
    api.get(`/api/v1/supervision/compliance?since=${year}-01-01&until=${year}-12-31&unit_id=${ctx.me.scope_id}`),
    api.get("/api/v1/supervision/rules")]);
  const ruleName = Object.fromEntries(rules.rules.map((r) => [r.code, r.name_zh]));
  const cells = data.cells.filter((c) => c.period_start <= data.today);
  const count = (f) => cells.filter(f).length;
  root.append(h("section", { class: "card" }, h("h2", {}, `${ctx.me.scope_name} · ${t("compliance")}`),
    h("p", { id: "my-compliance-summary" }, t("summary", {
      ok: count((c) => c.status === "held_ok"), due: count((c) => c.status === "due"),
      bad: count((c) => c.status !== "held_ok" && c.status !== "due") })),
    cells.length ? h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ["rule", "cell_period", "outcome"].map((k) => h("th", {}, t(k))))),
      h("tbody", {}, cells.map((c) => h("tr", {}, h("td", {}, ruleName[c.code] || c.code), h("td", {}, `${c.period_start} ~ ${c.period_end}`),
        h("td", {}, h("span", { class: `pill ${TONE[c.status] || "muted"}` }, t(`out.${c.status}`)))))))
      : h("p", { class: "empty" }, ctx.t("no_data"))));
}
