"""Local segment recording (stream copy of the shared feed) and the backfill uploader's answers."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path

import av
import httpx

from devices.agent.backfill import Backfill
from devices.camera.backends import PatternBackend
from devices.camera.source import CaptureSource
from devices.media.encoder import EncoderSettings, VideoEncoder
from devices.media.feed import VideoFeed
from devices.media.recording import LocalSegment, RecorderState, SegmentRecorder, SegmentStore
from tests.devices.media.whip_receiver import wait_for


async def _record(tmp_path: Path, *, budget: int, frames: int) -> SegmentStore:
    source = CaptureSource(lambda: PatternBackend(width=640, height=360, fps=15))
    encoder = VideoEncoder(EncoderSettings())
    feed = VideoFeed(frames=source, encoder=encoder, fps=15)
    store = SegmentStore(tmp_path / "rec")
    store.open()
    recorder = SegmentRecorder(feed, store, meeting_id="5f0c1a52-7d7e-4a55-9d43-3f8e0b0d7c11",
                               width=640, height=360, budget_bytes=budget, target_s=2.0, max_s=4.0)
    await source.start()
    await feed.start()
    await recorder.start()
    try:
        await wait_for(lambda: feed.frames_out >= frames or recorder.state is RecorderState.DISK_FULL,
                       timeout=60, what="frames recorded")
    finally:
        await recorder.stop()
        await feed.stop()
        await source.stop()
    assert encoder.frames_in <= feed.frames_out + 1  # one encode per frame, shared
    return store


async def test_segments_are_held_start_at_keyframes_have_audio_and_play(tmp_path: Path) -> None:
    store = await _record(tmp_path, budget=1 << 30, frames=100)
    segments = store.held()  # nothing is judged here: the hub's coverage decides (backfill)
    assert len(segments) >= 2 and not store.pending()
    for seg in segments:
        path = store.path(seg)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == seg.sha256
        assert 0 < seg.duration <= 4.0 and seg.container == "mp4"
        with av.open(str(path)) as f:
            packets = [p for p in f.demux(video=0) if p.size]
            assert packets[0].is_keyframe and packets[0].pts == 0
        with av.open(str(path)) as f:  # the same track layout as the hub's segments
            assert f.streams.audio and f.streams.audio[0].codec_context.name == "opus"
            assert sum(1 for _ in f.decode(video=0)) == len(packets)
        with av.open(str(path)) as f:
            audio = sum(frame.samples for frame in f.decode(audio=0)) / 48_000
            assert abs(audio - seg.duration) < 0.1  # silence over the whole segment


async def test_full_budget_stops_recording_and_deletes_nothing(tmp_path: Path) -> None:
    store = await _record(tmp_path, budget=20_000, frames=200)
    kept = store.held()
    assert kept and store.used_bytes() >= 20_000
    reopened = SegmentStore(tmp_path / "rec")
    reopened.open()
    assert [s.id for s in reopened.held()] == [s.id for s in kept]


def _segment(store: SegmentStore, data: bytes, *, state: str = "pending", name: str = "a",
             started_at: str = "2026-11-22T10:00:06.120Z") -> LocalSegment:
    store.root.mkdir(parents=True, exist_ok=True)
    (store.root / f"{name}.mp4").write_bytes(data)
    seg = LocalSegment(id=str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                       meeting_id="5f0c1a52-7d7e-4a55-9d43-3f8e0b0d7c11",
                       started_at=started_at, duration=6.0, size=len(data),
                       sha256=hashlib.sha256(data).hexdigest(), container="mp4",
                       content_type="video/mp4", file=f"{name}.mp4", state=state)
    store.add(seg)
    return seg


async def _upload(store: SegmentStore, handler: httpx.MockTransport) -> Backfill:
    async def token() -> str:
        return "tok"

    backfill = Backfill(store, hub_url="http://hub", token=token, branch_id=lambda: 3,
                        online=lambda: True, chunk_bytes=4, transport=handler)
    await asyncio.wait_for(backfill._round(), 10)
    return backfill


async def test_backfill_resumes_renames_and_deletes_only_when_confirmed(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path / "rec")
    seg = _segment(store, b"0123456789")
    seen: list[tuple[str, str, str]] = []
    staged = {"n": 0, "conflict_sent": False}

    def hub(request: httpx.Request) -> httpx.Response:
        seg_id = request.url.path.rsplit("/", 1)[1]
        seen.append((request.method, seg_id, request.headers.get("content-range", "")))
        if request.method == "HEAD":
            return httpx.Response(200, headers={"Upload-Offset": "0"})
        if seg_id == seg.id:  # someone else's file holds this id: a new UUID from 0
            return httpx.Response(409, json={"detail": "generate a new segment id"})
        first = int(request.headers["content-range"].split()[1].split("-")[0])
        if first == 4 and not staged["conflict_sent"]:  # a lost response: the hub holds 8 bytes
            staged["conflict_sent"], staged["n"] = True, 8
            return httpx.Response(409, headers={"Upload-Offset": "8"})
        staged["n"] = first + len(request.content)
        if staged["n"] < 10:
            return httpx.Response(202, headers={"Upload-Offset": str(staged["n"])})
        assert request.headers["x-segment-sha256"] == seg.sha256
        return httpx.Response(201)

    backfill = await _upload(store, httpx.MockTransport(hub))
    assert store.counts() == {} and not (store.root / "a.mp4").exists()
    ranges = [r for m, _, r in seen if m == "PUT"]
    assert ranges == ["bytes 0-3/10", "bytes 0-3/10", "bytes 4-7/10", "bytes 8-9/10"]
    assert backfill.uploaded == 1


async def test_backfill_keeps_what_the_hub_refuses(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path / "rec")
    _segment(store, b"0123456789")

    def hub(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(200, headers={"Upload-Offset": "0"})
        return httpx.Response(422, json={"detail": "the segment cannot be played back"})

    await _upload(store, httpx.MockTransport(hub))
    assert store.counts() == {"rejected": 1} and (store.root / "a.mp4").exists()

    def refuses_token(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"detail": "unknown device token"})

    store2 = SegmentStore(tmp_path / "rec2")
    _segment(store2, b"abc")
    backfill = await _upload(store2, httpx.MockTransport(refuses_token))
    assert backfill.state == "auth_failed" and store2.counts() == {"pending": 1}


async def test_the_edge_deletes_only_what_the_hub_says_it_holds(tmp_path: Path) -> None:
    """Three held segments: the hub holds 10:00:00-10:00:12.1 (decodable, verified)
    and nothing after; the first two go, the third is uploaded, then goes."""
    store = SegmentStore(tmp_path / "rec")
    for i, name in enumerate(("a", "b", "c")):
        _segment(store, b"x" * 10, state="held", name=name, started_at=f"2026-11-22T10:00:{6 * i:02d}.000Z")
    asked: list[str] = []

    def hub(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.method} {request.url.path}")
        if request.url.path.endswith("/coverage"):
            return httpx.Response(200, json={"meeting_id": "m", "covered": [
                ["2026-11-22T09:59:58.000Z", "2026-11-22T10:00:12.100Z"]]})
        if request.method == "HEAD":
            return httpx.Response(200, headers={"Upload-Offset": "0"})
        return httpx.Response(201)

    backfill = await _upload(store, httpx.MockTransport(hub))
    assert store.counts() == {} and backfill.confirmed == 2 and backfill.uploaded == 1
    assert asked[0] == "GET /api/v1/branches/3/meetings/5f0c1a52-7d7e-4a55-9d43-3f8e0b0d7c11/coverage"
    assert [a for a in asked if a.startswith("PUT")] == [f"PUT /api/v1/branches/3/segments/{uuid.uuid5(uuid.NAMESPACE_URL, 'c')}"]


async def test_without_the_hubs_word_nothing_is_deleted(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path / "rec")
    _segment(store, b"x" * 10, state="held")

    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"detail": "restarting"})

    backfill = await _upload(store, httpx.MockTransport(down))
    assert store.counts() == {"held": 1} and backfill.state == "waiting"
