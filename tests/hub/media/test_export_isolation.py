"""Exports of deliberately broken recordings never take the hub down: the
remux runs in its own process, so each export answers a file (video and
audio over the whole meeting) or a 4xx, while /metrics answers and a live
WHIP stream keeps arriving."""

from __future__ import annotations

import io
import signal
import sys
import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import pytest

from hub.db import session_scope
from hub.media.bitstream import h264_dimensions, h264_parameter_sets, is_keyframe
from hub.recordings import store
from hub.recordings.export import Exporter, ExportLimits
from hub.recordings.files import SegmentSpec, SegmentWriter, segment_filename
from hub.recordings.models import RecordedSegment
from tests.hub.media.conftest import Hub
from tests.hub.media.peers import Clip, Publisher, publish, wait_for

ALICE = {"X-User": "alice"}
T0 = datetime.now(UTC) - timedelta(hours=1)


def good_segment(directory: Path, clip: Clip, start: datetime, audio: bool, frames: int = 30) -> Path:
    key = clip.video[0]
    spec = SegmentSpec(str(uuid.uuid4()), 1, "m", start, "h264", *h264_dimensions(key),
                       h264_parameter_sets(key), audio)
    writer = SegmentWriter(directory, spec)
    writer.write([("video", d, i * 6000, is_keyframe("h264", d)) for i, d in enumerate(clip.video[:frames])])
    return writer.finish().path


def raw_segment(path: Path, clip: Clip, empty_every: int) -> Path:
    """An MP4 holding 0-byte video frames (what the hub used to write under loss)."""
    out = av.open(str(path), "w", format="mp4")
    stream = out.add_stream("h264", rate=15)
    stream.width, stream.height = h264_dimensions(clip.video[0])
    stream.time_base = Fraction(1, 90_000)
    stream.codec_context.extradata = h264_parameter_sets(clip.video[0])
    for i, data in enumerate(clip.video[:30]):
        packet = av.Packet(b"" if i % empty_every == empty_every - 1 else data)
        packet.stream, packet.pts, packet.dts, packet.time_base = stream, i * 6000, i * 6000, stream.time_base
        out.mux(packet)
    out.close()
    return path


def index(hub: Hub, meeting_id: str, files: list[tuple[Path, datetime, float, str]]) -> None:
    with session_scope(hub.session_factory) as s:
        store.ensure_recording(s, meeting_id=meeting_id, branch_id=1, meeting_type="branch",
                               started_at=min(t for _, t, _, _ in files if t.year == T0.year) if any(
                                   t.year == T0.year for _, t, _, _ in files) else T0)
        for path, start, duration, container in files:
            seg_id = str(uuid.uuid4())
            final = hub.data_dir / "recordings" / "1" / meeting_id / segment_filename(
                start if 1970 < start.year < 3000 else T0, seg_id, container)
            final.parent.mkdir(parents=True, exist_ok=True)
            path.rename(final)
            store.add_segment(s, segment=RecordedSegment(
                id=seg_id, meeting_id=meeting_id, branch_id=1, started_at=start, duration=duration,
                path=str(final.relative_to(hub.data_dir)), size=final.stat().st_size, init_size=0,
                container=container, video_codec="h264", source="live"))


def broken_meeting(hub: Hub, clip: Clip, tmp: Path, kind: str, n: int) -> str:
    meeting_id = str(uuid.uuid4())
    base = T0 + timedelta(minutes=n)
    work = tmp / meeting_id
    work.mkdir()
    files: list[tuple[Path, datetime, float, str]] = []
    if kind == "no audio then audio":
        for i in range(3):
            files.append((good_segment(work, clip, base + timedelta(seconds=2 * i), audio=i > 0), base + timedelta(seconds=2 * i), 2.0, "mp4"))
    elif kind == "0-byte frames":
        files.append((good_segment(work, clip, base, audio=True), base, 2.0, "mp4"))
        files.append((raw_segment(work / "zero.mp4", clip, 2 + n % 5), base + timedelta(seconds=2), 2.0, "mp4"))
    elif kind == "truncated":
        path = good_segment(work, clip, base, audio=n % 2 == 0)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * (1 + n % 3) // 5])
        files.append((path, base, 2.0, "mp4"))
        files.append((good_segment(work, clip, base + timedelta(seconds=2), audio=True), base + timedelta(seconds=2), 2.0, "mp4"))
    elif kind == "wrong content type":
        bogus = work / "bogus.mp4"
        bogus.write_bytes(b"<html>not a video</html>" * (1 + n))
        files.append((bogus, base, 2.0, "mp4"))
        if n % 2:
            files.append((good_segment(work, clip, base + timedelta(seconds=2), audio=False), base + timedelta(seconds=2), 2.0, "mp4"))
    elif kind == "year 1 and 9999":
        files.append((good_segment(work, clip, base, audio=True), datetime(1, 1, 1, tzinfo=UTC), 2.0, "mp4"))
        files.append((good_segment(work, clip, base, audio=False), base, 2.0, "mp4"))
        files.append((good_segment(work, clip, base, audio=True), datetime(9999, 12, 31, tzinfo=UTC), 2.0, "mp4"))
    index(hub, meeting_id, files)
    return meeting_id


KINDS = ["no audio then audio", "0-byte frames", "truncated", "wrong content type", "year 1 and 9999"]


@pytest.mark.slow
async def test_fifty_broken_exports_never_take_the_hub_down(hub: Hub, h264_clip: Clip, tmp_path: Path) -> None:
    pub = await publish(hub.client, 1, "dev-1", h264_clip)
    assert isinstance(pub, Publisher)
    answers: dict[str, list[int]] = {k: [] for k in KINDS}
    try:
        await wait_for(lambda: hub.plane.engine.branch(1).video_frames > 15, what="live stream")
        for n in range(50):
            kind = KINDS[n % len(KINDS)]
            meeting_id = broken_meeting(hub, h264_clip, tmp_path, kind, n)
            frames_before = hub.plane.engine.branch(1).video_frames
            r = await hub.client.get(f"/api/v1/meetings/{meeting_id}/export.mp4", headers=ALICE)
            answers[kind].append(r.status_code)
            assert r.status_code == 200 or 400 <= r.status_code < 500, (kind, r.status_code, r.text)
            if r.status_code == 200:
                with av.open(io.BytesIO(r.content)) as c:
                    assert c.streams.video and c.streams.audio, kind
                    try:
                        frames = list(c.decode(video=0))
                    except av.FFmpegError as exc:
                        raise AssertionError(f"{kind}: {exc}") from exc
                assert frames and frames[0].key_frame
            else:
                body = r.json()
                assert r.headers["content-type"] == "application/problem+json"
                assert any("\u4e00" <= ch <= "\u9fff" for ch in body["detail"]), body  # Chinese first
            metrics = await hub.client.get("/metrics/")
            assert metrics.status_code == 200 and "branchlive_recording_exports_total" in metrics.text
            # the hall's live stream kept arriving through the export
            await wait_for(lambda b=frames_before: hub.plane.engine.branch(1).video_frames > b + 5, what="live frames")
            assert hub.plane.engine.branch(1).state == "live"
    finally:
        await pub.close()
    # the cases that hold a playable stretch came back as files
    assert set(answers["no audio then audio"]) == {200}
    assert set(answers["0-byte frames"]) == {200}
    assert set(answers["year 1 and 9999"]) == {200}
    assert set(answers["wrong content type"]) == {200, 422}


async def test_an_export_process_that_dies_is_a_422_not_a_dead_hub(hub: Hub, h264_clip: Clip,
                                                                    tmp_path: Path) -> None:
    meeting_id = broken_meeting(hub, h264_clip, tmp_path, "no audio then audio", 0)
    # past its size limit the kernel stops the export process (SIGXFSZ)
    hub.plane.recordings.exporter = Exporter(ExportLimits(max_bytes=4096))
    r = await hub.client.get(f"/api/v1/meetings/{meeting_id}/export.mp4", headers=ALICE)
    assert r.status_code == 422 and "导出文件超过上限" in r.json()["detail"]
    hub.plane.recordings.exporter = Exporter()
    r = await hub.client.get(f"/api/v1/meetings/{meeting_id}/export.mp4", headers=ALICE)
    assert r.status_code == 200
    with av.open(io.BytesIO(r.content)) as c:
        assert c.streams.video and c.streams.audio
        video = c.streams.video[0]
        # real timestamps: three 2 s segments back to back make 6 s of video and of audio
        assert abs(float(c.duration / 1_000_000) - 6.0) < 0.2
        assert len(list(c.decode(video))) == 90
    assert not list((hub.data_dir / "exports").glob("*"))  # the temporary file is gone


async def test_a_muxer_crash_kills_only_the_export_process(hub: Hub, h264_clip: Clip, tmp_path: Path) -> None:
    """What FFmpeg did to the hub before (SIGFPE in libavformat), done to the export process."""
    meeting_id = broken_meeting(hub, h264_clip, tmp_path, "no audio then audio", 1)
    crash = "import os, signal, sys; sys.stdin.read(); os.kill(os.getpid(), signal.SIGFPE)"
    hub.plane.recordings.exporter = Exporter(command=[sys.executable, "-c", crash])
    pub = await publish(hub.client, 1, "dev-1", h264_clip)
    assert isinstance(pub, Publisher)
    try:
        await wait_for(lambda: hub.plane.engine.branch(1).video_frames > 15, what="live stream")
        before = hub.plane.engine.branch(1).video_frames
        r = await hub.client.get(f"/api/v1/meetings/{meeting_id}/export.mp4", headers=ALICE)
        assert r.status_code == 422 and f"signal {int(signal.SIGFPE)}" in r.json()["detail"]
        assert "请分段下载" in r.json()["detail"]
        await wait_for(lambda: hub.plane.engine.branch(1).video_frames > before + 5, what="live frames after")
        assert (await hub.client.get("/metrics/")).status_code == 200
    finally:
        await pub.close()
