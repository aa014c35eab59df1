"""A hub killed with SIGKILL mid-meeting loses at most the segment it was
writing: run the hub under uvicorn in a subprocess, publish, kill, restart
the index from disk, check the timeline."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from branchlive.hub_process import free_port
from hub.db import session_scope
from hub.events import EventBus
from hub.media import MediaPlane, MediaSettings
from hub.recordings import store
from tests.hub.media.conftest import FakeAuth, make_session
from tests.hub.media.peers import Clip, Publisher, publish, wait_for

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
async def test_sigkill_mid_meeting_loses_at_most_one_segment(tmp_path: Path, h264_clip: Clip) -> None:
    port = free_port()
    env = {**os.environ, "MEDIA_BENCH_DATA": str(tmp_path),
           "MEDIA_BENCH_SETTINGS": json.dumps({"segment_seconds": 1.0, "min_free_bytes": 0,
                                              "stop_recording_free_bytes": 0})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "hub.media.benchapp:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    meeting_id = str(uuid.uuid4())
    pub = None
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    await client.get("/bench/stats")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "hub did not start"
                    await asyncio.sleep(0.1)
            await client.post(f"/bench/meetings/1/{meeting_id}")
            pub = await publish(client, 1, "dev-1", h264_clip)
            assert isinstance(pub, Publisher)

            async def segments_done() -> int:
                stats = (await client.get("/bench/stats")).json()
                return stats["branches"].get("1", {}).get("recorded_segments", 0)

            deadline = time.monotonic() + 60
            while await segments_done() < 4:
                assert time.monotonic() < deadline, "no segments recorded"
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)  # mid-segment
            proc.send_signal(signal.SIGKILL)
            killed_at = time.time()
            proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if pub is not None:
            await pub.close()

    meeting_dir = tmp_path / "recordings" / "1" / meeting_id
    parts = list(meeting_dir.glob("*.part"))
    assert len(parts) <= 1, parts
    # a restarted hub discards the partial file and indexes every finished one
    factory = make_session(tmp_path)
    plane = MediaPlane(MediaSettings(min_free_bytes=0, stop_recording_free_bytes=0),
                       tmp_path, EventBus(), FakeAuth(), factory)
    await plane.start()
    await plane.stop()
    assert not list(meeting_dir.glob("*.part"))
    with session_scope(factory) as s:
        rows = store.list_segments(s, meeting_id=meeting_id)
    assert len(rows) >= 4
    assert len(rows) == len(list(meeting_dir.glob("*.mp4")))
    for prev, seg in zip(rows, rows[1:], strict=False):
        assert abs(seg.started_at.timestamp() - (prev.started_at.timestamp() + prev.duration)) < 0.5
    lost = killed_at - (rows[-1].started_at.timestamp() + rows[-1].duration)
    # at most the segment being written (1 s) plus its keyframe wait and batching
    assert lost < 2 * 1.0 + 0.5, f"{lost:.2f} s lost"
    await wait_for(lambda: True)
