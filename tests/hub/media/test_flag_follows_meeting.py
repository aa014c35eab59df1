"""A meeting flagged on the meeting itself (supervision: headcount far below
check-ins; an inspector) keeps its recording through retention and clean-up."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hub.db import make_engine, make_session_factory, migrate, utcnow
from hub.meetings.models import Meeting
from hub.organisations.models import OrgUnit
from hub.recordings import store
from hub.recordings.models import MeetingRecording


def test_meeting_flag_protects_its_recording(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    migrate(engine)
    factory = make_session_factory(engine)
    old = utcnow() - timedelta(days=400)
    with factory() as s:
        s.add(OrgUnit(id=1, name="支部", kind="branch", path="/1/"))
        s.flush()
        for mid, flagged in (("m-flagged", True), ("m-plain", False)):
            s.add(Meeting(id=mid, branch_id=1, meeting_type="theme_day", status="ended", flagged=flagged))
            s.add(MeetingRecording(meeting_id=mid, branch_id=1, meeting_type="theme_day", started_at=old))
        s.commit()
        assert store.expired_meetings(s, now=utcnow(), retention_days={"default": 180}) == ["m-plain"]
        assert store.oldest_unflagged(s, exclude=set()) == ["m-plain"]
    engine.dispose()
