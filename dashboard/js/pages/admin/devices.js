// 会场设备: register a hall's PC (enrolment code + QR), revoke it, replace
// it (a new code; the old PC's token stops working), and every hall's health.
import qrcode from "../../../vendor/qrcode-generator/qrcode.js";
import { branchPicker, busy, confirmBox, ensureCss, field, fmtTime, h, makeT, section, table } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";

// The enrolment code as a QR code (SVG, drawn module by module): the
// installer's scanner reads the code itself, the same text as shown.
export function qrSvg(text, size = 200) {
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const quiet = 4;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${n + 2 * quiet} ${n + 2 * quiet}`);
  svg.setAttribute("width", String(size));
  svg.setAttribute("height", String(size));
  svg.setAttribute("shape-rendering", "crispEdges");
  svg.setAttribute("class", "adm-qr");
  const bg = document.createElementNS(SVG, "rect");
  bg.setAttribute("width", "100%");
  bg.setAttribute("height", "100%");
  bg.setAttribute("fill", "#fff");
  svg.append(bg);
  let d = "";
  for (let r = 0; r < n; r += 1) {
    for (let c = 0; c < n; c += 1) if (qr.isDark(r, c)) d += `M${c + quiet},${r + quiet}h1v1h-1z`;
  }
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", d);
  path.setAttribute("fill", "#000");
  svg.append(path);
  return svg;
}

const HW_STATES = ["absent", "ready", "fault", "stopped", "opening", "live", "black", "stalled", "lost", "idle", "playing",
  "failed"];

function state(t, key) {
  if (!key) return "—";
  return HW_STATES.includes(key) ? t(`hw_${key}`) : h("code", {}, key);
}

function healthCells(t, d) {
  const hl = d.health || {};
  const cam = (hl.camera || {}).state;
  const mic = (hl.microphone || {}).state;
  const speaker = (hl.speaker || {}).state;
  const backfill = hl.backfill ? hl.backfill.pending_bytes : hl.pending_upload_bytes;
  const mb = (b) => (b === undefined || b === null ? "—" : `${(b / 1048576).toFixed(1)} MB`);
  return [
    d.online ? t("online") : t("offline"),
    state(t, hl.reader), state(t, cam), state(t, mic), state(t, speaker),
    hl.disk_free_mb === undefined || hl.disk_free_mb === null ? "—" : `${hl.disk_free_mb} MB`,
    `${mb(backfill)}${hl.outbox_pending ? ` / ${hl.outbox_pending}` : ""}`,
    fmtTime(d.last_seen_at), d.agent_version ? h("code", {}, d.agent_version) : "—",
  ];
}

export async function renderDevices(el, params, ctx) {
  ensureCss();
  const t = makeT(ctx);
  const units = await ctx.api.get("/api/v1/org-units");
  const branchSel = branchPicker(units, params);
  const codeBox = h("div", { class: "adm-enrol", "aria-live": "polite" });
  const listBox = h("div", {});
  const fleetBox = h("div", {});
  const name = field(t("device_name"), h("input", { name: "device-name", maxlength: 100, value: t("device_default_name") }),
    { required: true, requiredText: t("need_name") });
  const register = h("button", { type: "submit" }, t("register"));
  const form = h("form", { class: "adm-form", novalidate: true }, name, register);

  function showCode(res) {
    const code = res.enrolment_code;
    codeBox.replaceChildren(h("div", { class: "adm-code-card" },
      h("p", {}, t("enrol_code_for", { name: res.device.name })),
      h("div", { class: "adm-code", dataset: { code } }, h("code", {}, code)),
      qrSvg(code),
      h("p", { class: "adm-hint" }, t("enrol_hint"))));
  }

  form.addEventListener("submit", busy(register, async (ev) => {
    ev.preventDefault();
    if (!name.check()) return;
    try {
      showCode(await ctx.api.post(`/api/v1/branches/${branchSel.value}/devices`, { name: name.input.value.trim() }));
      await loadDevices();
    } catch (err) {
      name.show(t.err(err));
    }
  }));

  async function loadDevices() {
    if (!branchSel.value) { listBox.replaceChildren(h("p", {}, t("no_branch"))); return; }
    const devices = await ctx.api.get(`/api/v1/branches/${branchSel.value}/devices`);
    const rows = devices.map((d) => {
      const msg = h("span", { class: "adm-msg", role: "alert" });
      const status = d.revoked_at ? t("dev_revoked")
        : d.enrol_expires_at ? t("dev_waiting_until", { time: fmtTime(d.enrol_expires_at) }) : t("dev_enrolled");
      const replace = h("button", { type: "button", class: "secondary" }, t("replace_pc"));
      replace.addEventListener("click", busy(replace, async () => {
        if (!(await confirmBox(t("replace_confirm", { name: d.name })))) return;
        try {
          showCode(await ctx.api.post(`/api/v1/devices/${d.id}/enrolment-code`));
          await loadDevices();
        } catch (err) { msg.textContent = t.err(err); }
      }));
      const revoke = h("button", { type: "button", class: "danger" }, t("revoke"));
      revoke.addEventListener("click", busy(revoke, async () => {
        if (!(await confirmBox(t("revoke_confirm", { name: d.name })))) return;
        try {
          await ctx.api.post(`/api/v1/devices/${d.id}/revoke`);
          ctx.toast(t("revoked"), "ok");
          await loadDevices();
        } catch (err) { msg.textContent = t.err(err); }
      }));
      return h("tr", { dataset: { device: d.id } }, [d.name, status, fmtTime(d.enrolled_at), fmtTime(d.last_seen_at),
        h("span", { class: "adm-actions" }, replace, d.revoked_at ? null : revoke, msg)].map((c) => h("td", {}, c)));
    });
    listBox.replaceChildren(table([t("device_name"), t("status"), t("enrolled_at"), t("last_seen"), t("actions")],
      rows, { empty: t("no_devices") }));
  }

  async function loadFleet() {
    const fleet = await ctx.api.get("/api/v1/fleet");
    const rows = fleet.devices.map((d) => h("tr", { dataset: { branch: d.branch_name }, class: d.online ? "" : "adm-off" },
      [d.branch_name, d.name, ...healthCells(t, d)].map((c) => h("td", {}, c))));
    fleetBox.replaceChildren(
      h("p", { class: "adm-hint" }, t("fleet_summary", { n: fleet.devices.length, old: fleet.outdated,
        expected: fleet.expected_agent_version })),
      table([t("branch"), t("device_name"), t("status"), t("hw_reader"), t("hw_camera"), t("hw_microphone"),
        t("hw_speaker"), t("disk_free"), t("backfill"), t("last_seen"), t("version")], rows, { empty: t("no_devices") }));
  }

  const showErr = (box) => (err) => box.replaceChildren(h("p", { class: "adm-msg", role: "alert" }, t.err(err)));
  branchSel.addEventListener("change", () => { codeBox.replaceChildren(); loadDevices().catch(showErr(listBox)); });
  const refresh = h("button", { type: "button", class: "secondary", onclick: () => loadFleet().catch(showErr(fleetBox)) },
    t("refresh"));
  el.replaceChildren(h("div", { class: "adm-page" }, h("h1", {}, t("nav_devices")),
    h("div", { class: "adm-form" }, field(t("branch"), branchSel)),
    section(t("register_device"), form, codeBox), section(t("branch_devices"), listBox),
    section(t("fleet_health"), refresh, fleetBox)));
  await Promise.all([loadDevices().catch(showErr(listBox)), loadFleet().catch(showErr(fleetBox))]);
}
