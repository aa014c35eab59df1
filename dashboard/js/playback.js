// Playback: a past meeting on a timeline (segments, gaps, check-in marks),
// jump to a check-in, export. The recording is an HLS VOD playlist whose
// EXT-X-PROGRAM-DATE-TIME tags give each segment's real start time.
import { api } from "./shell/api.js";
import { feed } from "./feed.js";
import { errorText, t } from "./shell/i18n.js";
import { el, fmtDateTime, fmtDuration, fmtTime, setText } from "./util.js";

/** Segments of an HLS playlist: [{start (epoch s), duration, mediaStart}]. */
export function parsePlaylist(text) {
  const segs = [];
  let pdt = null;
  let dur = null;
  let media = 0;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#EXT-X-PROGRAM-DATE-TIME:")) pdt = Date.parse(line.slice(25)) / 1000;
    else if (line.startsWith("#EXTINF:")) dur = parseFloat(line.slice(8));
    else if (line && !line.startsWith("#") && dur != null) {
      const start = pdt != null ? pdt : (segs.length ? segs.at(-1).start + segs.at(-1).duration : 0);
      segs.push({ start, duration: dur, mediaStart: media, uri: line });
      media += dur;
      pdt = null;
      dur = null;
    }
  }
  return segs;
}

export function findGaps(segs, tolerance = 1) {
  const gaps = [];
  for (let i = 1; i < segs.length; i++) {
    const end = segs[i - 1].start + segs[i - 1].duration;
    if (segs[i].start - end > tolerance) gaps.push({ start: end, duration: segs[i].start - end });
  }
  return gaps;
}

export function wallToMedia(segs, w) {
  for (const s of segs) {
    if (w < s.start) return s.mediaStart;               // in a gap or before: next recorded moment
    if (w < s.start + s.duration) return s.mediaStart + (w - s.start);
  }
  const last = segs.at(-1);
  return last ? last.mediaStart + last.duration : 0;
}

export function mediaToWall(segs, m) {
  for (const s of segs) if (m < s.mediaStart + s.duration) return s.start + Math.max(0, m - s.mediaStart);
  const last = segs.at(-1);
  return last ? last.start + last.duration : 0;
}

export class PlaybackView {
  constructor(root) { this.root = root; this.meetingId = null; }

  close() {
    if (this.video) { this.video.pause(); this.video.removeAttribute("src"); this.video.load(); }
    this.video = null;
    this.meetingId = null;
    this.root.replaceChildren();
  }

  async open(meetingId) {
    this.close();
    if (!meetingId) return this._list();
    this.meetingId = meetingId;
    this.video = el("video#pb-video", { controls: true, playsInline: true });
    this.msg = el("div.media-msg", { id: "pb-msg", hidden: true });
    this.title = el("h2");
    this.info = el("div.pb-info");
    this.timeline = el("div.timeline", { id: "pb-timeline" });
    this.cursor = el("div.cursor");
    this.checkins = el("ol.pb-checkins", { id: "pb-checkins" });
    // Export through the API client: the hub's refusal (409/422, in Chinese by its code) is shown,
    // and the button says the export is running (a long meeting takes tens of seconds to join).
    this.export = el("button.button", { id: "pb-export", type: "button" }, t("pb_export"));
    this.export.addEventListener("click", async () => {
      this.export.disabled = true;
      setText(this.export, t("pb_exporting"));
      try {
        await api.download(`/api/v1/meetings/${meetingId}/export.mp4`, `${meetingId}.mp4`);
      } catch (err) {
        this._error(t("pb_export_failed", { detail: errorText(err) }));
      } finally {
        this.export.disabled = false;
        setText(this.export, t("pb_export"));
      }
    });
    this.root.replaceChildren(
      el("div.pb-bar", null, el("a.back", { href: "#/playback", title: "Esc" }, "← ", t("back")), this.title, this.export),
      el("div.pb-main", null,
        el("div.video-pane", null, this.video, this.msg),
        el("aside.att", null, el("h3", null, t("pb_checkins")), this.checkins)),
      this.info, this.timeline);
    let meeting;
    try {
      meeting = await api.get(`/api/v1/meetings/${meetingId}`);
    } catch (err) {
      return this._error(errorText(err));
    }
    if (meetingId !== this.meetingId) return;
    this.meeting = meeting;
    const types = await feed.typeNames();
    if (meetingId !== this.meetingId) return;
    const tile = feed.tiles.get(meeting.branch_id);
    setText(this.title, `${tile ? tile.name + " · " : ""}${types[meeting.meeting_type] || meeting.meeting_type}${meeting.topic ? " · " + meeting.topic : ""}`);
    const [attendance, playlist, integrity] = await Promise.all([
      api.get(`/api/v1/meetings/${meetingId}/attendance`).catch(() => []),
      fetch(`/api/v1/meetings/${meetingId}/playlist.m3u8`, { credentials: "same-origin" })
        .then(async (r) => (r.ok ? { text: await r.text() } : { error: await this._problem(r) }))
        .catch(() => ({ error: errorText({ code: "network_down" }) })),
      api.get(`/api/v1/meetings/${meetingId}/recording`).catch(() => null),
    ]);
    if (meetingId !== this.meetingId) return;
    this.integrity = integrity;
    this.segs = playlist.text ? parsePlaylist(playlist.text) : [];
    this.attendance = attendance;
    if (playlist.error) this._error(t("pb_none", { detail: playlist.error }));
    else {
      this.video.src = `/api/v1/meetings/${meetingId}/playlist.m3u8`;
      this.video.addEventListener("timeupdate", () => this._cursor());
      this.video.addEventListener("error", () => this._error(t("pb_unplayable")));
    }
    this._drawTimeline();
  }

  /** The operator's text for a refused playlist: by the hub's code, never its English detail. */
  async _problem(res) {
    let body = null;
    try { body = JSON.parse(await res.text()); } catch { /* not a problem document */ }
    return errorText({ status: res.status, code: body && body.code, detail: body && body.detail, body });
  }

  _error(text) {
    this.msg.hidden = false;
    this.msg.className = "media-msg error";
    setText(this.msg, text);
  }

  _range() {
    const m = this.meeting;
    const starts = [Date.parse(m.started_at || m.scheduled_start) / 1000];
    const ends = [m.ended_at ? Date.parse(m.ended_at) / 1000 : Date.now() / 1000];
    if (this.segs.length) { starts.push(this.segs[0].start); ends.push(this.segs.at(-1).start + this.segs.at(-1).duration); }
    const a = Math.min(...starts.filter(Number.isFinite));
    const b = Math.max(...ends.filter(Number.isFinite), a + 1);
    return [a, b];
  }

  _drawTimeline() {
    const [a, b] = this._range();
    this.span = [a, b];
    const pct = (x) => `${((x - a) / (b - a)) * 100}%`;
    const gaps = findGaps(this.segs);
    const parts = [];
    for (const s of this.segs) parts.push(el("div.seg", { style: `left:${pct(s.start)};width:${pct(a + s.duration)}`, title: `${fmtTime(new Date(s.start * 1000))} ${s.duration.toFixed(1)}s` }));
    const why = (g) => {  // the hub's reason for the gap starting here (no uplink, hub restart, disk full ...)
      const known = (this.integrity?.gaps || []).find((x) => Math.abs(Date.parse(x.started_at) / 1000 - g.start) < 2);
      return known ? " · " + t("pb_why_" + known.reason) : "";
    };
    for (const g of gaps) parts.push(el("div.gap", { style: `left:${pct(g.start)};width:${pct(a + g.duration)}`, title: t("pb_gap", { s: Math.round(g.duration) }) + why(g) }));
    for (const c of this.attendance) {
      const at = Date.parse(c.checked_in_at) / 1000;
      parts.push(el("div.mark" + (c.late ? ".late" : ""), { style: `left:${pct(at)}`, title: `${fmtTime(c.checked_in_at)} ${c.name}` }));
    }
    parts.push(this.cursor);
    const axis = el("div.axis", null, el("span", null, fmtDateTime(new Date(a * 1000).toISOString())), el("span", null, fmtDateTime(new Date(b * 1000).toISOString())));
    const bar = el("div.track", null, ...parts);
    bar.addEventListener("click", (ev) => {
      const r = bar.getBoundingClientRect();
      this.seekWall(a + ((ev.clientX - r.left) / r.width) * (b - a));
    });
    this.timeline.replaceChildren(bar, axis);
    const r = this.integrity;
    setText(this.info, t("pb_segments", { n: this.segs.length, gaps: gaps.length }) + (r ? " · " + t("pb_integrity", {
      covered: Math.round(r.covered_seconds), rejected: r.segments_rejected, duplicates: r.duplicates_dropped }) : ""));
    this.checkins.replaceChildren(...this.attendance.map((c) => el("li", null,
      el("button.link", { type: "button", dataset: { at: c.checked_in_at }, onclick: () => this.seekWall(Date.parse(c.checked_in_at) / 1000) },
        el("span.t", null, fmtTime(c.checked_in_at)), el("span.n", null, c.name),
        c.late ? el("span.tag.late", null, t("late")) : null, c.method === "staff" ? el("span.tag.staff", null, t("staff")) : null))));
    this._cursor();
  }

  /** Jump to a wall-clock moment (epoch s): the nearest recorded moment at or after it. */
  seekWall(w) {
    if (!this.segs.length || !this.video) return;
    this.video.currentTime = wallToMedia(this.segs, w);
    this.video.play().catch(() => {});
    this._cursor();
  }

  _cursor() {
    if (!this.span || !this.segs.length || !this.video) return;
    const [a, b] = this.span;
    const w = mediaToWall(this.segs, this.video.currentTime || 0);
    this.cursor.style.left = `${((w - a) / (b - a)) * 100}%`;
    this.root.dataset.wallTime = String(w);
  }

  async _list() {
    // Filters an operator uses to find one meeting among a county's: text (branch
    // or topic), township, meeting type and a date range (asked of the hub, so
    // meetings older than the newest 500 are found too).
    const q = el("input.search", { type: "search", placeholder: t("search_ph") });
    const town = el("select", { name: "pb-town", title: t("pb_town") });
    const type = el("select", { name: "pb-type", title: t("pb_type") });
    const from = el("input", { type: "date", name: "pb-from", title: t("pb_from") });
    const to = el("input", { type: "date", name: "pb-to", title: t("pb_to") });
    const count = el("span.pb-count");
    const ul = el("ul.pb-list", { id: "pb-list" });
    this.root.replaceChildren(el("div.pb-bar", null, el("a.back", { href: "#/wall" }, "← ", t("back")), el("h2", null, t("pb_pick")),
      q, town, type, el("label.pb-dates", null, from, "–", to), count), ul);
    const types = await feed.typeNames();
    const option = (value, text) => el("option", { value }, text);
    town.replaceChildren(option("", t("pb_all_towns")),
      ...[...new Set([...feed.tiles.values()].map((x) => x.township).filter(Boolean))].sort().map((n) => option(n, n)));
    type.replaceChildren(option("", t("pb_all_types")), ...Object.entries(types).map(([k, v]) => option(k, v)));
    let list = [];
    const load = async () => {
      const params = new URLSearchParams({ limit: "500" });
      // local midnights, as the operator reads the dates
      if (from.value) params.set("since", new Date(`${from.value}T00:00:00`).toISOString());
      if (to.value) params.set("until", new Date(new Date(`${to.value}T00:00:00`).getTime() + 86400e3).toISOString());
      try { list = await api.get(`/api/v1/meetings?${params}`); } catch (err) { ul.replaceChildren(el("li.error", null, errorText(err))); return; }
      list = list.filter((m) => m.started_at);
      render();
    };
    const render = () => {
      const needle = q.value.trim();
      const rows = list.filter((m) => {
        const tile = feed.tiles.get(m.branch_id);
        const name = tile?.name || "";
        return (!needle || name.includes(needle) || m.topic.includes(needle))
          && (!town.value || tile?.township === town.value) && (!type.value || m.meeting_type === type.value);
      });
      count.textContent = t("pb_count", { n: rows.length });
      ul.replaceChildren(...(rows.length ? rows.map((m) => {
        const tile = feed.tiles.get(m.branch_id);
        const seconds = m.ended_at ? (Date.parse(m.ended_at) - Date.parse(m.started_at)) / 1000 : null;
        return el("li", null, el("a", { href: `#/playback/${m.id}` },
          el("span.when", null, fmtDateTime(m.started_at)),
          el("span.pb-len", null, seconds != null && seconds >= 0 ? fmtDuration(seconds) : "—"),
          el("span", null, tile ? `${tile.name}${tile.township ? "（" + tile.township + "）" : ""}` : `#${m.branch_id}`),
          el("span", null, `${types[m.meeting_type] || m.meeting_type}${m.topic ? " · " + m.topic : ""}`),
          el("span.status", null, t("pb_status_" + m.status))));
      }) : [el("li.empty", null, t("pb_list_empty"))]));
    };
    q.addEventListener("input", render);
    town.addEventListener("change", render);
    type.addEventListener("change", render);
    from.addEventListener("change", load);
    to.addEventListener("change", load);
    await load();
  }
}
