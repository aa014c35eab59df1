// Branch view: live video with push-to-talk, the attendance list as members
// check in, an inspection note that becomes a rectification item, and the
// branch's recent meetings.
import { api, ApiError } from "./shell/api.js";
import { feed } from "./feed.js";
import { errorText, t } from "./shell/i18n.js";
import { alertLabel, el, fmtDateTime, fmtDuration, fmtTime, meetingTypeName, setText, stateLabel } from "./util.js";
import { attendanceText } from "./tile.js";
import { WhepViewer } from "./whep.js";

function isoDate(d) { return d.toISOString().slice(0, 10); }

export class BranchView {
  constructor(root) {
    this.root = root;
    this.branchId = null;
    this.viewer = null;
    this.unsubs = [];
    this.meetingId = null;
    this.rows = new Map();   // member_id -> row data
    this.members = [];
    this.leaves = new Map();  // member_id -> leave reason (请假)
    this.talking = false;
  }

  open(branchId) {
    this.close();
    this.branchId = branchId;
    this._render();
    this.unsubs.push(feed.onTiles((changed) => { if (!changed || changed.has(branchId)) this._header(); }));
    this.unsubs.push(feed.onCheckin((m) => { if (m.branch_id === branchId) this._checkin(m); }));
    this.timer = setInterval(() => this._tick(), 1000);
    this._header();
    this._startVideo();
    this._loadMeetings();
  }

  close() {
    for (const u of this.unsubs) u();
    this.unsubs = [];
    clearInterval(this.timer);
    this.setTalking(false);
    if (this.viewer) { this.viewer.close(); this.viewer = null; }
    this.branchId = null;
    this.meetingId = null;
    this.root.replaceChildren();
  }

  // ---- layout -------------------------------------------------------------
  _render() {
    this.h = {
      name: el("h1.b-name"), town: el("span.b-town"), badge: el("span.badge"), meet: el("div.b-meet"),
      dur: el("span.b-dur"), ci: el("span.b-ci"), alerts: el("div.alerts"),
    };
    this.video = el("video#live-video", { autoplay: true, playsInline: true, muted: false });
    this.mediaMsg = el("div.media-msg", { id: "media-msg" });
    this.retry = el("button.secondary", { type: "button", hidden: true, onclick: () => this._startVideo() }, "↻");
    this.ptt = el("button.ptt", { type: "button", id: "ptt", disabled: true }, t("ptt"));
    this.pttFault = el("span.ptt-fault", { id: "ptt-fault", role: "status", hidden: true }, t("ptt_speaker_fault"));
    this.ptt.addEventListener("pointerdown", (e) => { e.preventDefault(); this.setTalking(true); });
    for (const ev of ["pointerup", "pointerleave", "pointercancel"]) this.ptt.addEventListener(ev, () => this.setTalking(false));
    this.attHead = el("h3", { id: "att-head" });
    this.attList = el("ol.att-list", { id: "att-list" });
    this.absent = el("div.absent", { id: "absent" });
    this.note = this._noteForm();
    this.meetings = el("ul.recent", { id: "recent-meetings" });
    this.root.replaceChildren(
      el("div.b-head", null,
        el("a.back", { href: "#/wall", title: "Esc" }, "← ", t("back")),
        this.h.name, this.h.town, this.h.badge, this.h.meet, this.h.dur, this.h.ci, this.h.alerts),
      el("div.b-main", null,
        el("div.video-pane", null, this.video, this.mediaMsg, el("div.video-bar", null, this.ptt, this.pttFault, this.retry)),
        el("aside.att", null, this.attHead, this.attList, el("h4", null, t("absent")), this.absent)),
      el("div.b-lower", null, this.note,
        el("section.recent-box", null, el("h3", null, t("recent_meetings")), this.meetings)));
  }

  _header() {
    const tile = feed.tiles.get(this.branchId);
    if (!tile) { setText(this.h.name, `#${this.branchId}`); return; }
    setText(this.h.name, tile.name);
    setText(this.h.town, tile.township);
    this.h.badge.className = `badge st-${tile.state}`;
    setText(this.h.badge, stateLabel(tile.state));
    const m = tile.meeting;
    setText(this.h.meet, m ? `${meetingTypeName(m)}${m.topic ? " · " + m.topic : ""}` : t("meeting_none"));
    const q = tile.quorum;
    setText(this.h.ci, m ? attendanceText(tile) : "");
    this.h.ci.className = "b-ci" + (q && q.rule !== "none" ? (q.met ? " q-met" : " q-not") : "");
    this.h.alerts.replaceChildren(...tile.alerts.map((a) => el("span.alert", { title: a.message }, alertLabel(a))));
    // talkback goes to a speaker the hall says is broken: say so where the operator presses
    this.pttFault.hidden = !tile.alerts.some((a) => a.kind === "hall_speaker_failed");
    // the hall's video came back (its media node died and it moved to another,
    // its link was cut): a live view that failed starts again by itself
    if (tile.stream === "live" && this.lastStream !== "live" && this.videoFailed) this._startVideo();
    this.lastStream = tile.stream;
    const mid = m ? m.id : null;
    if (mid !== this.meetingId) { this.meetingId = mid; this._loadAttendance(); }
    else if (m && (tile.on_leave || 0) !== this.leaves.size) this._loadLeaves();
    if (this.attHead) this._attHead();
    this._tick();
  }

  _tick() {
    const m = feed.tiles.get(this.branchId)?.meeting;
    setText(this.h.dur, m && m.started_at ? fmtDuration(feed.hubNow() - Date.parse(m.started_at) / 1000) : "");
  }

  // ---- video and talkback -------------------------------------------------
  async _startVideo() {
    if (this.viewer) this.viewer.close();
    this.videoFailed = false;
    this.retry.hidden = true;
    this.mediaMsg.hidden = false;
    this.mediaMsg.className = "media-msg";
    setText(this.mediaMsg, t("media_connecting"));
    const viewer = new WhepViewer(this.video, this.branchId, { talk: true });
    this.viewer = viewer;
    viewer.onstate = (state) => {
      if (this.viewer !== viewer) return;
      if (state === "connected") { this.mediaMsg.hidden = true; this.retry.hidden = true; this.videoFailed = false; }
      if (state === "failed" || state === "disconnected") {
        this._mediaError(t("media_failed"));
        // the hall is still (or again) live on the wall: its media node may have
        // gone, and the hub answers from another; try again in a moment
        setTimeout(() => {
          if (this.viewer === viewer && this.videoFailed && feed.tiles.get(this.branchId)?.stream === "live") this._startVideo();
        }, 3000);
      }
    };
    try {
      await viewer.start();
      if (this.viewer !== viewer) return;
      this.ptt.disabled = !viewer.canTalk;
      setText(this.ptt, viewer.canTalk ? t("ptt") : t("ptt_nomic"));
    } catch (err) {
      // Never the hub's or the browser's English in the Chinese page.
      if (this.viewer === viewer) this._mediaError(err.text || errorText(err));
    }
  }

  _mediaError(detail) {
    this.videoFailed = true;
    this.mediaMsg.hidden = false;
    this.mediaMsg.className = "media-msg error";
    setText(this.mediaMsg, t("media_unavailable", { detail }));
    this.retry.hidden = false;
    this.ptt.disabled = true;
  }

  setTalking(on) {
    if (!this.viewer || !this.viewer.canTalk) on = false;
    if (on === this.talking) return;
    this.talking = on;
    this.viewer?.setTalking(on);
    this.ptt?.classList.toggle("on", on);
    if (this.ptt) setText(this.ptt, on ? t("ptt_on") : t("ptt"));
  }

  // ---- attendance ---------------------------------------------------------
  async _loadAttendance() {
    this.rows = new Map();
    const mid = this.meetingId;
    const bid = this.branchId;
    try {
      this.members = await api.get(`/api/v1/branches/${bid}/members`);
    } catch { this.members = []; }
    if (mid) {
      try {
        const rows = await api.get(`/api/v1/meetings/${mid}/attendance`);
        if (mid !== this.meetingId) return;
        for (const r of rows) this.rows.set(r.member_id, { name: r.name, at: r.checked_in_at, late: r.late, method: r.method });
      } catch { /* shown as empty; the feed still adds new check-ins */ }
    }
    await this._loadLeaves(false);
    this._renderAttendance();
  }

  // 请假: leave requests (filed at the kiosk or here) tag the absentees.
  async _loadLeaves(render = true) {
    const mid = this.meetingId;
    if (!mid) { this.leaves = new Map(); return; }
    try {
      const rows = await api.get(`/api/v1/meetings/${mid}/leave-requests`);
      if (mid !== this.meetingId) return;
      this.leaves = new Map(rows.map((r) => [r.member_id, r.reason]));
    } catch { /* keep what is shown */ }
    if (render) this._renderAttendance();
  }

  _checkin(m) {
    if (m.meeting_id !== this.meetingId) return;
    this.rows.set(m.member_id, { name: m.name, at: m.at, late: m.late, method: m.method });
    this._renderAttendance(m.member_id);
  }

  // The hub's numbers, kept current by tile updates too (they follow a check-in by a flush).
  _attHead() {
    const tile = feed.tiles.get(this.branchId);
    setText(this.attHead, tile && tile.meeting ? `${t("attendance")} · ${attendanceText(tile)}` : t("attendance"));
  }

  _renderAttendance(fresh) {
    const rows = [...this.rows.entries()].sort((a, b) => Date.parse(a[1].at) - Date.parse(b[1].at));
    this._attHead();
    if (!this.meetingId) { this.attList.replaceChildren(el("li.empty", null, t("meeting_none"))); }
    else if (!rows.length) { this.attList.replaceChildren(el("li.empty", null, t("no_checkins"))); }
    else {
      this.attList.replaceChildren(...rows.map(([id, r]) => el(`li${id === fresh ? ".fresh" : ""}`, { dataset: { member: id } },
        el("span.t", null, fmtTime(r.at)), el("span.n", null, r.name),
        r.late ? el("span.tag.late", null, t("late")) : null,
        r.method === "staff" ? el("span.tag.staff", null, t("staff")) : null)));
    }
    const absent = this.members.filter((m) => !this.rows.has(m.id));
    this.absent.replaceChildren(...absent.map((m) => el(`span.member${this.leaves.has(m.id) ? ".on-leave" : ""}`,
      { title: this.leaves.has(m.id) ? `${t("on_leave")}: ${this.leaves.get(m.id)}` : m.member_no, dataset: { member: m.id } },
      m.name + (m.excused ? "*" : ""), this.leaves.has(m.id) ? el("span.tag.leave", null, t("on_leave")) : null)));
  }

  // ---- inspection note ----------------------------------------------------
  _noteForm() {
    const deadline = new Date(Date.now() + 14 * 86400000);
    const field = (key, input) => el("label.field", null, el("span", null, t(key)), input);
    const f = {
      problem: el("textarea", { name: "problem", rows: 2, required: true }),
      measures: el("textarea", { name: "measures", rows: 2, required: true }),
      deadline: el("input", { name: "deadline", type: "date", value: isoDate(deadline), required: true }),
      responsible: el("input", { name: "responsible", type: "text", required: true }),
    };
    const msg = el("div.form-msg", { id: "note-msg", role: "status" });
    const form = el("form.note", { id: "note-form", novalidate: true },
      el("h3", null, t("note_title")),
      field("problem", f.problem), field("measures", f.measures),
      el("div.row", null, field("deadline", f.deadline), field("responsible", f.responsible)),
      el("div.row", null, el("button", { type: "submit" }, t("submit_note")), msg));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      for (const key of ["problem", "measures", "deadline", "responsible"]) {
        if (!f[key].value.trim()) { msg.className = "form-msg error"; msg.textContent = t("field_required", { field: t(key) }); f[key].focus(); return; }
      }
      const body = {
        branch_id: this.branchId, problem: f.problem.value.trim(), measures: f.measures.value.trim(),
        deadline: f.deadline.value, responsible: f.responsible.value.trim(),
        evidence_meeting_id: this.meetingId, evidence_at: new Date().toISOString(),
      };
      msg.className = "form-msg";
      msg.textContent = "…";
      try {
        const item = await api.post("/api/v1/rectifications", body);
        msg.className = "form-msg ok";
        msg.textContent = t("note_saved", { id: item && item.id != null ? item.id : "" });
        f.problem.value = ""; f.measures.value = ""; f.responsible.value = "";
      } catch (err) {
        msg.className = "form-msg error";
        if (err instanceof ApiError && (err.status === 404 || err.status === 405)) msg.textContent = t("note_404");
        else msg.textContent = t("note_failed", { detail: errorText(err) });
      }
    });
    return form;
  }

  async _loadMeetings() {
    const bid = this.branchId;
    try {
      const list = await api.get(`/api/v1/meetings?branch_id=${bid}&limit=10`);
      if (bid !== this.branchId) return;
      const types = await feed.typeNames();
      if (bid !== this.branchId) return;
      this.meetings.replaceChildren(...list.map((m) => el("li", null,
        el("span.when", null, fmtDateTime(m.started_at || m.scheduled_start)),
        el("span", null, `${types[m.meeting_type] || m.meeting_type}${m.topic ? " · " + m.topic : ""}`),
        el("span.status", null, t("pb_status_" + m.status) === "pb_status_" + m.status ? m.status : t("pb_status_" + m.status)),
        m.started_at ? el("a", { href: `#/playback/${m.id}` }, t("open_playback")) : null)));
    } catch (err) {
      this.meetings.replaceChildren(el("li.error", null, errorText(err)));
    }
  }
}
