"""A meeting whose recording cannot start is not dropped in silence: the
plane raises an alert and retries until the recording runs."""

from __future__ import annotations

from typing import Any

from hub.events import AlertRaised
from tests.hub.media.conftest import Hub
from tests.hub.media.peers import Clip, Publisher, publish, wait_for
from tests.hub.media.test_ingest import end_meeting, segments, start_meeting, wait_recorder_closed


async def test_failed_meeting_start_alerts_and_is_retried(hub: Hub, h264_clip: Clip) -> None:
    real_open = hub.plane.recordings.open_meeting
    attempts: list[str] = []

    def flaky_open(**kw: Any) -> None:  # the database refuses the first two inserts
        attempts.append(kw["meeting_id"])
        if len(attempts) <= 2:
            raise RuntimeError("database is locked")
        real_open(**kw)

    hub.plane.recordings.open_meeting = flaky_open  # type: ignore[method-assign]
    meeting_id = start_meeting(hub, 1)
    await wait_for(lambda: any(isinstance(e, AlertRaised) and e.kind == "recording_start_failed"
                               for e in hub.events), what="an alert")
    alert = next(e for e in hub.events if isinstance(e, AlertRaised) and e.kind == "recording_start_failed")
    assert alert.branch_id == 1 and meeting_id in alert.message and "database is locked" in alert.message
    pub = await publish(hub.client, 1, "dev-1", h264_clip)
    assert isinstance(pub, Publisher)
    try:
        await wait_for(lambda: len(segments(hub, meeting_id)) >= 2, what="recorded after the retries")
        assert len(attempts) == 3
        assert sum(1 for e in hub.events if isinstance(e, AlertRaised)
                   and e.kind == "recording_start_failed") == 1  # one alert per failure streak
    finally:
        await pub.close()
    end_meeting(hub, 1, meeting_id)
    await wait_recorder_closed(hub, 1)
