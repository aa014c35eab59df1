// The supervision pages (督查督办) on the shell: one route per page.
import { forgetUnits } from "./core.js";

const OPERATORS = ["county_admin", "township_operator", "viewer"];
const page = (load) => async (el, params, ctx) => (await load()).render(el, params, ctx);

export const routes = [
  { path: "/supervision", roles: OPERATORS, render: (_el, _p, ctx) => ctx.navigate("/supervision/compliance", { replace: true }) },
  { path: "/supervision/compliance", title: "sv.tab_compliance", nav: "supervision", roles: OPERATORS, render: page(() => import("./compliance.js")) },
  { path: "/supervision/plans", title: "sv.tab_plans", nav: "supervision", roles: OPERATORS, render: page(() => import("./plans.js")) },
  { path: "/supervision/ledger", title: "sv.tab_ledger", nav: "supervision", roles: OPERATORS, render: page(() => import("./ledger.js")) },
  { path: "/supervision/scores", title: "sv.tab_scores", nav: "supervision", roles: OPERATORS, render: page(() => import("./scores.js")) },
  { path: "/supervision/spot-checks", title: "sv.tab_spot_checks", nav: "supervision", roles: OPERATORS, render: page(() => import("./spotchecks.js")) },
  { path: "/supervision/notifications", title: "sv.tab_notifications", nav: "supervision", roles: OPERATORS, render: page(() => import("./notifications.js")) },
  { path: "/supervision/reports", title: "sv.tab_reports", nav: "supervision", roles: OPERATORS, render: page(() => import("./reports.js")) },
];

export function onSignOut() { forgetUnits(); }
