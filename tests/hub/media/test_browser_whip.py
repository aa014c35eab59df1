"""Debian's Chromium as a WHIP publisher (fake camera and microphone): the
hub negotiates H.264, goes live and records segments that decode."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import av
import httpx
import pytest

from tests.hub.media.benchhub import start_bench_hub, stop_bench_hub
from tests.hub.media.test_browser_playback import ARGS, CHROMIUM

WHIP_JS = """
async (url) => {
  const media = await navigator.mediaDevices.getUserMedia(
    {video: {width: 640, height: 360, frameRate: 15}, audio: true});
  const pc = new RTCPeerConnection();
  window.pc = pc;
  pc.addTransceiver(media.getVideoTracks()[0], {direction: 'sendonly'});
  pc.addTransceiver(media.getAudioTracks()[0], {direction: 'sendrecv'});
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((ok) => {
    if (pc.iceGatheringState === 'complete') return ok();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && ok();
  });
  const r = await fetch(url, {method: 'POST', body: pc.localDescription.sdp,
    headers: {'Content-Type': 'application/sdp', 'Authorization': 'Bearer dev-1'}});
  if (r.status !== 201) return 'status ' + r.status + ' ' + await r.text();
  const answer = await r.text();
  await pc.setRemoteDescription({type: 'answer', sdp: answer});
  return answer.includes('H264') ? 'ok' : 'no H264 in answer';
}
"""


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's Chromium")
async def test_chromium_publishes_and_is_recorded(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    proc, base = await start_bench_hub(tmp_path, segment_seconds=2.0)
    meeting_id = str(uuid.uuid4())
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            await client.post(f"/bench/meetings/1/{meeting_id}")
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=[
                    *ARGS, "--allow-loopback-in-peer-connection",
                    "--disable-features=WebRtcHideLocalIpsWithMdns",
                    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
                try:
                    page = await browser.new_page()
                    await page.goto(f"{base}/bench/stats")
                    assert await page.evaluate(WHIP_JS, f"{base}/whip/1") == "ok"
                    deadline = time.monotonic() + 60
                    while (await client.get("/bench/stats")).json()["recorded_segments"] < 2:
                        assert time.monotonic() < deadline, "no segment recorded from Chromium"
                        await asyncio.sleep(0.2)
                    assert (await client.get("/bench/stats")).json()["branches"]["1"]["state"] == "live"
                    await page.evaluate("() => window.pc.close()")
                finally:
                    await browser.close()
            # segments are indexed in batches (at most a second after they are written)
            deadline = time.monotonic() + 30
            while True:
                info = (await client.get(f"/api/v1/meetings/{meeting_id}/recording",
                                         headers={"X-User": "alice"})).json()
                if len(info["segments"]) >= 2 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
    finally:
        stop_bench_hub(proc)
    assert len(info["segments"]) >= 2 and info["segments"][0]["video_codec"] == "h264"
    for seg in info["segments"][:2]:
        path = next((tmp_path / "recordings" / "1" / meeting_id).glob(f"*{seg['id']}.mp4"))
        with av.open(str(path)) as c:
            frames = list(c.decode(video=0))
            assert frames[0].key_frame and frames[0].width == 640
            assert c.streams.audio
