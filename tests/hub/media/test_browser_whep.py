"""Debian's Chromium as a WHEP viewer: it decodes the relayed H.264 and its
fake microphone reaches the hall as talkback."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.hub.media.benchhub import start_bench_hub, stop_bench_hub
from tests.hub.media.peers import Clip, Publisher, publish
from tests.hub.media.test_browser_playback import ARGS, CHROMIUM

WHEP_JS = """
async (url) => {
  const pc = new RTCPeerConnection();
  window.pc = pc;
  const mic = await navigator.mediaDevices.getUserMedia({audio: true});
  pc.addTransceiver('video', {direction: 'recvonly'});
  pc.addTransceiver(mic.getAudioTracks()[0], {direction: 'sendrecv'});
  const video = document.createElement('video');
  video.muted = true; video.autoplay = true; document.body.appendChild(video);
  pc.ontrack = (e) => { if (e.track.kind === 'video') video.srcObject = new MediaStream([e.track]); };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((ok) => {
    if (pc.iceGatheringState === 'complete') return ok();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && ok();
  });
  const r = await fetch(url, {method: 'POST', body: pc.localDescription.sdp,
                              headers: {'Content-Type': 'application/sdp'}});
  if (r.status !== 201) return 'status ' + r.status + ' ' + await r.text();
  await pc.setRemoteDescription({type: 'answer', sdp: await r.text()});
  return 'ok';
}
"""

FRAMES_JS = """
async () => {
  let n = 0;
  (await window.pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') n = s.framesDecoded || 0;
  });
  return n;
}
"""


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's Chromium")
async def test_chromium_watches_live_and_talks_back(tmp_path: Path, h264_clip: Clip) -> None:
    from playwright.async_api import async_playwright

    proc, base = await start_bench_hub(tmp_path)
    pub = None
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            pub = await publish(client, 1, "dev-1", h264_clip)
            assert isinstance(pub, Publisher)
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=[
                    *ARGS, "--allow-loopback-in-peer-connection",
                    "--disable-features=WebRtcHideLocalIpsWithMdns",
                    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
                try:
                    context = await browser.new_context()
                    await context.add_cookies([{"name": "user", "value": "alice", "url": base}])
                    page = await context.new_page()
                    await page.goto(f"{base}/bench/stats")
                    assert await page.evaluate(WHEP_JS, f"{base}/whep/1") == "ok"
                    deadline = time.monotonic() + 30
                    while await page.evaluate(FRAMES_JS) < 30:
                        assert time.monotonic() < deadline, "Chromium decoded no relayed frames"
                        await asyncio.sleep(0.2)
                    deadline = time.monotonic() + 30
                    while pub.talkback_frames < 25:
                        assert time.monotonic() < deadline, "operator audio did not reach the hall"
                        await asyncio.sleep(0.2)
                    await page.evaluate("() => window.pc.close()")
                finally:
                    await browser.close()
    finally:
        if pub is not None:
            await pub.close()
        stop_bench_hub(proc)
