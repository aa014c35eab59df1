"""Live view and playback against a hub with its media plane on. The hall is
a second Chromium page publishing its fake camera over WHIP with the hall's
device token, so every byte goes through the hub's real media plane."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import av
import pytest
from playwright.sync_api import expect

from tests.dashboard.helpers import bench, signed_in_page
from tests.dashboard.latin import assert_no_english

pytestmark = pytest.mark.browser
WAIT = 60_000

# Short segments so a test meeting has several. The free-space guards are off:
# hub/media's recorder reads 0 bytes free while a new branch's directory does
# not exist yet and refuses to record (reported to the media plane's owner).
MEDIA_ENV = {"BRANCHLIVE_MEDIA__SEGMENT_SECONDS": "2", "BRANCHLIVE_MEDIA__STOP_RECORDING_FREE_BYTES": "0",
             "BRANCHLIVE_MEDIA__MIN_FREE_BYTES": "0"}

PUBLISH = """async ({branch, token}) => {
  const stream = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 360, frameRate: 15}, audio: true});
  const pc = new RTCPeerConnection();
  const vt = pc.addTransceiver(stream.getVideoTracks()[0], {direction: "sendonly"});
  const codecs = RTCRtpSender.getCapabilities("video").codecs;
  const h264 = codecs.filter(c => /h264/i.test(c.mimeType) && /42e01f/.test(c.sdpFmtpLine || ""));
  vt.setCodecPreferences([...h264, ...codecs.filter(c => !h264.includes(c))]);
  pc.addTransceiver(stream.getAudioTracks()[0], {direction: "sendonly"});
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(r => {
    if (pc.iceGatheringState === "complete") r();
    pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === "complete") r(); };
    setTimeout(r, 2000);
  });
  const res = await fetch(`/whip/${branch}`, {method: "POST", body: pc.localDescription.sdp,
    headers: {"Content-Type": "application/sdp", "Authorization": `Bearer ${token}`}});
  if (res.status !== 201) throw new Error(`WHIP ${res.status}: ${await res.text()}`);
  await pc.setRemoteDescription({type: "answer", sdp: await res.text()});
  window.publisher = pc;
  return res.headers.get("Location");
}"""


@pytest.fixture(scope="module")
def media_county(tmp_path_factory: pytest.TempPathFactory, chromium_available: None) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("media")
    hub = bench.HubProcess(tmp / "hub", media=True, env=MEDIA_ENV).start()
    edge = bench.EdgeLoop()
    try:
        client = bench.admin_client(hub.url)
        try:
            (branch,) = bench.seed_county(client, {"城关镇": ["东风村党支部"]}, members_per_branch=4)
        finally:
            client.close()
        sim = edge.run(bench.EdgeSim(hub.url, branch.token).connect())
        meeting_id = edge.run(sim.start_meeting("party_lecture", "党课：新时代党员的责任"))
        yield {"hub": hub, "branch": branch, "sim": sim, "edge": edge, "meeting_id": meeting_id}
    finally:
        edge.close()
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def publisher(media_county: Any, browser: Any) -> Iterator[Any]:
    hub, branch = media_county["hub"], media_county["branch"]
    context = browser.new_context(bypass_csp=True)  # a test harness page, not the dashboard
    page = context.new_page()
    page.goto(hub.url + "/ui/css/app.css")
    page.evaluate(PUBLISH, {"branch": branch.id, "token": branch.token})
    yield page
    context.close()


def test_live_view_plays_and_push_to_talk_opens_the_mic(media_county: Any, browser: Any, publisher: Any) -> None:
    hub, branch = media_county["hub"], media_county["branch"]
    page = signed_in_page(browser, hub.url)
    try:
        tile = page.locator(f'.tile[data-id="{branch.id}"]')
        expect(tile).to_have_attribute("data-state", "live", timeout=WAIT)
        tile.click()
        page.wait_for_function("""() => {
            const v = document.getElementById('live-video');
            return v && v.videoWidth > 0 && v.currentTime > 0.5;
        }""", timeout=WAIT)
        t0 = page.evaluate("document.getElementById('live-video').currentTime")
        page.wait_for_function(f"document.getElementById('live-video').currentTime > {t0} + 1", timeout=WAIT)
        expect(page.locator("#media-msg")).to_be_hidden()
        # Push-to-talk: the mic track is sent but muted until Space is held.
        expect(page.locator("#ptt")).to_be_enabled(timeout=WAIT)
        mic = "window.branchlive.views.branch.viewer.mic.enabled"
        assert page.evaluate(mic) is False
        page.locator("#view-branch .b-name").click()
        page.keyboard.down(" ")
        expect(page.locator("#ptt")).to_have_class("ptt on")
        assert page.evaluate(mic) is True
        page.keyboard.up(" ")
        expect(page.locator("#ptt")).to_have_class("ptt")
        assert page.evaluate(mic) is False
        page.keyboard.press("Escape")
        expect(page.locator("#view-wall")).to_be_visible()
    finally:
        page.context.close()


def test_playback_shows_the_timeline_and_seeks_to_a_checkin(media_county: Any, browser: Any, publisher: Any) -> None:
    hub, branch, sim, edge, meeting_id = (media_county[k] for k in ("hub", "branch", "sim", "edge", "meeting_id"))
    client = bench.admin_client(hub.url)
    try:
        def segments() -> list[Any]:
            r = client.get(f"/api/v1/meetings/{meeting_id}/recording")
            return r.json()["segments"] if r.status_code == 200 else []

        def wait_segments(n: int) -> None:
            deadline = time.monotonic() + 90
            while len(segments()) < n:
                assert time.monotonic() < deadline, "the hub recorded no segments"
                time.sleep(0.5)

        wait_segments(1)
        assert edge.run(sim.checkin(meeting_id, branch.members[0]))["ok"]
        wait_segments(3)
        assert edge.run(sim.checkin(meeting_id, branch.members[1]))["ok"]
        wait_segments(5)
        edge.run(sim.end_meeting(meeting_id))
    finally:
        client.close()
    page = signed_in_page(browser, hub.url)
    try:
        page.goto(f"{hub.url}/ui/#/playback/{meeting_id}")
        expect(page.locator("#pb-timeline .seg").first).to_be_visible(timeout=WAIT)
        expect(page.locator("#pb-timeline .mark")).to_have_count(2)
        # Export: the file arrives, with video; a refusal is said on the page, in Chinese.
        with page.expect_download(timeout=120_000) as download:
            page.click("#pb-export")
        with av.open(download.value.path()) as f:
            assert f.streams.video and f.duration and f.duration > 4_000_000
        page.route("**/export.mp4", lambda route: route.fulfill(
            status=422, content_type="application/problem+json",
            body='{"status": 422, "code": "bad_request", "title": "Unprocessable", "detail": "no playable segments"}'))
        page.click("#pb-export")
        expect(page.locator("#pb-msg")).to_contain_text("未能导出", timeout=WAIT)
        expect(page.locator("#pb-export")).to_be_enabled()
        assert_no_english(page)
        page.unroute("**/export.mp4")
        page.locator("#pb-msg").evaluate("m => { m.hidden = true; }")
        page.wait_for_function("() => { const v = document.getElementById('pb-video'); return v && v.readyState >= 1 && v.duration > 4; }", timeout=WAIT)
        buttons = page.locator("#pb-checkins button")
        expect(buttons).to_have_count(2)
        at = buttons.nth(1).get_attribute("data-at")
        buttons.nth(1).click()
        want = page.evaluate("""(at) => {
            const pb = window.branchlive.views.playback;
            const w = Date.parse(at) / 1000;
            for (const s of pb.segs) {
                if (w < s.start) return s.mediaStart;
                if (w < s.start + s.duration) return s.mediaStart + (w - s.start);
            }
            return null;
        }""", at)
        assert want is not None and want > 1
        page.wait_for_function(f"Math.abs(document.getElementById('pb-video').currentTime - {want}) < 1.5", timeout=WAIT)
        exported = page.request.get(f"{hub.url}/api/v1/meetings/{meeting_id}/export.mp4")
        assert exported.status == 200 and exported.headers["content-type"].startswith("video/mp4")
        assert len(exported.body()) > 10_000
    finally:
        page.context.close()


def test_live_view_comes_back_by_itself_after_the_media_node_dies(tmp_path: Any, browser: Any,
                                                                  chromium_available: None) -> None:
    """Two media nodes; the node carrying the hall is killed with SIGKILL while
    an operator watches it: the view says the video failed, and when the hall
    is live again (on the other node) the view plays again without ↻; the
    wall's bar shows the node's death."""
    import os
    import signal

    hub = bench.HubProcess(tmp_path / "hub", media=True,
                           env={**MEDIA_ENV, "BRANCHLIVE_MEDIA__WORKERS": "2"}).start()
    edge = bench.EdgeLoop()
    hall = browser.new_context(bypass_csp=True)
    page = None
    try:
        client = bench.admin_client(hub.url)
        (branch,) = bench.seed_county(client, {"城关镇": ["东风村党支部"]}, members_per_branch=4)
        sim = edge.run(bench.EdgeSim(hub.url, branch.token).connect())
        edge.run(sim.start_meeting("party_lecture", "党课"))
        publisher = hall.new_page()
        publisher.goto(hub.url + "/ui/css/app.css")
        publisher.evaluate(PUBLISH, {"branch": branch.id, "token": branch.token})
        page = signed_in_page(browser, hub.url)
        page.locator(f'.tile[data-id="{branch.id}"]').click()
        playing = "(t) => { const v = document.getElementById('live-video'); return v && v.videoWidth > 0 && v.currentTime > t; }"
        page.wait_for_function(playing, arg=0.5, timeout=WAIT)

        nodes = client.get("/media/nodes").json()
        (holder,) = [n for n in nodes if branch.id in n["branches"]]
        os.kill(holder["pid"], signal.SIGKILL)
        expect(page.locator("#media-msg.error")).to_be_visible(timeout=WAIT)
        publisher.evaluate("window.publisher.close()")
        publisher.evaluate(PUBLISH, {"branch": branch.id, "token": branch.token})  # the hall's reconnect

        expect(page.locator("#media-msg")).to_be_hidden(timeout=WAIT)
        t0 = page.evaluate("document.getElementById('live-video').currentTime")
        page.wait_for_function(playing, arg=t0 + 1, timeout=WAIT)
        # and the wall's bar says, in Chinese, that a media node died
        page.keyboard.press("Escape")
        died = page.locator('#hub-alerts .alert[data-kind="media_node_died"]')
        expect(died).to_contain_text("媒体节点故障", timeout=WAIT)
        assert "node-" in (died.get_attribute("title") or "")  # which node, on hover
        client.close()
    finally:
        if page is not None:
            page.context.close()
        hall.close()
        edge.close()
        hub.stop()
