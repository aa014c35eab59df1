// The wall: a tile per branch, in two layouts. "Grouped" (分组): township
// sections of large tiles, scrolling, for ordinary screens. "Dense" (全览):
// every hall of the county on one screen, township panels sized to fit the
// viewport (wall-layout.js), for the centre's big screen. Alerting halls come
// first in every group; each group header counts exactly the tiles under it.
// DOM writes are batched per animation frame and only changed tiles touched.
import { feed } from "./feed.js";
import { onLangChange, t } from "./shell/i18n.js";
import { buildTile, flushThumbs, loadThumb, patchState, patchTile, setThumbGap, setThumbHold, tickTile } from "./tile.js";
import { chooseMode, DENSE, denseFont, fitDense } from "./wall-layout.js";
import { alertLabel, clear, el, everySecond, fmtTime, setText, STATE_ORDER, stateLabel, zhCompare } from "./util.js";

const PREFS = "bl.wall";
const RELAYOUT_MS = 1000;
export const STATES = ["live", "stalled", "scheduled", "idle", "offline"];
const MODES = ["auto", "grouped", "dense"];
// Each picture that arrives costs the dense wall a repaint of its township
// panel: there a tile's picture is fetched every 30 s (its "stopped" mark
// still follows the hall's own picture times), a sixth of the panels every
// 5 s, so that each batch repaints a few panels and not the whole wall.
const DENSE_THUMB_PERIOD_S = 30;
const DENSE_THUMB_BATCH_TICKS = 5;
const DENSE_THUMB_TURNS = DENSE_THUMB_PERIOD_S / DENSE_THUMB_BATCH_TICKS;

export class WallView {
  constructor(root) {
    this.root = root;
    this.nodes = new Map();        // branch_id -> tile element
    this.dirty = new Set();
    this.visible = new Set();      // tile elements on screen
    this.groups = new Map();       // township -> {section, body, head, ...}
    this.layoutDirty = true;
    this.headsDirty = true;
    this.frame = 0;
    this.lastLayout = 0;
    this.layoutTimer = 0;
    this.mode = "grouped";         // the layout in effect (prefs.mode may be "auto")
    this.prefs = { town: "", state: "", q: "", sort: "state", group: true, alerts: false, mode: "auto", legend: true,
      ...JSON.parse(localStorage.getItem(PREFS) || "{}") };
    if (!MODES.includes(this.prefs.mode)) this.prefs.mode = "auto";
    this.prefs.q = "";
    this._build();
    this.io = new IntersectionObserver((entries) => {
      for (const e of entries) {
        if (e.isIntersecting) {
          this.visible.add(e.target);
          this._shown(e.target);
        } else this.visible.delete(e.target);
      }
    }, { root: this.scroller, rootMargin: "200px" });
    // The area is measured here, after the browser's layout, and kept: read
    // in the middle of the frame's DOM writes it would force a layout.
    this.areaNow = null;
    this.ro = new ResizeObserver(() => { this.areaNow = null; this.areaNow = this._area(); this.layoutDirty = true; this.lastLayout = 0; this._schedule(); });
    this.ro.observe(this.scroller);
    this.unsubs = [
      feed.onTiles((changed) => this._onTiles(changed)),
      feed.onHubAlerts(() => this._hubAlerts()),
      feed.onStatus(() => { this.tickAll = true; this._schedule(); }),
    ];
    onLangChange(() => { this._texts(); this._hubAlerts(); for (const id of this.nodes.keys()) this.dirty.add(id); this.layoutDirty = true; this.headsDirty = true; this._schedule(); });
    this.stopTicker = everySecond(() => { this.tickAll = true; this._schedule(); });
    if (feed.tiles.size) this._onTiles(null);
  }

  destroy() {
    for (const u of this.unsubs) u();
    this.stopTicker();
    clearTimeout(this.layoutTimer);
    if (this.frame) cancelAnimationFrame(this.frame);
    this.io.disconnect();
    this.ro.disconnect();
  }

  _build() {
    const p = this.prefs;
    this.search = el("input.search", { type: "search", id: "wall-search", value: "" });
    // Escape in a search box clears it with a "search" event, not "input".
    for (const ev of ["input", "search", "change"]) {
      this.search.addEventListener(ev, () => { if (this.search.value.trim() !== this.prefs.q) this._setPref("q", this.search.value.trim()); });
    }
    this.townSel = el("select", { id: "wall-town", onchange: () => this._setPref("town", this.townSel.value) });
    this.stateSel = el("select", { id: "wall-state", onchange: () => this._setPref("state", this.stateSel.value) });
    this.sortSel = el("select", { id: "wall-sort", onchange: () => this._setPref("sort", this.sortSel.value) },
      el("option", { value: "state" }), el("option", { value: "name" }));
    this.sortSel.value = p.sort;
    this.groupBox = el("input", { type: "checkbox", id: "wall-group", checked: p.group, onchange: () => this._setPref("group", this.groupBox.checked) });
    this.alertBox = el("input", { type: "checkbox", id: "wall-alerts", checked: p.alerts, onchange: () => this._setPref("alerts", this.alertBox.checked) });
    this.groupText = el("span");
    this.alertText = el("span");
    this.modeLabel = el("span.seg-label");
    this.modeBtns = MODES.map((m) => el("button.secondary", { type: "button", dataset: { mode: m }, onclick: () => this._setPref("mode", m) }));
    this.modeSeg = el("div.seg", { id: "wall-mode", role: "group" }, this.modeLabel, ...this.modeBtns);
    this.rotLink = el("a.button.rot-link", { id: "wall-rotation", href: "#/rotation", title: "r" });
    this.legendBtn = el("button.secondary", { type: "button", id: "wall-legend-btn", onclick: () => this._setPref("legend", !this.prefs.legend) });
    // the hub's own alerts (a media node died, the recordings disk): Chinese label, the hub's text on hover
    this.hubAlertBox = el("div.hub-alerts", { id: "hub-alerts", hidden: true });
    this.summary = el("div.summary");
    this.count = el("span.count", { id: "wall-count" });
    const bar = el("div.wall-bar", null, this.search, this.townSel, this.stateSel, this.sortSel,
      el("label.check", null, this.groupBox, this.groupText),
      el("label.check", null, this.alertBox, this.alertText),
      this.modeSeg, this.rotLink, this.legendBtn, this.hubAlertBox, this.summary, this.count);
    this.legend = el("div.legend", { id: "wall-legend" });
    this.scroller = el("div.wall-scroll", { id: "wall-grid" });
    this.root.classList.add("wall");
    this.root.append(bar, this.legend, this.scroller);
    this._texts();
    this._hubAlerts();
  }

  _hubAlerts() {
    const now = feed.hubNow();
    const shown = feed.hubAlerts.filter((a) => now - Date.parse(a.at) / 1000 < 600);
    this.hubAlertBox.replaceChildren(...shown.map((a) => el("span.alert", { title: a.message, dataset: { kind: a.kind } },
      "⚠ ", alertLabel(a), " ", fmtTime(a.at))));
    this.hubAlertBox.hidden = !shown.length;
  }

  /** Every fixed text of the wall, in the current language. */
  _texts() {
    this.search.placeholder = t("search_ph");
    this.sortSel.options[0].textContent = t("sort_state");
    this.sortSel.options[1].textContent = t("sort_name");
    setText(this.groupText, t("group_town"));
    setText(this.alertText, t("alerts_only"));
    setText(this.modeLabel, t("mode_label"));
    for (const b of this.modeBtns) setText(b, t("mode_" + b.dataset.mode));
    setText(this.rotLink, t("rotation_btn"));
    setText(this.legendBtn, t("legend"));
    this._legend();
    this._fillTowns();
    this._modeButtons();
    this.summary.dataset.key = "";
  }

  _legend() {
    const item = (cls, mark, text) => el(`span.lg${cls}`, null, mark ? el("b", null, mark) : null, text);
    this.legend.replaceChildren(
      ...STATES.map((s) => el(`span.lg.st-${s}`, { dataset: { state: s } }, el("i.dot"), el("b", null, stateLabel(s)), t("lg_" + s))),
      item(".lg-numbers", "5/6", t("lg_numbers")),
      item(".lg-met", "✓", t("lg_met")),
      item(".lg-not", "✗", t("lg_not")),
      item(".lg-excused", "*", t("lg_excused")),
      item(".lg-alert", "⚠", t("lg_alert")),
      item(".lg-stale", null, t("lg_stale")));
    this.legend.hidden = !this.prefs.legend;
    this.legendBtn.classList.toggle("on", this.prefs.legend);
  }

  _modeButtons() {
    for (const b of this.modeBtns) b.classList.toggle("on", b.dataset.mode === this.prefs.mode);
    const auto = this.modeBtns[0];
    auto.title = t("mode_auto_is", { mode: t("mode_" + this.mode) });
    this.root.dataset.mode = this.mode;
    this.root.dataset.modePref = this.prefs.mode;
  }

  _fillStates() {
    const keep = this.prefs.state;
    this.stateSel.replaceChildren(el("option", { value: "" }, t("all_states")),
      ...STATES.map((s) => el("option", { value: s }, stateLabel(s))));
    this.stateSel.value = keep;
  }

  _fillTowns() {
    const towns = [...new Set([...feed.tiles.values()].map((x) => x.township))].sort(zhCompare);
    const keep = this.prefs.town;
    this.townSel.replaceChildren(el("option", { value: "" }, t("all_townships")), ...towns.map((x) => el("option", { value: x }, x || "—")));
    this.townSel.value = towns.includes(keep) ? keep : "";
    this._fillStates();
  }

  _setPref(key, value) {
    this.prefs[key] = value;
    const { q, ...keep } = this.prefs;
    localStorage.setItem(PREFS, JSON.stringify(keep));
    if (key === "legend") this._legend();
    this.layoutDirty = true;
    this.lastLayout = 0;
    this._schedule();
  }

  focusSearch() { this.search.focus(); this.search.select(); }

  setStateFilter(state) { this.stateSel.value = state; this._setPref("state", state); }

  _onTiles(changed) {
    if (changed === null) {
      for (const [id, node] of this.nodes) {
        if (!feed.tiles.has(id)) { this.io.unobserve(node); this.visible.delete(node); node.remove(); this.nodes.delete(id); }
      }
      for (const id of feed.tiles.keys()) this.dirty.add(id);
      this.layoutDirty = true;
      this.lastLayout = 0;
      this._fillTowns();
    } else {
      for (const id of changed) {
        const old = this.nodes.get(id)?._seen;
        const now = feed.tiles.get(id);
        if (!old || !now || old.state !== now.state || (old.alerts.length > 0) !== (now.alerts.length > 0)) this.layoutDirty = true;
        this.dirty.add(id);
      }
    }
    // Dense: every hall is on screen and each frame costs the wall as a whole,
    // so changes are drawn together at the next second's tick (one frame)
    // rather than as each hall's message arrives.
    if (changed === null || this.mode !== "dense") this._schedule();
  }

  _schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this._flush());
  }

  _flush() {
    this.frame = 0;
    let created = false;
    for (const id of this.dirty) {
      const tile = feed.tiles.get(id);
      if (!tile) continue;
      let node = this.nodes.get(id);
      if (!node) {
        node = buildTile(id);
        this.nodes.set(id, node);
        created = true;
      }
      const before = node.dataset.state + node.classList.contains("alerting");
      node._seen = tile;
      // Off-screen tiles get their colour now and the rest when they scroll
      // into view: most of 512 are off screen in the grouped layout.
      if (node._tile && !this.visible.has(node)) { patchState(node, tile); node._pending = true; }
      else { node._pending = false; patchTile(node, tile, this.visible.has(node) && this.mode !== "dense"); }
      if (before !== node.dataset.state + node.classList.contains("alerting")) this.headsDirty = true;
    }
    this.dirty.clear();
    if (created) this.layoutDirty = true;
    if (this.layoutDirty) {
      const wait = this.lastLayout + RELAYOUT_MS - performance.now();
      if (wait <= 0 || created) this._layout();
      else if (!this.layoutTimer) this.layoutTimer = setTimeout(() => { this.layoutTimer = 0; this._schedule(); }, wait);
    }
    if (this.headsDirty) this._heads();
    if (this.tickAll) {
      this.tickAll = false;
      const now = feed.hubNow();
      const dense = this.mode === "dense";
      if (dense) flushThumbs();  // the pictures decoded since the last second, in this one frame
      for (const node of this.visible) tickTile(node, now, feed.up, dense);
      // Dense pictures are fetched in batches, panel by panel, so that they arrive together.
      if (dense && (this.ticks = (this.ticks || 0) + 1) % DENSE_THUMB_BATCH_TICKS === 0) {
        const turn = (this.ticks / DENSE_THUMB_BATCH_TICKS) % DENSE_THUMB_TURNS;
        let i = 0;
        for (const g of this.groups.values()) if (i++ % DENSE_THUMB_TURNS === turn) for (const node of g.body.children) loadThumb(node);
      }
      this._summary();
    }
  }

  _matches(tile) {
    const p = this.prefs;
    if (p.town && tile.township !== p.town) return false;
    if (p.state && tile.state !== p.state) return false;
    if (p.alerts && tile.alerts.length === 0) return false;
    if (p.q && !tile.name.toLowerCase().includes(p.q.toLowerCase()) && !(tile.township || "").includes(p.q)) return false;
    return true;
  }

  /** Halls with problems first, whatever the sort. */
  _sorted(tiles) {
    const byName = (a, b) => zhCompare(a.name, b.name);
    const alertFirst = (a, b) => (b.alerts.length > 0) - (a.alerts.length > 0);
    if (this.prefs.sort === "name") return tiles.sort((a, b) => alertFirst(a, b) || byName(a, b));
    return tiles.sort((a, b) => alertFirst(a, b) || STATE_ORDER[a.state] - STATE_ORDER[b.state] || byName(a, b));
  }

  _area() {
    if (this.areaNow) return this.areaNow;
    const cs = getComputedStyle(this.scroller);
    return {
      w: this.scroller.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight),
      h: this.scroller.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom),
      tileW: parseFloat(getComputedStyle(this.root).getPropertyValue("--tile-w")) || 200,
    };
  }

  _layout() {
    this.layoutDirty = false;
    this.lastLayout = performance.now();
    const shown = this._sorted([...feed.tiles.values()].filter((x) => this._matches(x)));
    const buckets = new Map();
    for (const tile of shown) {
      const key = this.prefs.group ? tile.township || "—" : "";
      if (!buckets.has(key)) buckets.set(key, []);
      buckets.get(key).push(tile);
    }
    const keys = [...buckets.keys()].sort(zhCompare);
    this._applyMode(keys.map((k) => buckets.get(k).length));
    const keep = new Set(keys);
    for (const [key, g] of this.groups) if (!keep.has(key)) { g.section.remove(); this.groups.delete(key); }
    const shownNodes = new Set();
    let prevSection = null;
    for (const key of keys) {
      let g = this.groups.get(key);
      if (!g) {
        g = { name: el("span.gname", null, key), counts: el("span.gcounts"), body: el("div.tiles"), key: "" };
        g.head = el("h2.group-head", null, g.name, " ", g.counts);
        g.section = el("section.group", { dataset: { township: key } }, g.head, g.body);
        this.groups.set(key, g);
      }
      const placeAfter = prevSection ? prevSection.nextSibling : this.scroller.firstChild;
      if (placeAfter !== g.section) this.scroller.insertBefore(g.section, placeAfter);
      prevSection = g.section;
      g.head.hidden = !this.prefs.group;
      // Move only the nodes that are out of place.
      let cursor = g.body.firstChild;
      for (const tile of buckets.get(key)) {
        const node = this.nodes.get(tile.branch_id);
        if (!node) continue;
        shownNodes.add(node);
        this._watch(node);
        if (node === cursor) { cursor = cursor.nextSibling; continue; }
        g.body.insertBefore(node, cursor);
      }
      while (cursor) { const next = cursor.nextSibling; cursor.remove(); cursor = next; }
    }
    for (const node of this.nodes.values()) {
      if (!shownNodes.has(node) && node.isConnected) node.remove();
      if (!node.isConnected) this.visible.delete(node);
    }
    setText(this.count, t("tiles_count", { shown: shown.length, total: feed.tiles.size }));
    this.headsDirty = true;
    this.tickAll = true;
  }

  /** Track whether a tile is on screen: the intersection observer in the
   * grouped layout; in the dense one every tile shown is on screen, and 512
   * observed targets would cost the page work at every frame. */
  _watch(node) {
    if (this.mode !== "dense") {
      if (!node._observed) { this.io.observe(node); node._observed = true; }
      return;
    }
    if (this.visible.has(node)) return;
    this.visible.add(node);
    this._shown(node);
  }

  _shown(node) {
    if (node._pending) { node._pending = false; const tile = feed.tiles.get(Number(node.dataset.id)); if (tile) patchTile(node, tile, true); }
    loadThumb(node);
    tickTile(node, feed.hubNow(), feed.up, this.mode === "dense");
  }

  /** Pick the layout (auto: dense when the grouped tiles would not fit on
   * the screen and dense tiles stay legible) and size the dense panels. */
  _applyMode(counts) {
    const area = this._area();
    const headed = this.prefs.group;
    const fitKey = `${counts.join(",")}|${area.w}|${area.h}|${headed}`;
    if (this.fitKey !== fitKey) { this.fitKey = fitKey; this.fit = fitDense(counts, area.w, area.h, headed); }
    const fit = this.fit;
    const mode = this.prefs.mode === "auto" ? chooseMode(counts, area, fit) : this.prefs.mode;
    if (mode !== this.mode) {
      // Visibility is tracked afresh by the new layout (see _watch).
      this.io.disconnect();
      for (const node of this.nodes.values()) node._observed = false;
      this.visible.clear();
    }
    this.mode = mode;
    this.root.classList.toggle("dense", mode === "dense");
    this._modeButtons();
    let thumbs = true;
    if (mode === "dense") {
      const fs = denseFont(fit.tw);
      const st = this.scroller.style;
      st.setProperty("--k", fit.k);
      st.setProperty("--c", fit.c);
      st.setProperty("--tw", `${fit.tw}px`);
      st.setProperty("--th", `${fit.th}px`);
      st.setProperty("--dfs", `${fs}px`);
      st.setProperty("--dhead", `${DENSE.head}px`);
      // A picture where the tile has room for one below its two lines of text.
      thumbs = fit.th - 2 * Math.ceil(fs * 1.3) - 4 >= DENSE.thumbMin;
      this.root.dataset.fits = String(fit.fits);
    }
    this.root.classList.toggle("dense-thumbs", mode === "dense" && thumbs);
    // (A little under the period: a panel's turn comes round every 30 s, give or take a timer's delay.)
    const policy = mode !== "dense" ? 0 : thumbs ? DENSE_THUMB_PERIOD_S * 1000 - 2000 : null;
    if (policy !== this.thumbPolicy) {
      this.thumbPolicy = policy;
      setThumbGap(policy);
      setThumbHold(mode === "dense");
      for (const node of this.visible) loadThumb(node);
    }
  }

  /** Group headers count the tiles under them, as those tiles show. */
  _heads() {
    this.headsDirty = false;
    for (const g of this.groups.values()) {
      const n = Object.fromEntries(STATES.map((s) => [s, 0]));
      let total = 0;
      let alerting = 0;
      for (const node of g.body.children) {
        total += 1;
        n[node.dataset.state] = (n[node.dataset.state] || 0) + 1;
        if (node.classList.contains("alerting")) alerting += 1;
      }
      const key = `${document.documentElement.lang}|${total}|${alerting}|${STATES.map((s) => n[s]).join(",")}`;
      if (g.key === key) continue;
      g.key = key;
      const parts = [
        el("span.hc.hc-total", { dataset: { n: total } }, t("group_total", { n: total })),
        ...STATES.filter((s) => n[s]).map((s) => el(`span.hc.st-${s}`, { dataset: { state: s, n: n[s] }, title: stateLabel(s) },
          el("i.dot"), el("span.hl", null, stateLabel(s)), " ", el("span.hn", null, String(n[s])))),
      ];
      if (alerting) parts.push(el("span.hc.hc-alert", { dataset: { n: alerting }, title: t("group_alerts", { n: alerting }) }, `⚠ ${alerting}`));
      g.counts.replaceChildren(...parts.flatMap((x, i) => (i ? [" ", x] : [x])));
    }
  }

  _summary() {
    const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
    let alerting = 0;
    for (const tile of feed.tiles.values()) { counts[tile.state] += 1; if (tile.alerts.length) alerting += 1; }
    const key = STATES.map((s) => counts[s]).join(",") + "," + alerting + document.documentElement.lang + this.prefs.state;
    if (this.summary.dataset.key === key) return;
    this.summary.dataset.key = key;
    clear(this.summary);
    for (const s of STATES) {
      this.summary.append(el(`button.chip.st-${s}${this.prefs.state === s ? ".on" : ""}`, {
        type: "button", dataset: { state: s }, onclick: () => this.setStateFilter(this.prefs.state === s ? "" : s),
      }, `${stateLabel(s)} ${counts[s]}`));
    }
    if (alerting) {
      this.summary.append(el(`button.chip.alert-chip${this.prefs.alerts ? ".on" : ""}`, {
        type: "button", onclick: () => { this.alertBox.checked = !this.prefs.alerts; this._setPref("alerts", !this.prefs.alerts); this.summary.dataset.key = ""; },
      }, `⚠ ${alerting}`));
    }
  }
}
