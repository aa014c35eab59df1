// The branch secretary's pages (支部书记, role branch_secretary, scoped to one
// branch) under /my/..., its landing page /my/inbox; and the township's plan
// review (/supervision/review), the other half of 组织生活预审.
import { forgetTypes } from "./common.js";

const SECRETARY = ["branch_secretary"];
const REVIEWERS = ["county_admin", "township_operator"];
const page = (load) => async (el, params, ctx) => (await load()).render(el, params, ctx);

export const routes = [
  { path: "/my", roles: SECRETARY, render: (_el, _p, ctx) => ctx.navigate("/my/inbox", { replace: true }) },
  { path: "/my/inbox", title: "my.inbox", nav: "my", roles: SECRETARY, home: SECRETARY, render: page(() => import("./inbox.js")) },
  { path: "/my/plans", title: "my.plans", nav: "my", roles: SECRETARY, render: page(() => import("./plans.js")) },
  { path: "/my/rectification", title: "my.rectification", nav: "my", roles: SECRETARY, render: page(() => import("./rectification.js")) },
  { path: "/my/leave", title: "my.leave", nav: "my", roles: SECRETARY, render: page(() => import("./leave.js")) },
  { path: "/my/compliance", title: "my.compliance", nav: "my", roles: SECRETARY, render: page(() => import("./compliance.js")) },
  { path: "/supervision/review", title: "my.review", nav: "supervision", roles: REVIEWERS, render: page(() => import("./review.js")) },
];

export function onSignOut() { forgetTypes(); }
