// A WHEP viewer (RFC 9725): SDP offer in, 201 + answer + Location; DELETE to
// stop. With `talk`, the audio transceiver is sendrecv and carries the
// operator's microphone, muted until push-to-talk enables the track.
import { errorText, has, t } from "./shell/i18n.js";

const ICE_WAIT_MS = 2000;
const DELETE_WAIT_MS = 2000;  // longest our end stays open for the server to end the session
let routeMissingUntil = 0;   // the media plane is off: do not hammer it

/** Why live video cannot be shown. `text` is for the operator, in the
 * page's language: the media plane's problems carry no code, so its status
 * says which (409: the hall is not publishing; 503: busy or not running). */
export class MediaUnavailable extends Error {
  constructor(detail, status, text) {
    super(detail);
    this.detail = detail;
    this.status = status;
    this.code = status === 0 ? "network_down" : undefined;
    this.text = text || (has(`whep_${status}`) ? t(`whep_${status}`) : errorText(this));
  }
}

function waitIce(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", done); resolve(); } };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ICE_WAIT_MS);
  });
}

export class WhepViewer {
  constructor(video, branchId, { talk = false } = {}) {
    this.video = video;
    this.branchId = branchId;
    this.talk = talk;
    this.pc = null;
    this.location = null;
    this.mic = null;
    this.closed = false;
    this.onstate = null;      // fn(state, detail)
  }

  async start() {
    if (Date.now() < routeMissingUntil) throw new MediaUnavailable("no WHEP route", 404, t("media_no_route"));
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    if (this.talk) {
      try {
        const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
        this.mic = stream.getAudioTracks()[0];
        this.mic.enabled = false;
        pc.addTransceiver(this.mic, { direction: "sendrecv", streams: [stream] });
      } catch {
        this.mic = null;
        pc.addTransceiver("audio", { direction: "recvonly" });
      }
    } else {
      pc.addTransceiver("audio", { direction: "recvonly" });
    }
    const remote = new MediaStream();
    pc.ontrack = (ev) => {
      remote.addTrack(ev.track);
      this.video.srcObject = remote;
      this.video.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => { if (this.onstate) this.onstate(pc.connectionState); };
    await pc.setLocalDescription(await pc.createOffer());
    await waitIce(pc);
    if (this.closed) return;
    let res;
    try {
      res = await fetch(`/whep/${this.branchId}`, {
        method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp,
      });
    } catch (err) {
      this.close();
      throw new MediaUnavailable(String(err.message || err), 0);
    }
    if (res.status !== 201) {
      let detail = await res.text();
      try { const j = JSON.parse(detail); detail = j.detail || j.title || detail; } catch { /* plain text */ }
      // A 404 that is not about the branch means there is no WHEP route at all.
      let text = null;
      if ((res.status === 404 || res.status === 405) && !/branch|hall|publish|meeting|stream/i.test(detail)) {
        routeMissingUntil = Date.now() + 30000;
        text = t("media_no_route");
      }
      this.close();
      throw new MediaUnavailable(detail || `HTTP ${res.status}`, res.status, text);
    }
    const loc = res.headers.get("Location");
    this.location = loc ? new URL(loc, location.href).href : null;
    const answer = await res.text();
    if (this.closed) { this._delete(); return; }
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
  }

  get canTalk() { return this.mic != null; }

  setTalking(on) { if (this.mic) this.mic.enabled = on; }

  _delete() {
    const url = this.location;
    this.location = null;
    if (!url) return Promise.resolve();
    return fetch(url, { method: "DELETE", credentials: "same-origin", keepalive: true }).catch(() => {});
  }

  close() {
    this.closed = true;
    const pc = this.pc;
    this.pc = null;
    if (this.mic) { this.mic.stop(); this.mic = null; }
    if (this.video) this.video.srcObject = null;
    if (!pc) { this._delete(); return; }
    pc.ontrack = null;
    pc.onconnectionstatechange = null;
    // The server ends the session (DELETE) before our end closes: closed
    // first, the media node would see the connection go and end the view
    // itself, and the DELETE (one hop longer through a hub node in a
    // cluster) would find no session. Bounded: the page may be leaving.
    const waited = new Promise((resolve) => setTimeout(resolve, DELETE_WAIT_MS));
    Promise.race([this._delete(), waited]).then(() => pc.close());
  }
}
