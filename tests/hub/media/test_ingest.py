"""WHIP ingest and recording with real aiortc publishers on loopback."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np
import pytest

from hub.db import session_scope
from hub.events import KeyframeRequested, MeetingEnded, MeetingStarted, StreamStateChanged
from hub.media import fastpath
from hub.media.branch import AUDIO_GROUP
from hub.recordings import store
from tests.hub.media.conftest import Hub
from tests.hub.media.peers import Clip, Publisher, publish, wait_for


def start_meeting(hub: Hub, branch_id: int) -> str:
    meeting_id = str(uuid.uuid4())
    hub.bus.publish(MeetingStarted(branch_id=branch_id, meeting_id=meeting_id, meeting_type="branch",
                                   topic="t", started_at=datetime.now(UTC)))
    return meeting_id


def end_meeting(hub: Hub, branch_id: int, meeting_id: str) -> None:
    hub.bus.publish(MeetingEnded(branch_id=branch_id, meeting_id=meeting_id, ended_at=datetime.now(UTC)))


def segments(hub: Hub, meeting_id: str):  # noqa: ANN201
    with session_scope(hub.session_factory) as s:
        return store.list_segments(s, meeting_id=meeting_id)


def native_sessions() -> list[object]:
    import gc

    from hub.media import _rx
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, _rx.Session)]


def silent_windows(path: Path) -> list[float]:
    """Where (s into the file) the sound is silent for 20 ms or more: the
    silence the writer fills in where the hall's audio is missing. The first
    40 ms are not looked at: a file whose sound starts with the clip's first
    Opus packet decodes the encoder's warm-up there."""
    with av.open(str(path)) as c:
        samples = np.concatenate([f.to_ndarray().reshape(-1, f.samples)[0] for f in c.decode(audio=0)])
    rms = np.sqrt(np.mean(samples[:len(samples) // 960 * 960].reshape(-1, 960).astype(float) ** 2, axis=1))
    return [round(k * 0.02, 2) for k in np.flatnonzero(rms < 0.01) if k >= 2]


async def wait_recorder_closed(hub: Hub, branch_id: int) -> None:
    await wait_for(lambda: hub.plane.engine.branch(branch_id).recorder is None and not hub.plane._tasks and not hub.plane.engine._tasks,
                   what="recorder closed")


@pytest.mark.parametrize("clip_name", ["h264_clip", "vp8_clip"])
async def test_publish_records_meeting_in_segments(hub: Hub, clip_name: str,
                                                   request: pytest.FixtureRequest) -> None:
    clip: Clip = request.getfixturevalue(clip_name)
    meeting_id = start_meeting(hub, 1)
    pub = await publish(hub.client, 1, "dev-1", clip)
    assert isinstance(pub, Publisher), pub.text
    try:
        await wait_for(lambda: hub.plane.stream_state(1) == "live", what="live")
        publisher = hub.plane.engine.branch(1).publisher
        assert publisher is not None and publisher.video is not None
        # the media arrives by the hub's own receive path (an aiortc/aioice
        # upgrade that renamed what it hooks into fails here, not silently)
        assert fastpath.installed(publisher.video.transport)
        # ... and, built from hub/media/_rx.c by the install, in C: each track
        # was adopted on its first packet and the rest never reached Python
        session = fastpath.native_session(publisher.video.transport)
        assert session is not None, "hub.media._rx is not built: run scripts/test (it installs gcc)"
        native = {t.ssrc for t in session.tracks()}
        assert publisher.audio is not None and set(publisher.audio._native) <= native
        assert publisher.audio._native, "audio is on the compiled path"
        if clip.codec == "h264":
            assert publisher.video._native, "H.264 video is on the compiled path"
        await wait_for(lambda s=session: s.counters()["datagrams"] > 100, what="datagrams in C")
        # ... read by the hub itself from its ICE socket, in recvmmsg batches
        readers = fastpath.batched(publisher.video.transport)
        assert readers, "the ICE socket is still read by the event loop's transport"
        await wait_for(lambda rs=readers: sum(r.counters()["read"] for r in rs) > 100,
                       what="datagrams read in batches")
        assert all(r.counters()["batches"] > 0 for r in readers)
        # nobody watches: the hall's sound reaches Python in groups (branch.AUDIO_GROUP)
        assert [t.group for t in publisher.audio._native.values()] == [AUDIO_GROUP]
        await wait_for(lambda: hub.plane.engine.branch(1).recorded_segments >= 4, what="4 segments")
        frames_sent_before_end = pub.video.sent
        end_meeting(hub, 1, meeting_id)
        await wait_recorder_closed(hub, 1)
    finally:
        await pub.close()
    await wait_for(lambda: hub.plane.stream_state(1) == "offline", what="offline")
    # the sockets the hub read itself are closed with the connection
    await wait_for(lambda rs=readers: all(r.is_closing() and r.get_extra_info("socket").fileno() == -1 for r in rs),
                   what="the ICE sockets closed")
    # the connection's compiled receive state goes with it (no leak per reconnecting hall)
    del publisher, session, readers
    await wait_for(lambda: not native_sessions(), what="the compiled receive state freed")

    rows = segments(hub, meeting_id)
    assert len(rows) >= 4
    total_frames = 0
    silent: list[list[float]] = []
    for row in rows:
        assert row.duration <= 10
        assert row.container == ("mp4" if clip.codec == "h264" else "webm")
        with av.open(str(hub.data_dir / row.path)) as c:
            frames = list(c.decode(video=0))
            assert frames and frames[0].key_frame  # every segment starts at a keyframe
            assert frames[0].width == 320
            assert c.streams.audio, "audio is recorded with the video"
            total_frames += len(frames)
        silent.append(silent_windows(hub.data_dir / row.path))
    # the hall's tone is in every segment to its end: no sound held for a group was
    # lost at a cut (it would be silence at the end of the segment before it)
    assert not any(silent[1:-1]), silent
    # contiguous: each segment starts where the previous ended
    for prev, seg in zip(rows, rows[1:], strict=False):
        end = prev.started_at.timestamp() + prev.duration
        assert abs(seg.started_at.timestamp() - end) < 0.5
    covered = rows[-1].started_at.timestamp() + rows[-1].duration - rows[0].started_at.timestamp()
    # everything from the first keyframe to the meeting's end is on disk
    assert total_frames >= covered * clip.fps - 2
    assert total_frames <= frames_sent_before_end + 15
    states = [e.state for e in hub.events if isinstance(e, StreamStateChanged)]
    assert states[-1] == "offline" and "live" in states
    assert any(isinstance(e, KeyframeRequested) for e in hub.events) or rows


async def test_segments_start_at_keyframe_when_meeting_starts_mid_stream(hub: Hub, h264_clip: Clip) -> None:
    pub = await publish(hub.client, 1, "dev-1", h264_clip)
    assert isinstance(pub, Publisher)
    try:
        await wait_for(lambda: hub.plane.stream_state(1) == "live", what="live")
        await asyncio.sleep(0.3)
        meeting_id = start_meeting(hub, 1)
        await wait_for(lambda: hub.plane.engine.branch(1).recorded_segments >= 2, what="2 segments")
        end_meeting(hub, 1, meeting_id)
        await wait_recorder_closed(hub, 1)
    finally:
        await pub.close()
    assert any(isinstance(e, KeyframeRequested) and e.branch_id == 1 for e in hub.events)
    for row in segments(hub, meeting_id):
        with av.open(str(hub.data_dir / row.path)) as c:
            assert next(iter(c.decode(video=0))).key_frame


async def test_a_publisher_leaving_hands_over_the_sound_it_held(hub: Hub, h264_clip: Clip) -> None:
    """The hall's link drops mid-meeting while nobody watches: the audio frames
    the receive path held for a group (up to 100 ms) go into the segment the
    drop ends, before the publisher is let go."""
    meeting_id = start_meeting(hub, 1)
    pub = await publish(hub.client, 1, "dev-1", h264_clip)
    assert isinstance(pub, Publisher)
    try:
        await wait_for(lambda: hub.plane.engine.branch(1).recorded_segments >= 1, what="a segment")
        branch = hub.plane.engine.branch(1)
        hall = branch.publisher
        assert hall is not None and hall.audio is not None and branch.recorder is not None
        (track,) = hall.audio._native.values()
        await wait_for(lambda: track.held > 0, what="audio held for a group")
        held, before = track.held, branch.audio_frames
        # what a dropped connection does (engine._drop_publisher), at a moment frames are held
        await hub.plane.engine._close_publisher(branch, hall)
        assert branch.audio_frames == before + held, "the held sound was thrown away"
        assert track.held == 0
        end_meeting(hub, 1, meeting_id)
        await wait_recorder_closed(hub, 1)
    finally:
        await pub.close()
