"""Retention, low-disk clean-up, full disk while recording, metrics."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from hub.db import session_scope
from hub.events import AlertRaised
from hub.recordings import housekeeping, store
from hub.recordings.models import RecordedSegment
from tests.hub.media.conftest import Hub
from tests.hub.media.peers import Clip, Publisher, publish, view, wait_for
from tests.hub.media.test_ingest import end_meeting, start_meeting


def seed_meeting(hub: Hub, meeting_type: str, age_days: float, flagged: bool = False) -> tuple[str, str]:
    meeting_id = str(uuid.uuid4())
    started = datetime.now(UTC) - timedelta(days=age_days)
    rel = f"recordings/9/{meeting_id}/{int(started.timestamp() * 1000)}-{uuid.uuid4()}.mp4"
    path = hub.data_dir / rel
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\0" * 1000)
    with session_scope(hub.session_factory) as s:
        store.ensure_recording(s, meeting_id=meeting_id, branch_id=9, meeting_type=meeting_type,
                               started_at=started)
        store.set_flagged(s, meeting_id=meeting_id, flagged=flagged)
        store.add_segment(s, segment=RecordedSegment(
            id=str(uuid.uuid4()), meeting_id=meeting_id, branch_id=9, started_at=started,
            duration=6.0, path=rel, size=1000, init_size=0, container="mp4", video_codec="h264"))
    return meeting_id, rel


def recorded(hub: Hub, meeting_id: str) -> int:
    with session_scope(hub.session_factory) as s:
        return len(store.list_segments(s, meeting_id=meeting_id))


async def test_retention_per_meeting_type_keeps_flagged(hub: Hub) -> None:
    hub.plane.settings.retention_days = {"default": 30, "branch": 10}
    old_branch, old_path = seed_meeting(hub, "branch", 11)
    young_branch, _ = seed_meeting(hub, "branch", 9)
    old_flagged, _ = seed_meeting(hub, "branch", 400, flagged=True)
    old_other, _ = seed_meeting(hub, "lecture", 20)
    # the hub's own housekeeping loop may get there first (its first pass runs in a
    # thread from start-up, late on a busy machine): what counts is what is left
    assert housekeeping.apply_retention(hub.plane.recordings) in (0, 1)
    assert recorded(hub, old_branch) == 0 and not (hub.data_dir / old_path).exists()
    assert recorded(hub, young_branch) == recorded(hub, old_flagged) == recorded(hub, old_other) == 1


async def test_low_disk_deletes_oldest_unflagged(hub: Hub, monkeypatch) -> None:  # noqa: ANN001
    oldest, _ = seed_meeting(hub, "branch", 3)
    newer, _ = seed_meeting(hub, "branch", 2)
    flagged, _ = seed_meeting(hub, "branch", 5, flagged=True)
    hub.plane.settings.min_free_bytes = 10**6
    frees = iter([0, 10**7])  # below the threshold once, then fine
    monkeypatch.setattr(housekeeping, "free_bytes", lambda path: next(frees))
    deleted, _ = housekeeping.emergency_cleanup(hub.plane.recordings)
    assert deleted == 1
    assert recorded(hub, oldest) == 0 and recorded(hub, newer) == 1 and recorded(hub, flagged) == 1


async def test_full_disk_pauses_recording_but_not_live_and_resumes(hub: Hub, h264_clip: Clip) -> None:
    hub.plane.settings.stop_recording_free_bytes = 1 << 62  # no disk is that big
    meeting_id = start_meeting(hub, 1)
    pub = await publish(hub.client, 1, "dev-1", h264_clip)
    assert isinstance(pub, Publisher)
    viewer = None
    try:
        await wait_for(lambda: any(isinstance(e, AlertRaised) and e.kind == "recording_disk_full"
                                   for e in hub.events), what="disk-full alert")
        viewer = await view(hub.client, 1, "alice")
        assert not isinstance(viewer, type(None))
        await wait_for(lambda: viewer.frames >= 10, what="live view continues")
        recorder = hub.plane.engine.branch(1).recorder
        assert recorder is not None and recorder.state == "disk_full"
        assert recorded(hub, meeting_id) == 0
        recorder.stop_free_bytes = 0  # space came back: recording resumes by itself
        await wait_for(lambda: recorded(hub, meeting_id) >= 1, what="recording resumed")
    finally:
        if viewer is not None:
            await viewer.close()
        await pub.close()
    end_meeting(hub, 1, meeting_id)
    await wait_for(lambda: hub.plane.engine.branch(1).recorder is None and not hub.plane._tasks and not hub.plane.engine._tasks, what="closed")
    with session_scope(hub.session_factory) as s:
        kinds = [i.kind for i in store.list_incidents(s, meeting_id=meeting_id)]
    assert "disk_full" in kinds  # the gap says why


async def test_metrics_are_registered(hub: Hub, h264_clip: Clip) -> None:
    pub = await publish(hub.client, 1, "dev-1", h264_clip)
    assert isinstance(pub, Publisher)
    try:
        await wait_for(lambda: (REGISTRY.get_sample_value("branchlive_media_frame_rate_fps",
                                                          {"branch": "1"}) or 0) > 5,
                       what="frame rate metric")
        assert (REGISTRY.get_sample_value("branchlive_media_bitrate_bps", {"branch": "1"}) or 0) > 10_000
        assert REGISTRY.get_sample_value("branchlive_media_packet_loss_ratio", {"branch": "1"}) is not None
        assert REGISTRY.get_sample_value("branchlive_media_loop_lag_seconds") is not None
        assert REGISTRY.get_sample_value("branchlive_media_process_cpu_percent") is not None
    finally:
        await pub.close()


async def test_a_live_segment_after_retention_removed_its_meeting_indexes_it_again(
        hub: Hub, monkeypatch) -> None:  # noqa: ANN001
    """Live segments skip the recording-row lookup once the row is known
    (RecordingService.add_live_segment); retention forgets what it deletes, so
    the next segment of that meeting brings its row back and stays findable."""
    from hub.recordings import service as service_module
    from hub.recordings.files import FinishedSegment, SegmentSpec

    monkeypatch.setattr(service_module, "verify_written", lambda path: None)
    svc = hub.plane.recordings
    hub.plane.settings.retention_days = {"default": 30}
    meeting_id, _ = seed_meeting(hub, "branch", 40)

    def live_segment(age_days: float) -> FinishedSegment:
        started = datetime.now(UTC) - timedelta(days=age_days)
        spec = SegmentSpec(segment_id=str(uuid.uuid4()), branch_id=9, meeting_id=meeting_id,
                           started_at=started, video_codec="h264", width=320, height=180,
                           extradata=b"", has_audio=False)
        path = hub.data_dir / "recordings" / "9" / meeting_id / f"{spec.segment_id}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * 100)
        return FinishedSegment(spec=spec, path=path, size=100, init_size=0, duration=6.0)

    assert svc.add_live_segment(meeting_id=meeting_id, branch_id=9, meeting_type="branch",
                                segment=live_segment(40))
    assert meeting_id in svc._known_recordings
    # the hub's own housekeeping loop (its first pass runs in a thread from start-up,
    # late on a busy machine) may have removed the expired meeting already
    assert housekeeping.apply_retention(svc) in (0, 1)
    assert recorded(hub, meeting_id) == 0
    assert svc.add_live_segment(meeting_id=meeting_id, branch_id=9, meeting_type="branch",
                                segment=live_segment(0))
    with session_scope(hub.session_factory) as s:
        assert store.get_recording(s, meeting_id=meeting_id) is not None
    assert recorded(hub, meeting_id) == 1
