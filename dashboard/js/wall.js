// The wall: a tile per branch, grouped and filtered; DOM writes batched per
// animation frame, only changed tiles touched, pictures fetched only for
// tiles on screen.
import { feed } from "./feed.js";
import { onLangChange, t } from "./shell/i18n.js";
import { buildTile, loadThumb, patchTile, tickTile } from "./tile.js";
import { clear, el, setText, STATE_ORDER, stateLabel } from "./util.js";

const PREFS = "bl.wall";
const RELAYOUT_MS = 1000;
const STATES = ["live", "stalled", "scheduled", "idle", "offline"];

export class WallView {
  constructor(root) {
    this.root = root;
    this.nodes = new Map();        // branch_id -> tile element
    this.dirty = new Set();
    this.visible = new Set();      // tile elements on screen
    this.groups = new Map();       // township -> {section, body, head}
    this.layoutDirty = true;
    this.frame = 0;
    this.lastLayout = 0;
    this.layoutTimer = 0;
    this.prefs = { town: "", state: "", q: "", sort: "state", group: true, alerts: false,
      ...JSON.parse(localStorage.getItem(PREFS) || "{}") };
    this.prefs.q = "";
    this._build();
    this.io = new IntersectionObserver((entries) => {
      for (const e of entries) {
        if (e.isIntersecting) {
          const node = e.target;
          this.visible.add(node);
          if (node._pending) { node._pending = false; const tile = feed.tiles.get(Number(node.dataset.id)); if (tile) patchTile(node, tile, true); }
          loadThumb(node);
          tickTile(node, feed.hubNow(), feed.up);
        } else this.visible.delete(e.target);
      }
    }, { root: this.scroller, rootMargin: "200px" });
    feed.onTiles((changed) => this._onTiles(changed));
    feed.onStatus(() => { this.tickAll = true; this._schedule(); });
    onLangChange(() => { for (const id of this.nodes.keys()) this.dirty.add(id); this.layoutDirty = true; this._fillTowns(); this._schedule(); });
    setInterval(() => { this.tickAll = true; this._schedule(); }, 1000);
  }

  _build() {
    const p = this.prefs;
    this.search = el("input.search", { type: "search", id: "wall-search", value: "", dataset: { i18nPh: "search_ph" } });
    // Escape in a search box clears it with a "search" event, not "input".
    for (const ev of ["input", "search", "change"]) {
      this.search.addEventListener(ev, () => { if (this.search.value.trim() !== this.prefs.q) this._setPref("q", this.search.value.trim()); });
    }
    this.townSel = el("select", { id: "wall-town", onchange: () => this._setPref("town", this.townSel.value) });
    this.stateSel = el("select", { id: "wall-state", onchange: () => this._setPref("state", this.stateSel.value) });
    this.sortSel = el("select", { id: "wall-sort", onchange: () => this._setPref("sort", this.sortSel.value) },
      el("option", { value: "state", dataset: { i18n: "sort_state" } }), el("option", { value: "name", dataset: { i18n: "sort_name" } }));
    this.sortSel.value = p.sort;
    this.groupBox = el("input", { type: "checkbox", id: "wall-group", checked: p.group, onchange: () => this._setPref("group", this.groupBox.checked) });
    this.alertBox = el("input", { type: "checkbox", id: "wall-alerts", checked: p.alerts, onchange: () => this._setPref("alerts", this.alertBox.checked) });
    this.summary = el("div.summary");
    this.count = el("span.count", { id: "wall-count" });
    const bar = el("div.wall-bar", null, this.search, this.townSel, this.stateSel, this.sortSel,
      el("label.check", null, this.groupBox, el("span", { dataset: { i18n: "group_town" } })),
      el("label.check", null, this.alertBox, el("span", { dataset: { i18n: "alerts_only" } })),
      this.summary, this.count);
    this.scroller = el("div.wall-scroll", { id: "wall-grid" });
    this.root.append(bar, this.scroller);
    this._fillStates();
  }

  _fillStates() {
    const keep = this.prefs.state;
    this.stateSel.replaceChildren(el("option", { value: "" }, t("all_states")),
      ...STATES.map((s) => el("option", { value: s }, stateLabel(s))));
    this.stateSel.value = keep;
  }

  _fillTowns() {
    const towns = [...new Set([...feed.tiles.values()].map((x) => x.township))].sort((a, b) => a.localeCompare(b, "zh"));
    const keep = this.prefs.town;
    this.townSel.replaceChildren(el("option", { value: "" }, t("all_townships")), ...towns.map((x) => el("option", { value: x }, x || "—")));
    this.townSel.value = towns.includes(keep) ? keep : "";
    this._fillStates();
  }

  _setPref(key, value) {
    this.prefs[key] = value;
    const { q, ...keep } = this.prefs;
    localStorage.setItem(PREFS, JSON.stringify(keep));
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
        const old = this.nodes.get(id)?._tile;
        const now = feed.tiles.get(id);
        if (!old || !now || old.state !== now.state || old.alerts.length !== now.alerts.length) this.layoutDirty = true;
        this.dirty.add(id);
      }
    }
    this._schedule();
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
      // Off-screen tiles wait until they scroll into view: most of 512 are.
      if (node._tile && !this.visible.has(node)) { node._pending = true; continue; }
      node._pending = false;
      patchTile(node, tile, this.visible.has(node));
    }
    this.dirty.clear();
    if (created) this.layoutDirty = true;
    if (this.layoutDirty) {
      const wait = this.lastLayout + RELAYOUT_MS - performance.now();
      if (wait <= 0 || created) this._layout();
      else if (!this.layoutTimer) this.layoutTimer = setTimeout(() => { this.layoutTimer = 0; this._schedule(); }, wait);
    }
    if (this.tickAll) {
      this.tickAll = false;
      const now = feed.hubNow();
      for (const node of this.visible) tickTile(node, now, feed.up);
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

  _sorted(tiles) {
    if (this.prefs.sort === "name") return tiles.sort((a, b) => a.name.localeCompare(b.name, "zh"));
    return tiles.sort((a, b) => (b.alerts.length > 0) - (a.alerts.length > 0) || STATE_ORDER[a.state] - STATE_ORDER[b.state] || a.name.localeCompare(b.name, "zh"));
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
    const keys = [...buckets.keys()].sort((a, b) => a.localeCompare(b, "zh"));
    const keep = new Set(keys);
    for (const [key, g] of this.groups) if (!keep.has(key)) { g.section.remove(); this.groups.delete(key); }
    const shownNodes = new Set();
    let prevSection = null;
    for (const key of keys) {
      let g = this.groups.get(key);
      if (!g) {
        g = { head: el("h2.group-head"), body: el("div.tiles") };
        g.section = el("section.group", { dataset: { township: key } }, g.head, g.body);
        this.groups.set(key, g);
      }
      const placeAfter = prevSection ? prevSection.nextSibling : this.scroller.firstChild;
      if (placeAfter !== g.section) this.scroller.insertBefore(g.section, placeAfter);
      prevSection = g.section;
      const tiles = buckets.get(key);
      g.head.hidden = !this.prefs.group;
      const live = tiles.filter((x) => x.state === "live" || x.state === "stalled").length;
      const alerts = tiles.filter((x) => x.alerts.length).length;
      setText(g.head, `${key}  ·  ${stateLabel("live")} ${live} / ${tiles.length}${alerts ? `  ·  ⚠ ${alerts}` : ""}`);
      // Move only the nodes that are out of place.
      let cursor = g.body.firstChild;
      for (const tile of tiles) {
        const node = this.nodes.get(tile.branch_id);
        if (!node) continue;
        shownNodes.add(node);
        if (node === cursor) { cursor = cursor.nextSibling; continue; }
        g.body.insertBefore(node, cursor);
        if (!node._observed) { this.io.observe(node); node._observed = true; }
      }
      while (cursor) { const next = cursor.nextSibling; cursor.remove(); cursor = next; }
    }
    for (const node of this.nodes.values()) {
      if (!shownNodes.has(node) && node.isConnected) node.remove();
      if (!node.isConnected) this.visible.delete(node);
    }
    setText(this.count, t("tiles_count", { shown: shown.length, total: feed.tiles.size }));
    this.tickAll = true;
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
    if (alerting) this.summary.append(el("span.chip.alert-chip", null, `⚠ ${alerting}`));
  }
}
