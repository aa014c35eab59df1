"""A recorded meeting with a gap plays in Debian's Chromium from the hub's
HLS playlist (native HLS), and seeking across segments works."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.hub.media.benchhub import start_bench_hub, stop_bench_hub
from tests.hub.media.peers import Clip, Publisher, publish

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required", "--disable-extensions",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
        "--disable-default-apps", "--no-pings", "--disable-domain-reliability",
        "--disable-client-side-phishing-detection", "--disable-breakpad", "--dns-prefetch-disable"]


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's Chromium")
async def test_chromium_plays_and_seeks_recording_with_gap(tmp_path: Path, h264_clip: Clip) -> None:
    from playwright.async_api import async_playwright

    proc, base = await start_bench_hub(tmp_path, segment_seconds=1.0)
    meeting_id = str(uuid.uuid4())
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            await client.post(f"/bench/meetings/1/{meeting_id}")
            for round_, target in enumerate((3, 6)):
                pub = await publish(client, 1, "dev-1", h264_clip)
                assert isinstance(pub, Publisher)
                try:
                    deadline = time.monotonic() + 60
                    while (await client.get("/bench/stats")).json()["recorded_segments"] < target:
                        assert time.monotonic() < deadline
                        await asyncio.sleep(0.2)
                    await client.delete(pub.location, headers={"Authorization": "Bearer dev-1"})
                finally:
                    await pub.close()
                if round_ == 0:
                    await asyncio.sleep(2.5)
            await asyncio.sleep(1.0)
            deadline = time.monotonic() + 30  # rows are indexed in batches, within a second or so
            while True:
                info = (await client.get(f"/api/v1/meetings/{meeting_id}/recording",
                                         headers={"X-User": "alice"})).json()
                if len(info["segments"]) >= target or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
        assert len(info["gaps"]) == 1
        total = sum(s["duration"] for s in info["segments"])

        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                context = await browser.new_context()
                await context.add_cookies([{"name": "user", "value": "alice", "url": base}])
                page = await context.new_page()
                await page.goto(f"{base}/bench/stats")  # same origin as the playlist
                src = f"{base}/api/v1/meetings/{meeting_id}/playlist.m3u8"
                await page.set_content(f'<video id="v" muted src="{src}"></video>')
                await page.wait_for_function(
                    "() => document.getElementById('v').readyState >= 1", timeout=30_000)
                duration = await page.evaluate("() => document.getElementById('v').duration")
                assert abs(duration - total) < 1.0
                await page.evaluate("() => document.getElementById('v').play()")
                await page.wait_for_function(
                    "() => document.getElementById('v').currentTime > 0.5", timeout=30_000)
                assert await page.evaluate("() => document.getElementById('v').videoWidth") == 320
                # seek into the last segments, past the gap
                await page.evaluate(f"() => {{ document.getElementById('v').currentTime = {duration - 1.5}; }}")
                await page.wait_for_function(
                    f"() => document.getElementById('v').currentTime > {duration - 1.2}", timeout=30_000)
                frames = await page.evaluate(
                    "() => document.getElementById('v').getVideoPlaybackQuality().totalVideoFrames")
                assert frames > 5
            finally:
                await browser.close()
    finally:
        stop_bench_hub(proc)
