"""Playback of recordings: HLS across a gap, segment byte ranges, backfill
uploads slotting into the gap, export without re-encoding."""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
from datetime import UTC, datetime, timedelta

import av

from hub.media.bitstream import h264_dimensions, h264_parameter_sets, is_keyframe
from hub.recordings.files import SegmentSpec, SegmentWriter
from tests.hub.media.conftest import Hub
from tests.hub.media.peers import Clip, Publisher, publish, wait_for
from tests.hub.media.test_ingest import end_meeting, segments, start_meeting, wait_recorder_closed

ALICE = {"X-User": "alice"}


async def record_with_gap(hub: Hub, clip: Clip) -> str:
    meeting_id = start_meeting(hub, 1)
    for round_ in range(2):
        pub = await publish(hub.client, 1, "dev-1", clip)
        assert isinstance(pub, Publisher)
        try:
            target = hub.plane.engine.branch(1).recorded_segments + 2
            await wait_for(lambda t=target: hub.plane.engine.branch(1).recorded_segments >= t, what="segments")
            r = await hub.client.delete(pub.location, headers={"Authorization": "Bearer dev-1"})
            assert r.status_code == 200
        finally:
            await pub.close()
        if round_ == 0:
            await asyncio.sleep(3.0)  # the hall is off the air: a gap
    end_meeting(hub, 1, meeting_id)
    await wait_recorder_closed(hub, 1)
    return meeting_id


def parse_playlist(text: str) -> list[dict]:
    segs: list[dict] = []
    cur: dict = {}
    for line in text.splitlines():
        if line == "#EXT-X-DISCONTINUITY":
            cur["discontinuity"] = True
        elif line.startswith("## gap"):
            cur["gap"] = True
        elif line.startswith("#EXT-X-MAP:"):
            cur["map"] = line.split('BYTERANGE="')[1].rstrip('"')
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            cur["pdt"] = datetime.fromisoformat(line.split(":", 1)[1].replace("Z", "+00:00"))
        elif line.startswith("#EXTINF:"):
            cur["duration"] = float(line[8:].rstrip(","))
        elif line.startswith("#EXT-X-BYTERANGE:"):
            cur["range"] = line.split(":", 1)[1]
        elif line and not line.startswith("#"):
            cur["uri"] = line
            segs.append(cur)
            cur = {}
    return segs


def byte_range(spec: str) -> str:
    length, offset = (int(x) for x in spec.split("@"))
    return f"bytes={offset}-{offset + length - 1}"


async def test_playlist_across_a_gap_is_valid_hls(hub: Hub, h264_clip: Clip) -> None:
    meeting_id = await record_with_gap(hub, h264_clip)
    r = await hub.client.get(f"/api/v1/meetings/{meeting_id}/playlist.m3u8", headers=ALICE)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.apple.mpegurl"
    text = r.text
    assert text.startswith("#EXTM3U\n") and text.rstrip().endswith("#EXT-X-ENDLIST")
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text
    target = int(text.split("#EXT-X-TARGETDURATION:")[1].split()[0])
    segs = parse_playlist(text)
    assert len(segs) >= 4
    assert sum(1 for s in segs if s.get("gap")) == 1
    gap_seg = next(s for s in segs if s.get("gap"))
    prev = segs[segs.index(gap_seg) - 1]
    assert (gap_seg["pdt"] - prev["pdt"]).total_seconds() > prev["duration"] + 2
    for seg in segs:
        assert seg["duration"] <= target
        url = f"/api/v1/meetings/{meeting_id}/{seg['uri']}"
        init = await hub.client.get(url, headers={**ALICE, "Range": byte_range(seg["map"])})
        media = await hub.client.get(url, headers={**ALICE, "Range": byte_range(seg["range"])})
        assert init.status_code == media.status_code == 206
        assert init.content[4:8] == b"ftyp" and media.content[4:8] == b"moof"
        with av.open(io.BytesIO(init.content + media.content)) as c:
            frames = list(c.decode(video=0))
            assert frames[0].key_frame  # every segment starts at a keyframe
    # export: one MP4, no re-encoding, the gap stays a gap in time
    r = await hub.client.get(f"/api/v1/meetings/{meeting_id}/export.mp4", headers=ALICE)
    assert r.status_code == 200
    with av.open(io.BytesIO(r.content)) as c:
        frames = [f.time for f in c.decode(video=0)]
    rows = segments(hub, meeting_id)
    assert len(frames) >= sum(row.duration for row in rows) * 15 - len(rows)
    span = rows[-1].started_at.timestamp() + rows[-1].duration - rows[0].started_at.timestamp()
    assert abs(frames[-1] - span) < 1.0
    assert ("alice", "recording.export", 1, meeting_id) in hub.auth.audits
    info = (await hub.client.get(f"/api/v1/meetings/{meeting_id}/recording", headers=ALICE)).json()
    assert len(info["gaps"]) == 1 and info["gaps"][0]["seconds"] > 2


def make_backfill_segment(tmp, clip: Clip, meeting_id: str, started_at: datetime) -> tuple[str, bytes]:
    seg_id = str(uuid.uuid4())
    key = clip.video[0]
    spec = SegmentSpec(seg_id, 1, meeting_id, started_at, "h264", *h264_dimensions(key),
                       h264_parameter_sets(key), False)
    w = SegmentWriter(tmp, spec)
    w.write([("video", d, i * 6000, is_keyframe("h264", d)) for i, d in enumerate(clip.video[:30])])
    return seg_id, w.finish().path.read_bytes()


async def test_backfilled_segment_fills_the_gap_resumably(hub: Hub, h264_clip: Clip, tmp_path) -> None:
    meeting_id = await record_with_gap(hub, h264_clip)
    before = (await hub.client.get(f"/api/v1/meetings/{meeting_id}/recording", headers=ALICE)).json()
    gap_start = datetime.fromisoformat(before["gaps"][0]["started_at"])
    seg_id, data = make_backfill_segment(tmp_path / "edge", h264_clip, meeting_id,
                                         gap_start + timedelta(milliseconds=200))
    url = f"/api/v1/branches/1/segments/{seg_id}"
    base = {"Authorization": "Bearer dev-1", "Content-Type": "video/mp4", "X-Meeting-Id": meeting_id,
            "X-Segment-Started-At": (gap_start + timedelta(milliseconds=200)).isoformat(),
            "X-Segment-Sha256": hashlib.sha256(data).hexdigest()}
    half = len(data) // 2
    r = await hub.client.put(url, content=data[:half],
                             headers={**base, "Content-Range": f"bytes 0-{half - 1}/{len(data)}"})
    assert r.status_code == 202 and r.headers["upload-offset"] == str(half)
    # the edge lost the answer and retries a wrong offset: told where to resume
    r = await hub.client.put(url, content=data[10:half],
                             headers={**base, "Content-Range": f"bytes 10-{half - 1}/{len(data)}"})
    assert r.status_code == 409 and r.headers["upload-offset"] == str(half)
    assert r.headers["content-type"] == "application/problem+json"
    r = await hub.client.head(url, headers={"Authorization": "Bearer dev-1"})
    assert r.headers["upload-offset"] == str(half) and r.headers["upload-complete"] == "?0"
    r = await hub.client.put(url, content=data[half:],
                             headers={**base, "Content-Range": f"bytes {half}-{len(data) - 1}/{len(data)}"})
    assert r.status_code == 201, r.text
    r = await hub.client.put(url, content=data, headers=base)
    assert r.status_code == 200  # idempotent
    # wrong branch for the token, wrong hash
    r = await hub.client.put(url.replace("/1/", "/2/"), content=data, headers=base)
    assert r.status_code == 403
    bad = {**base, "X-Segment-Sha256": "0" * 64}
    r = await hub.client.put(f"/api/v1/branches/1/segments/{uuid.uuid4()}", content=data, headers=bad)
    assert r.status_code == 422 and "upload the segment again" in r.json()["detail"]

    after = (await hub.client.get(f"/api/v1/meetings/{meeting_id}/recording", headers=ALICE)).json()
    ids = [s["id"] for s in after["segments"]]
    assert seg_id in ids and ids.index(seg_id) not in (0, len(ids) - 1)  # slotted into the timeline
    assert after["segments"][ids.index(seg_id)]["source"] == "backfill"
    assert len(after["segments"]) == len(before["segments"]) + 1
    text = (await hub.client.get(f"/api/v1/meetings/{meeting_id}/playlist.m3u8", headers=ALICE)).text
    assert f"segments/{seg_id}.mp4" in text


async def test_recordings_need_rights(hub: Hub, h264_clip: Clip) -> None:
    meeting_id = start_meeting(hub, 1)
    pub = await publish(hub.client, 1, "dev-1", h264_clip)
    assert isinstance(pub, Publisher)
    try:
        await wait_for(lambda: hub.plane.engine.branch(1).recorded_segments >= 1, what="a segment")
    finally:
        await pub.close()
    end_meeting(hub, 1, meeting_id)
    await wait_recorder_closed(hub, 1)
    url = f"/api/v1/meetings/{meeting_id}/playlist.m3u8"
    assert (await hub.client.get(url)).status_code == 401
    assert (await hub.client.get(url, headers={"X-User": "carol"})).status_code == 403
    r = await hub.client.get(f"/api/v1/meetings/{uuid.uuid4()}/playlist.m3u8", headers=ALICE)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    r = await hub.client.put(f"/api/v1/meetings/{meeting_id}/recording/flagged", json={"flagged": True},
                             headers=ALICE)
    assert r.status_code == 200
    assert datetime.now(UTC)  # keep the import honest
