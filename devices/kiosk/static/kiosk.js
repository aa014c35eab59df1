// Keeps the kiosk page live from the agent's Server-Sent Events and runs
// the admin mode. Plain script, no framework, no network beyond the agent.
"use strict";
(function () {
  const boot = JSON.parse(document.getElementById("boot").textContent);
  const texts = boot.texts;
  let lang = localStorage.getItem("kiosk-lang") || "zh";
  let snap = boot.snapshot;
  const $ = (id) => document.getElementById(id);
  const T = (section, key) => (texts[lang][section] || {})[key] || key;
  // an error's code in the hall's language: the error texts, then the prompts (library_full)
  const said = (code) => texts[lang].errors[code] || texts[lang].prompts[code] || "";
  const tone = {checked_in: "good", enrol_done: "good", already_checked_in: "info",
    not_recognised: "warn", poor_image: "warn", reason_required: "warn", enrol_failed: "warn",
    not_a_member: "bad", reader_fault: "bad", read_failed: "warn", ask_staff: "bad",
    library_full: "bad", restore_done: "good", restore_failed: "warn", restoring: "info",
    store_failed: "bad"};
  const hhmm = (ts) => new Date(ts * 1000).toTimeString().slice(0, 5);
  const el = (tag, text, cls) => { const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };

  function render() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    const m = snap.meeting, meeting = $("meeting");
    meeting.replaceChildren();
    if (m) {
      meeting.append(el("span", T("meeting_types", m.type)), el("span", m.topic));
      const e = el("span"); e.id = "m-elapsed"; e.dataset.start = m.started_at; meeting.append(e);
    } else {
      meeting.append(el("span", T("labels", "no_meeting_title")));
    }
    const p = Object.assign({}, snap.prompt), prompt = $("prompt");
    const serverNow = Date.now() / 1000 + (snap.server_time || 0) - (snap._recv || 0);
    if (p.until && serverNow > p.until) { p.code = p.resting; p.name = null; }
    let text = T("prompts", p.code);
    if (p.name) text = p.name + (lang === "zh" ? "，" : ": ") + text;
    prompt.textContent = text;
    prompt.className = "tone-" + (tone[p.code] || "idle");
    prompt.dataset.code = p.code;
    const last = $("last"); last.replaceChildren();
    if (snap.last_checkin) {
      const l = snap.last_checkin;
      last.append(T("labels", "last") + ": ", el("b", l.name), " " + hhmm(l.at));
      if (l.late) last.append(el("span", T("labels", "late"), "tag"));
      if (l.method === "staff") last.append(el("span", T("labels", "staff"), "tag"));
    }
    $("count-label").textContent = T("labels", "checked_in_count");
    const att = snap.attendance || {present: snap.checked_in, expected: snap.roster_expected};
    $("count-n").textContent = att.present;
    $("count-total").textContent = att.expected;
    const up = $("uplink");
    let u = T("uplink", snap.uplink.state);
    if (snap.uplink.pending) u += " · " + T("labels", "pending") + " " + snap.uplink.pending;
    for (const f of snap.uplink.faults || []) u += " · ⚠ " + (lang === "zh" ? f.zh : f.en);
    // green only when online with nothing wrong; amber while a fault is shown (page.py pill_class)
    up.textContent = u;
    up.className = !snap.uplink.online ? "offline" : (snap.uplink.faults || []).length ? "online fault" : "online";
    let talk = $("talkback");  // the county's talkback is playing on the hall's speaker
    if (!talk) { talk = el("div"); talk.id = "talkback"; document.body.prepend(talk); }
    talk.hidden = !snap.uplink.talkback;
    talk.textContent = lang === "zh" ? "县里正在讲话" : "The county is speaking";
    const rej = $("rejected"); rej.replaceChildren();
    for (const r of snap.rejected || []) {
      const li = el("li", (r.name || r.type) + ": " + T("errors", r.code));
      if (adminOn) { const b = el("button", T("labels", "dismiss"));
        b.onclick = () => post("/api/admin/rejected/" + r.id + "/dismiss", {}); li.append(b); }
      rej.append(li);
    }
    $("lang").textContent = T("labels", "lang");
    $("admin-open").textContent = T("labels", "admin");
    tick();
    // hall.js renders the numbers, the schedule and the staff alerts from the same snapshot
    document.dispatchEvent(new CustomEvent("kiosk:render", {detail: {snap, lang, adminOn}}));
  }

  function tick() {
    const e = $("m-elapsed");
    if (!e || !e.dataset.start) return;
    const now = Date.now() / 1000 + (snap.server_time || 0) - (snap._recv || 0);
    const min = Math.max(0, Math.floor((now - Number(e.dataset.start)) / 60));
    e.textContent = T("labels", "elapsed") + " " + min + " " + T("labels", "minutes");
  }

  function connect() {
    const source = new EventSource("/api/events");
    source.onmessage = (ev) => { snap = JSON.parse(ev.data); snap._recv = Date.now() / 1000;
      render(); if (adminOn) loadMembers(); };
    source.onerror = () => { source.close(); setTimeout(connect, 3000); };
  }

  // -- admin mode --
  let adminOn = false;
  async function post(url, body) {
    const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body), credentials: "same-origin"});
    let data = {}; try { data = await r.json(); } catch (e) { /* empty body */ }
    if (r.status === 401 && url !== "/api/admin/login") closeAdmin();
    // a refusal in the hall's language (its code); the English detail is for the log
    if (!r.ok) $("admin-error").textContent = said(data.code || data.outcome) || data.error || r.status;
    else $("admin-error").textContent = "";
    return {ok: r.ok, status: r.status, data};
  }
  function closeAdmin() { adminOn = false; $("admin").hidden = true; $("admin-panel").hidden = true;
    $("pin-form").hidden = false; }
  async function loadMembers() {
    const r = await fetch("/api/admin/members", {credentials: "same-origin"});
    if (!r.ok) { closeAdmin(); return; }
    const table = $("members"); table.replaceChildren();
    for (const m of await r.json()) {
      const tr = el("tr");
      tr.append(el("td", m.member_no), el("td", m.name),
        el("td", m.checked_in ? T("prompts", "already_checked_in") : ""));
      const act = el("td");
      if (!m.checked_in && snap.meeting) {
        const reason = el("input"); reason.placeholder = T("labels", "reason");
        const b = el("button", T("labels", "staff_checkin"));
        b.onclick = () => post("/api/admin/checkin", {member_id: m.id, reason: reason.value});
        act.append(reason, b);
      }
      const en = el("button", T("labels", "enrol") + (m.slots.length ? " (" + m.slots.length + ")" : ""));
      en.onclick = () => post("/api/admin/enrol", {member_id: m.id});
      act.append(en); tr.append(act); table.append(tr);
    }
    const sel = $("meeting-type");
    if (!sel.options.length) for (const [code, name] of Object.entries(texts[lang].meeting_types)) {
      const o = el("option", name); o.value = code; sel.append(o); }
    $("meeting-topic").placeholder = T("labels", "topic");
    $("meeting-start").textContent = T("labels", "start_meeting");
    $("meeting-end").textContent = T("labels", "end_meeting");
    if (!$("fp-restore")) {
      const rb = el("button", T("labels", "restore_fingerprints")); rb.id = "fp-restore";
      rb.onclick = () => post("/api/admin/fingerprints/restore", {});
      $("meeting-end").after(rb);
    }
    $("meeting-start").hidden = !!snap.meeting; $("meeting-end").hidden = !snap.meeting;
    $("meeting-type").hidden = !!snap.meeting; $("meeting-topic").hidden = !!snap.meeting;
  }
  $("admin-open").onclick = () => { $("admin").hidden = false; $("pin").focus(); };
  document.querySelector("#pin-form .close").onclick = closeAdmin;
  $("admin-close").onclick = async () => { await post("/api/admin/logout", {}); closeAdmin(); };
  $("pin-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const r = await post("/api/admin/login", {pin: $("pin").value});
    $("pin").value = "";
    if (!r.ok) { document.querySelector("#pin-form .error").textContent = said(r.data.code) || r.data.error || ""; return; }
    adminOn = true; $("pin-form").hidden = true; $("admin-panel").hidden = false; loadMembers(); render();
  };
  $("meeting-form").onsubmit = async (ev) => {
    ev.preventDefault();
    await post("/api/admin/meeting/start",
      {meeting_type: $("meeting-type").value, topic: $("meeting-topic").value});
  };
  $("meeting-end").onclick = () => post("/api/admin/meeting/end", {});
  $("lang").onclick = () => { lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("kiosk-lang", lang); render(); if (adminOn) loadMembers(); };

  window.kiosk = {T, post, el, get snap() { return snap; }, get lang() { return lang; },
    get admin() { return adminOn; }};
  snap._recv = Date.now() / 1000;
  render();
  setInterval(() => { tick(); render(); }, 1000);
  connect();
})();
