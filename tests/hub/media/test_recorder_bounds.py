"""The hub's recorder under a lossy stream: reassembly leftovers (empty
frames, access units without a start code) are dropped, never written;
no segment runs past 10 s even when the stream's keyframe is late; every
finished segment passes the recordings domain's verification."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hub.media.bitstream import is_keyframe
from hub.media.recorder import MAX_SEGMENT_SECONDS, Recorder, decodable
from hub.recordings.files import FinishedSegment, probe_segment
from tests.hub.media.peers import Clip


def test_decodable() -> None:
    assert not decodable("h264", b"")
    assert not decodable("h264", b"\x41\x9a\x00\x10")  # an FU-A tail without its start: no start code
    assert decodable("h264", b"\x00\x00\x00\x01\x41\x9a\x00")
    assert not decodable("vp8", b"")


async def test_lossy_stream_with_a_late_keyframe(tmp_path: Path, h264_clip: Clip) -> None:
    finished: list[FinishedSegment] = []
    asked: list[int] = []
    with ThreadPoolExecutor(2) as pool:
        recorder = Recorder(branch_id=1, meeting_id="m", directory=tmp_path, segment_seconds=6.0,
                            stop_free_bytes=0, executor=pool, on_finished=finished.append,
                            request_keyframe=lambda: asked.append(1), alert=lambda kind, msg: None)
        frames = h264_clip.video
        wall0 = 1_800_000_000.0
        bad = 0
        for i in range(15 * 25):  # 25 s at 15 fps; the hall's keyframe at 0 s, then only at 13.07 s
            data = frames[i % len(frames)]
            key = i in (0, 13 * 15 + 1) and is_keyframe("h264", frames[0])
            if i in (0, 13 * 15 + 1):
                data = frames[0]
            if i % 10 == 5:
                data = b""  # what reassembly after a loss used to hand over
            elif i % 10 == 7:
                data = data[4:]  # the first packet of the frame lost: no start code
            bad += not data or not data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01"))
            recorder.push_video("h264", data, i * 6000, key, wall0 + i / 15)
            if i % 30 == 0:
                await asyncio.sleep(0)
        await recorder.close()
    assert recorder.frames_dropped == bad >= 2 * 25 - 1
    assert len(finished) == 2 and asked  # the late keyframe was asked for
    for seg in finished:
        assert seg.duration <= MAX_SEGMENT_SECONDS
        probed = probe_segment(seg.path, decode=True)  # no empty frame, starts at a keyframe
        assert probed.has_audio  # silence: the same tracks as every other segment
    assert abs(finished[1].spec.started_at.timestamp() - (wall0 + (13 * 15 + 1) / 15)) < 0.001
