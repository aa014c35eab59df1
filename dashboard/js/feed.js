// The wall feed: one /ws/wall socket for the whole page, reconnecting with
// backoff, holding the tiles it receives (snapshot, then deltas).
import { api } from "./shell/api.js";
import { currentLang } from "./shell/i18n.js";

const MIN_DELAY = 500;
const MAX_DELAY = 15000;

export class WallFeed {
  constructor() {
    this.tiles = new Map();          // branch_id -> tile (as the hub sent it)
    this.meetingTypes = [];
    this.hubAlerts = [];             // the hub's own alerts (a media node died, the disk): {kind, message, at}
    this.clockOffset = 0;            // hub clock - local clock (s)
    this.up = false;
    this.attempt = 0;
    this.everUp = false;
    this.counters = { messages: 0, bytes: 0 };
    this._ws = null;
    this._timer = null;
    this._stopped = true;
    this._tileSubs = new Set();      // fn(changedIds | null) ; null = everything changed
    this._checkinSubs = new Set();   // fn(checkinMessage)
    this._statusSubs = new Set();    // fn(up, attempt)
    this._hubAlertSubs = new Set();  // fn(hubAlerts)
    this.onAuthLost = null;
  }

  onTiles(fn) { this._tileSubs.add(fn); return () => this._tileSubs.delete(fn); }
  onHubAlerts(fn) { this._hubAlertSubs.add(fn); return () => this._hubAlertSubs.delete(fn); }
  onCheckin(fn) { this._checkinSubs.add(fn); return () => this._checkinSubs.delete(fn); }
  onStatus(fn) { this._statusSubs.add(fn); return () => this._statusSubs.delete(fn); }

  /** {code: name} of the meeting types in the page's language. A page opened
   * directly (#/branch/5, #/playback) can render before the wall's snapshot
   * brings them: then they are asked of the API once. */
  async typeNames() {
    if (!this.meetingTypes.length) {
      try { this.meetingTypes = await api.get("/api/v1/meeting-types"); } catch (err) { /* codes shown */ }
    }
    const en = currentLang() === "en";
    return Object.fromEntries(this.meetingTypes.map((x) => [x.code, en ? x.name_en : x.name_zh]));
  }

  /** Seconds since the epoch on the hub's clock. */
  hubNow() { return Date.now() / 1000 + this.clockOffset; }

  start() {
    if (!this._stopped) return;
    this._stopped = false;
    this._connect();
  }

  stop() {
    this._stopped = true;
    clearTimeout(this._timer);
    if (this._ws) { this._ws.onclose = null; this._ws.close(); this._ws = null; }
    this._setUp(false);
  }

  async _connect() {
    // A one-time ticket opens the socket: the session token never goes into
    // a URL (URLs end up in access logs).
    let ticket;
    try {
      const res = await fetch("/api/v1/auth/socket-ticket", { method: "POST", credentials: "same-origin" });
      if (res.status === 401 || res.status === 403) {
        if (this.onAuthLost) { this.stop(); this.onAuthLost(); }
        return;
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      ticket = (await res.json()).ticket;
    } catch {
      if (!this._stopped) this._retry();
      return;
    }
    if (this._stopped) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/ws/wall?ticket=${encodeURIComponent(ticket)}`);
    this._ws = ws;
    ws.onopen = () => { this.attempt = 0; this.everUp = true; this._setUp(true); };
    ws.onmessage = (ev) => {
      this.counters.messages += 1;
      this.counters.bytes += ev.data.length;
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      this._handle(msg);
    };
    ws.onclose = () => {
      this._ws = null;
      this._setUp(false);
      if (!this._stopped) this._retry();
    };
  }

  async _retry() {
    this.attempt += 1;
    this._emitStatus();
    // A refused handshake looks like any other close in a browser: ask the
    // REST API whether the session is still good before trying again.
    if (this.attempt % 3 === 1) {
      try {
        const res = await fetch("/api/v1/auth/me", { credentials: "same-origin" });
        if (res.status === 401 && this.onAuthLost) { this.stop(); this.onAuthLost(); return; }
      } catch { /* hub down: keep trying */ }
    }
    const base = Math.min(MAX_DELAY, MIN_DELAY * 2 ** Math.min(this.attempt - 1, 6));
    const delay = base / 2 + Math.random() * base / 2;
    clearTimeout(this._timer);
    if (!this._stopped) this._timer = setTimeout(() => this._connect(), delay);
  }

  _setUp(up) {
    if (this.up === up) return;
    this.up = up;
    this._emitStatus();
  }

  _emitStatus() { for (const fn of this._statusSubs) fn(this.up, this.attempt); }

  _handle(msg) {
    if (typeof msg.ts === "number") this.clockOffset = msg.ts - Date.now() / 1000;
    if (msg.type === "batch") {
      const changed = new Set();
      let reset = false;
      for (const m of msg.messages) {
        const r = this._apply(m);
        if (r === null) reset = true; else if (r !== undefined) changed.add(r);
      }
      this._emitTiles(reset ? null : changed);
      return;
    }
    const r = this._apply(msg);
    if (r === null) this._emitTiles(null);
    else if (r !== undefined) this._emitTiles(new Set([r]));
  }

  /** Returns the changed branch id, null for "everything", undefined for none. */
  _apply(msg) {
    if (msg.type === "snapshot") {
      this.tiles = new Map(msg.tiles.map((t) => [t.branch_id, t]));
      this.meetingTypes = msg.meeting_types || [];
      this._setHubAlerts(msg.hub_alerts || []);
      return null;
    }
    if (msg.type === "hub_alerts") {
      this._setHubAlerts(msg.alerts || []);
      return undefined;
    }
    if (msg.type === "tile") {
      this.tiles.set(msg.tile.branch_id, msg.tile);
      return msg.tile.branch_id;
    }
    if (msg.type === "tile_removed") {
      // A branch deactivated: every view redraws from the tiles left.
      return this.tiles.delete(msg.branch_id) ? null : undefined;
    }
    if (msg.type === "checkin") {
      for (const fn of this._checkinSubs) fn(msg);
    }
    return undefined;
  }

  _setHubAlerts(alerts) { this.hubAlerts = alerts; for (const fn of this._hubAlertSubs) fn(alerts); }

  _emitTiles(changed) { for (const fn of this._tileSubs) fn(changed); }
}

export const feed = new WallFeed();
