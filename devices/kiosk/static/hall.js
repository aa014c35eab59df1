// The hall's agreement with the county on the kiosk: 实到 / 应到 / 请假 and the
// quorum (the hub's numbers, hub/attendance/summary.py), the meetings scheduled
// on the hub (started from here), leave requests, fingerprint restore progress
// and the check-ins staff must register by hand. Rendered on kiosk.js's
// "kiosk:render" event from the same snapshot.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const k = () => window.kiosk;
  const T = (s, key) => k().T(s, key);
  const hhmm = (ts) => new Date(ts * 1000).toTimeString().slice(0, 5);
  const mmdd = (ts) => { const d = new Date(ts * 1000); return (d.getMonth() + 1) + "/" + d.getDate(); };

  function numbers(snap) {
    const a = snap.attendance, box = $("attendance");
    box.hidden = !snap.meeting || !a;
    if (box.hidden) return;
    $("att-present").textContent = a.present;
    $("att-expected").textContent = a.expected;
    $("att-leave").textContent = a.on_leave;
    const q = $("att-quorum");
    if (a.quorum && a.quorum.rule !== "none") {
      q.hidden = false;
      q.dataset.met = String(!!a.quorum.met);
      q.textContent = T("labels", "quorum") + " " + a.quorum.present + "/" + a.quorum.required + " " +
        T("labels", a.quorum.met ? "quorum_met" : "quorum_not");
    } else { q.hidden = true; q.textContent = ""; }
  }

  // Rebuild a block only when what it shows changed (buttons stay put under a finger).
  function changed(node, ...parts) {
    const key = JSON.stringify([k().lang, ...parts]);
    if (node.dataset.key === key) return false;
    node.dataset.key = key; return true;
  }

  // The public blocks show; the admin panel (an overlay) holds the buttons.
  function schedule(snap, admin) {
    const ul = $("schedule"), adm = $("schedule-admin");
    if (!changed(ul, snap.schedule, !!snap.meeting, admin)) return;
    ul.replaceChildren(); adm.replaceChildren();
    ul.hidden = !!snap.meeting || !(snap.schedule || []).length;
    for (const m of snap.schedule || []) {
      const text = T("labels", "scheduled") + " " + mmdd(m.scheduled_start) + " " + hhmm(m.scheduled_start) + " " +
        T("meeting_types", m.type) + " · " + (m.topic || "");
      const li = k().el("li", text); li.dataset.id = m.id; ul.append(li);
      if (admin && !snap.meeting) {
        const row = k().el("li", text); row.dataset.id = m.id;
        const b = k().el("button", T("labels", "start_scheduled")); b.className = "start-scheduled";
        b.onclick = () => k().post("/api/admin/meeting/start", {scheduled_id: m.id});
        row.append(b); adm.append(row);
      }
    }
  }

  function staffAlerts(snap, admin) {
    const ul = $("unstored"), adm = $("unstored-admin"), rows = snap.unstored || [];
    if (!changed(ul, rows, admin)) return;
    ul.replaceChildren(); adm.replaceChildren();
    ul.hidden = !rows.length;
    if (!rows.length) return;
    const text = T("labels", "unstored") + ": " + rows.map((u) => (u.name || "?") + " " + hhmm(u.at)).join("、");
    ul.append(k().el("li", text));
    if (admin) { const b = k().el("button", T("labels", "dismiss")); b.id = "unstored-dismiss";
      b.onclick = () => k().post("/api/admin/unstored/dismiss", {}); adm.append(k().el("span", text), b); }
  }

  function fingerprints(snap, admin) {
    const fp = snap.fingerprints, box = $("fp-status"), adm = $("fp-admin");
    const restoring = fp && fp.state === "restoring";
    const failing = fp && fp.state === "retrying" && fp.error;  // says why and what to do
    if (!changed(box, restoring && fp.progress, failing, admin)) return;
    box.replaceChildren(); adm.replaceChildren();
    box.hidden = !restoring && !(failing && admin);
    if (failing && admin) { box.hidden = true; adm.append(k().el("span", fp.error)); return; }
    if (!restoring) return;
    const p = fp.progress || [0, 0];
    box.append(T("prompts", "restoring") + " " + p[0] + "/" + p[1]);
    if (admin) { const b = k().el("button", T("labels", "cancel_restore")); b.id = "fp-cancel";
      b.onclick = () => k().post("/api/admin/fingerprints/restore/cancel", {});
      adm.append(k().el("span", T("prompts", "restoring") + " " + p[0] + "/" + p[1]), b); }
  }

  async function leaveForm(snap, admin) {
    const form = $("leave-form");
    form.hidden = !admin || !snap.meeting;
    if (form.hidden) return;
    $("leave-reason").placeholder = T("labels", "reason");
    $("leave-submit").textContent = T("labels", "file_leave");
    const sel = $("leave-member");
    if (sel.dataset.version === String(snap.version)) return;
    sel.dataset.version = String(snap.version);
    const r = await fetch("/api/admin/members", {credentials: "same-origin"});
    if (!r.ok) return;
    const keep = sel.value; sel.replaceChildren();
    for (const m of await r.json()) {
      if (m.checked_in || m.on_leave) continue;
      const o = k().el("option", m.member_no + " " + m.name); o.value = m.id; sel.append(o);
    }
    if (keep) sel.value = keep;
  }
  $("leave-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const r = await k().post("/api/admin/leave", {member_id: $("leave-member").value, reason: $("leave-reason").value});
    if (r.ok) $("leave-reason").value = "";
  };

  document.addEventListener("kiosk:render", (ev) => {
    const {snap, adminOn} = ev.detail;
    numbers(snap); schedule(snap, adminOn); staffAlerts(snap, adminOn); fingerprints(snap, adminOn);
    leaveForm(snap, adminOn);
  });
  if (window.kiosk) document.dispatchEvent(new CustomEvent("kiosk:render",
    {detail: {snap: k().snap, lang: k().lang, adminOn: k().admin}}));
})();
