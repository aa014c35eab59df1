// Rotation (轮巡): pages of live halls, alerting ones first, cycling every
// T seconds; each cell a live WHEP view, or the thumbnail when WHEP fails.
import { feed } from "./feed.js";
import { t } from "./shell/i18n.js";
import { attendanceText, thumbUrl } from "./tile.js";
import { alertLabel, el, setText, stateLabel, zhCompare } from "./util.js";
import { WhepViewer } from "./whep.js";

const PREFS = "bl.rotation";

export class RotationView {
  constructor(root) {
    this.root = root;
    this.page = 0;
    this.paused = false;
    this.cells = [];
    this.active = false;
    this.unsub = null;
    this.deadline = 0;
  }

  open() {
    this.prefs = { grid: 2, seconds: 20, ...JSON.parse(localStorage.getItem(PREFS) || "{}") };
    this.active = true;
    this._render();
    this.unsub = feed.onTiles((changed) => this._onTiles(changed));
    this.page = 0;
    this._showPage();
    this.timer = setInterval(() => this._tick(), 250);
  }

  close() {
    this.active = false;
    clearInterval(this.timer);
    if (this.unsub) this.unsub();
    this._stopCells();
    this.root.replaceChildren();
  }

  _savePrefs() { localStorage.setItem(PREFS, JSON.stringify(this.prefs)); }

  _render() {
    this.gridSel = el("select", { id: "rot-grid", onchange: () => { this.prefs.grid = Number(this.gridSel.value); this._savePrefs(); this.page = 0; this._showPage(); } },
      ...[2, 3, 4].map((n) => el("option", { value: n }, `${n}×${n}`)));
    this.gridSel.value = String(this.prefs.grid);
    this.secInput = el("input", { id: "rot-seconds", type: "number", min: 3, max: 600, value: this.prefs.seconds,
      onchange: () => { this.prefs.seconds = Math.max(3, Number(this.secInput.value) || 20); this._savePrefs(); this._restartTimer(); } });
    this.pauseBtn = el("button", { id: "rot-pause", type: "button", onclick: () => this.togglePause() }, t("rot_pause"));
    this.pageLabel = el("span.page", { id: "rot-page" });
    this.countdown = el("span.countdown");
    this.grid = el("div.rot-grid", { id: "rot-cells" });
    this.root.replaceChildren(
      el("div.rot-bar", null,
        el("a.back", { href: "#/wall", title: "Esc" }, "← ", t("back")),
        el("h2", null, t("rot_title")),
        el("label", null, t("rot_grid"), " ", this.gridSel),
        el("label", null, t("rot_interval"), " ", this.secInput),
        el("button.secondary", { type: "button", onclick: () => this.step(-1) }, "◀"),
        this.pageLabel,
        el("button.secondary", { type: "button", onclick: () => this.step(1) }, "▶"),
        this.pauseBtn, this.countdown),
      this.grid);
  }

  /** Live halls, alerting first. */
  _list() {
    return [...feed.tiles.values()]
      .filter((x) => x.meeting && (x.state === "live" || x.state === "stalled"))
      .sort((a, b) => (b.alerts.length > 0) - (a.alerts.length > 0) || zhCompare(a.township, b.township) || zhCompare(a.name, b.name));
  }

  togglePause() {
    this.paused = !this.paused;
    setText(this.pauseBtn, this.paused ? t("rot_resume") : t("rot_pause"));
    this.pauseBtn.classList.toggle("on", this.paused);
    this.root.classList.toggle("paused", this.paused);
    if (!this.paused) this._restartTimer();
  }

  step(delta) {
    const pages = Math.max(1, Math.ceil(this.list.length / (this.prefs.grid ** 2)));
    this.page = (this.page + delta + pages) % pages;
    this._showPage(true);
  }

  _restartTimer() { this.deadline = performance.now() + this.prefs.seconds * 1000; }

  _tick() {
    if (!this.active) return;
    if (this.paused) { setText(this.countdown, "⏸"); return; }
    const left = this.deadline - performance.now();
    setText(this.countdown, t("rot_seconds", { n: Math.max(0, Math.ceil(left / 1000)) }));
    if (left <= 0) this.step(1);
  }

  _showPage(keepList) {
    // The list is taken afresh at each page turn so new meetings and alerts join.
    if (!keepList || !this.list) this.list = this._list();
    else this.list = this._list();
    const per = this.prefs.grid ** 2;
    const pages = Math.max(1, Math.ceil(this.list.length / per));
    if (this.page >= pages) this.page = 0;
    const slice = this.list.slice(this.page * per, this.page * per + per);
    this._stopCells();
    this.grid.style.setProperty("--n", this.prefs.grid);
    this.grid.dataset.page = String(this.page);
    setText(this.pageLabel, t("rot_page", { page: this.page + 1, pages }));
    this.pageLabel.dataset.page = String(this.page + 1);
    this.pageLabel.dataset.pages = String(pages);
    if (!slice.length) {
      this.grid.replaceChildren(el("div.rot-empty", null, t("rot_empty")));
    } else {
      this.cells = slice.map((tile) => this._cell(tile));
      this.grid.replaceChildren(...this.cells.map((c) => c.node));
    }
    this._restartTimer();
  }

  _cell(tile) {
    const video = el("video", { autoplay: true, playsInline: true, muted: true });
    video.muted = true;
    const img = el("img", { alt: "" });
    const label = el("div.cell-label");
    const state = el("span.badge");
    const node = el("a.cell", { href: `#/branch/${tile.branch_id}`, dataset: { branch: tile.branch_id } },
      img, video, state, label);
    const cell = { node, video, img, label, state, branchId: tile.branch_id, viewer: null, thumbAt: null };
    this._patchCell(cell, tile);
    const viewer = new WhepViewer(video, tile.branch_id);
    cell.viewer = viewer;
    node.classList.add("thumb-mode");
    viewer.onstate = (s) => {
      if (s === "connected") node.classList.remove("thumb-mode");
      if (s === "failed" || s === "disconnected") node.classList.add("thumb-mode");
    };
    viewer.start().catch(() => { node.classList.add("thumb-mode"); node.dataset.whep = "unavailable"; });
    return cell;
  }

  _patchCell(cell, tile) {
    cell.node.className = `cell st-${tile.state}${cell.node.classList.contains("thumb-mode") ? " thumb-mode" : ""}${tile.alerts.length ? " alerting" : ""}`;
    setText(cell.state, stateLabel(tile.state));
    setText(cell.label, `${tile.township} · ${tile.name} · ${tile.meeting ? attendanceText(tile) : t("roster") + " " + (tile.expected ?? tile.roster)}${tile.alerts.length ? " · ⚠ " + tile.alerts.map(alertLabel).join(" ") : ""}`);
    if (tile.thumbnail_at != null && tile.thumbnail_at !== cell.thumbAt) {
      cell.thumbAt = tile.thumbnail_at;
      cell.img.src = thumbUrl(tile.branch_id, tile.thumbnail_at);
    }
  }

  _onTiles(changed) {
    if (!this.active) return;
    for (const cell of this.cells) {
      if (changed && !changed.has(cell.branchId)) continue;
      const tile = feed.tiles.get(cell.branchId);
      if (tile) this._patchCell(cell, tile);
    }
    // Nothing to show yet: take the first live halls as soon as they appear.
    if (!this.cells.length && this._list().length) this._showPage();
  }

  _stopCells() {
    for (const c of this.cells) if (c.viewer) c.viewer.close();
    this.cells = [];
  }
}
