"""The hub's recorder under a lossy stream: reassembly leftovers (empty
frames, access units without a start code) are dropped, never written;
no segment runs past 10 s even when the stream's keyframe is late; every
finished segment passes the recordings domain's verification."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import pytest

from devices.media.capturetime import with_capture_time
from hub.media.bitstream import (
    h264_capture_time,
    h264_is_keyframe,
    h264_parameter_sets,
    is_keyframe,
    iter_nal_units,
)
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


def test_capture_time_round_trip() -> None:
    """The hall writes each H.264 keyframe's capture time into it (SEI); the hub reads it
    back to the microsecond, whatever bytes it holds (emulation prevention), and finds
    none in a frame without one."""
    au = b"\x00\x00\x00\x01\x67\x42\x00\x1f\x00\x00\x00\x01\x68\xce\x00\x00\x01\x65\x88\x84"
    for wall in (1_800_000_000.123456, 0.0, 65536 / 1e6, 1 + 2**16 / 1e6):
        out = with_capture_time(au, wall)
        assert h264_capture_time(out) == round(wall * 1e6) / 1e6
        assert out.endswith(b"\x00\x00\x01\x65\x88\x84") and h264_is_keyframe(out)
        assert list(iter_nal_units(out))[2][0] & 0x1F == 6  # after SPS/PPS, before the slice
    assert h264_capture_time(au) is None
    assert h264_capture_time(b"\x00\x00\x01\x06\x05\x02ab\x80\x00\x00\x01\x65\x88") is None  # another SEI


@pytest.mark.parametrize("second_sei", [True, False])
async def test_hole_in_the_stream_ends_the_segment(tmp_path: Path, h264_clip: Clip, second_sei: bool) -> None:
    """A cut link leaves a hole in the stream: the segment ends at its last frame
    (the hub never claims the hole, not even with the sound that comes back before
    the video's next keyframe), the next starts at the next keyframe, and both
    carry the capture time the hall wrote into their first keyframe (or, where that
    SEI was lost, the same mapping to the hall's clock as the publisher's last one)."""
    finished: list[FinishedSegment] = []
    wall0 = 1_800_000_000.0
    capture0 = wall0 - 0.3  # the hall's clock: the frame was captured 0.3 s before it arrived
    with ThreadPoolExecutor(2) as pool:
        recorder = Recorder(branch_id=1, meeting_id="m", directory=tmp_path, segment_seconds=6.0,
                            stop_free_bytes=0, executor=pool, on_finished=finished.append,
                            request_keyframe=lambda: None, alert=lambda kind, msg: None)
        frames = h264_clip.video
        for i in [*range(0, 45), *range(110, 165)]:  # 3 s, a 5 s hole, 3 s
            for j in range(3):  # the hall's sound, 20 ms packets; back 0.7 s before the video
                recorder.push_audio(b"\xfc\xff\xfe", wall0 + i / 15 + j / 50)
            if i < 45 or i >= 120:
                key = i in (0, 120)
                data = with_capture_time(frames[0], capture0 + i / 15) if key else frames[1 + i % (len(frames) - 1)]
                if i == 120 and not second_sei:
                    data = frames[0]
                recorder.push_video("h264", data, i * 6000, key, wall0 + i / 15)
        await recorder.close()
    assert len(finished) == 2
    assert [round(s.spec.started_at.timestamp() - capture0, 3) for s in finished] == [0.0, 8.0]
    assert all(s.duration < 3.1 for s in finished)


async def test_frames_lost_before_a_cut_leave_no_hole(tmp_path: Path, h264_clip: Clip) -> None:
    """Under loss, the frames just before the keyframe a segment is cut at may never
    arrive: the segment still ends where the next begins (they count as its time, as
    frames lost inside a segment do); a hole over 1 s stays a hole (above)."""
    finished: list[FinishedSegment] = []
    wall0 = 1_800_000_000.0
    with ThreadPoolExecutor(2) as pool:
        recorder = Recorder(branch_id=1, meeting_id="m", directory=tmp_path, segment_seconds=6.0,
                            stop_free_bytes=0, executor=pool, on_finished=finished.append,
                            request_keyframe=lambda: None, alert=lambda kind, msg: None)
        frames = h264_clip.video
        for i in [*range(0, 25), *range(30, 60)]:  # frames 25-29 lost, a keyframe at 30
            key = i in (0, 30)
            data = frames[0] if key else frames[1 + i % (len(frames) - 1)]
            recorder.push_video("h264", data, i * 6000, key, wall0 + i / 15)
        await recorder.close()
    assert len(finished) == 2
    first, second = finished
    assert abs(first.duration - 2.0) < 1e-6
    assert abs(second.spec.started_at.timestamp() - (wall0 + 2.0)) < 1e-3
    assert probe_segment(first.path, decode=True).has_audio


async def test_a_new_picture_size_mid_meeting_is_recorded_at_its_size(tmp_path: Path) -> None:
    """The hall's camera changes resolution mid-meeting (a new SPS): the next
    segment is labelled with the new size (the recorder reads an SPS again only
    when it changes)."""
    import av

    from tests.hub.media.peers import baseline_h264_encoder, encode_random_frames

    def stream(width: int, height: int, frames: int, bitrate: int = 200_000) -> list[bytes]:
        ctx = baseline_h264_encoder(width, height)
        ctx.bit_rate = bitrate
        ctx.options = {**ctx.options, "g": "15", "x264-params": "repeat-headers=1:nal-hrd=vbr:scenecut=0",
                       "maxrate": str(bitrate), "bufsize": str(2 * bitrate)}
        ctx.open()
        return encode_random_frames(ctx, frames, seed=width + bitrate)

    units = stream(320, 180, 45) + stream(640, 360, 45) + stream(320, 180, 45)
    finished: list[FinishedSegment] = []
    with ThreadPoolExecutor(2) as pool:
        recorder = Recorder(branch_id=1, meeting_id="m", directory=tmp_path, segment_seconds=1.0,
                            stop_free_bytes=0, executor=pool, on_finished=finished.append,
                            request_keyframe=lambda: None, alert=lambda kind, msg: None)
        for i, unit in enumerate(units):
            recorder.push_video("h264", unit, i * 6000, h264_is_keyframe(unit), 1_800_000_000.0 + i / 15)
        await recorder.close()
    sizes = [(seg.spec.width, seg.spec.height) for seg in finished]
    assert (640, 360) in sizes and sizes[0] == sizes[-1] == (320, 180), sizes
    for seg in finished:
        with av.open(str(seg.path)) as f:
            video = f.streams.video[0]
            assert (video.codec_context.width, video.codec_context.height) == (seg.spec.width, seg.spec.height)

    # The encoder's bitrate changes (under congestion): new parameter sets (HRD
    # fields), the same size. No extra cut: the same segments as without the change.
    low, high = stream(320, 180, 45, 150_000), stream(320, 180, 45, 400_000)
    assert h264_parameter_sets(low[0]) != h264_parameter_sets(high[0])

    def with_params(unit: bytes, params: bytes) -> bytes:
        if not h264_is_keyframe(unit):
            return unit
        rest = [nal for nal in iter_nal_units(unit) if nal[0] & 0x1F not in (7, 8)]
        return params + b"".join(b"\x00\x00\x00\x01" + nal for nal in rest)

    async def durations(units: list[bytes]) -> list[float]:
        done: list[FinishedSegment] = []
        with ThreadPoolExecutor(2) as pool:
            recorder = Recorder(branch_id=1, meeting_id=f"m-{len(units)}-{id(units)}", directory=tmp_path,
                                segment_seconds=6.0, stop_free_bytes=0, executor=pool, on_finished=done.append,
                                request_keyframe=lambda: None, alert=lambda kind, msg: None)
            for i, unit in enumerate(units):
                recorder.push_video("h264", unit, i * 6000, h264_is_keyframe(unit), 1_800_000_000.0 + i / 15)
            await recorder.close()
        return [seg.duration for seg in done]

    # A keyframe 0.2 s into a segment is never a cut (segments are at least 0.5 s):
    # the new parameter sets arrive there, and from then on at every keyframe.
    base = low[:3] + [low[0]] + low[4:] + low
    assert h264_is_keyframe(base[3])
    same = await durations(base)
    changed = await durations(base[:3] + [with_params(u, h264_parameter_sets(high[0])) for u in base[3:]])
    assert changed == same, (changed, same)


async def test_sound_handed_over_before_each_cut_is_in_the_segment_it_ends(tmp_path: Path,
                                                                          h264_clip: Clip) -> None:
    """Before a segment ends (at a keyframe, at a hole in the stream, when the
    recorder closes) the recorder asks for the sound the receive path holds
    (`before_cut`: BranchMedia.flush_audio); what comes is in that segment."""
    finished: list[FinishedSegment] = []
    marker = b"\xf8" + b"\x11" * 40  # one 20 ms Opus frame (CELT FB), found again by its bytes
    calls: list[float] = []
    last_wall = [0.0]

    def before_cut() -> None:
        calls.append(last_wall[0])
        recorder.push_audio(marker, last_wall[0])

    with ThreadPoolExecutor(2) as pool:
        recorder = Recorder(branch_id=1, meeting_id="m", directory=tmp_path, segment_seconds=1.0,
                            stop_free_bytes=0, executor=pool, on_finished=finished.append,
                            request_keyframe=lambda: None, alert=lambda kind, msg: None,
                            before_cut=before_cut)
        frames = h264_clip.video
        wall0 = 1_800_000_000.0
        ts = 0
        for i in range(15 * 12):
            data = frames[i % len(frames)]
            ts += 6000 if i != 100 else 6000 + 2 * 90_000  # a 2 s hole before frame 100 (not a keyframe)
            wall = wall0 + ts / 90_000
            recorder.push_video("h264", data, ts, is_keyframe("h264", data), wall)
            last_wall[0] = wall
            if i % 30 == 0:
                await asyncio.sleep(0)
        await recorder.close()
    assert 100 % 15 and len(finished) >= 5
    assert len(calls) == len(finished)  # every segment's end asked, and only then
    for seg in finished:
        with av.open(str(seg.path)) as c:
            packets = [bytes(p) for p in c.demux(audio=0) if p.size]
        assert marker in packets, f"{seg.path.name}: the sound handed over before its end is not in it"
