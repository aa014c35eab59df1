// Administration pages (county admins and township operators, each in
// their own area): organisation units, rosters, halls and devices,
// operators, meetings, the audit log.
import { renderAudit } from "./audit.js";
import { renderDevices } from "./devices.js";
import { renderMeetings } from "./meetings.js";
import { renderMembers } from "./members.js";
import { renderOperators } from "./operators.js";
import { renderOrgs } from "./orgs.js";
import { renderPassword } from "./password.js";

const ROLES = ["county_admin", "township_operator"];

export const routes = [
  { path: "/admin/orgs", title: "admin.nav_orgs", roles: ROLES, nav: "admin", render: renderOrgs },
  { path: "/admin/members", title: "admin.nav_members", roles: ROLES, nav: "admin", render: renderMembers },
  { path: "/admin/devices", title: "admin.nav_devices", roles: ROLES, nav: "admin", render: renderDevices },
  { path: "/admin/operators", title: "admin.nav_operators", roles: ROLES, nav: "admin", render: renderOperators },
  { path: "/admin/meetings", title: "admin.nav_meetings", roles: ROLES, nav: "admin", render: renderMeetings },
  { path: "/admin/audit", title: "admin.nav_audit", roles: ROLES, nav: "admin", render: renderAudit },
  // Everyone, whatever the role, changes their own password here.
  { path: "/admin/password", title: "admin.nav_password", nav: "admin", render: renderPassword },
];
