"""Multi-process mode: live media in two worker processes, the main process
authenticating, proxying, recording index and events."""

from __future__ import annotations

import pytest

from hub.events import StreamStateChanged
from hub.media import MediaSettings
from tests.hub.media.conftest import Hub
from tests.hub.media.peers import Clip, Publisher, Viewer, publish, view, wait_for
from tests.hub.media.test_ingest import end_meeting, segments, start_meeting


@pytest.fixture
def media_settings() -> MediaSettings:
    return MediaSettings(segment_seconds=1.0, min_free_bytes=0, stop_recording_free_bytes=0,
                         stall_seconds=1.5, offline_seconds=4.0, workers=2)


@pytest.mark.slow
async def test_two_workers_ingest_relay_and_record(hub: Hub, h264_clip: Clip, vp8_clip: Clip) -> None:
    assert hub.plane.local_nodes is not None and len(hub.plane.nodes) == 2
    meeting_id = start_meeting(hub, 2)
    pubs = [await publish(hub.client, 1, "dev-1", h264_clip), await publish(hub.client, 2, "dev-2", vp8_clip)]
    viewer = None
    try:
        assert all(isinstance(p, Publisher) for p in pubs)
        await wait_for(lambda: hub.plane.stream_state(1) == "live" and hub.plane.stream_state(2) == "live",
                       what="both live (states come from the workers)")
        viewer = await view(hub.client, 1, "alice", talk=True)
        assert isinstance(viewer, Viewer), viewer.text
        await wait_for(lambda: viewer.frames >= 10, what="frames relayed by worker 1")
        await wait_for(lambda: pubs[0].talkback_frames >= 10, what="talkback through worker 1")
        await wait_for(lambda: hub.plane.viewers(1) == 1, what="viewer count from the worker")
        await wait_for(lambda: len(segments(hub, meeting_id)) >= 3, what="worker 0 records branch 2")
        assert (await view(hub.client, 1, "carol")).status_code == 403  # auth stays in the hub
        from prometheus_client import REGISTRY

        await wait_for(lambda: (REGISTRY.get_sample_value("branchlive_media_frame_rate_fps",
                                                          {"branch": "2"}) or 0) > 5,
                       what="worker metrics forwarded")
        assert REGISTRY.get_sample_value("branchlive_media_worker_cpu_percent", {"worker": "node-0"}) is not None
        end_meeting(hub, 2, meeting_id)
    finally:
        if viewer is not None:
            await viewer.close()
        for p in pubs:
            if isinstance(p, Publisher):
                await p.close()
    await wait_for(lambda: hub.plane.stream_state(1) == "offline", what="offline")
    assert ("alice", "media.watch.start", 1) in [a[:3] for a in hub.auth.audits]
    assert any(isinstance(e, StreamStateChanged) and e.branch_id == 2 for e in hub.events)
    r = await hub.client.get(f"/api/v1/meetings/{meeting_id}/recording", headers={"X-User": "alice"})
    assert r.status_code == 200 and r.json()["segments"][0]["container"] == "webm"
