"""`branch_state`: what a hall's devices must agree on, pushed down `/ws/edge`.

One message per branch, sent after `welcome` and whenever it changes (a
meeting scheduled, started or ended, a check-in from any device of the
branch, a leave request, a roster change): the branch's one open meeting
(every device of the branch shows and checks into it), the meetings
scheduled on the hub (the kiosk starts them from the schedule; late marks
count from their scheduled start), and the attendance numbers of the open
meeting, computed by hub/attendance/summary.py as the wall's are.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.attendance.service import summary_for
from hub.config import Settings
from hub.db import utcnow
from hub.meetings import service as meetings
from hub.meetings.models import Meeting


def _ts(value: Any) -> float | None:
    return None if value is None else value.timestamp()


def _meeting(m: Meeting) -> dict[str, Any]:
    return {"id": m.id, "meeting_type": m.meeting_type, "topic": m.topic, "status": m.status,
            "scheduled_start": _ts(m.scheduled_start), "started_at": _ts(m.started_at)}


def _ended_ids(session: Session, branch_id: int) -> list[str]:
    """Meetings of the branch ended in the last day, with the ids merged into
    them: a device still showing one of them closes it."""
    since = utcnow() - timedelta(hours=24)
    ended = set(session.scalars(select(Meeting.id).where(
        Meeting.branch_id == branch_id, Meeting.status == "ended", Meeting.ended_at > since)))
    merged = session.scalars(select(Meeting.id).where(
        Meeting.branch_id == branch_id, Meeting.status == "merged", Meeting.merged_into.in_(ended)))
    return sorted(ended | set(merged))


def build(session: Session, settings: Settings, branch_id: int) -> dict[str, Any]:
    open_meeting = meetings.live_meeting(session, branch_id)
    summary = summary_for(session, settings, open_meeting) if open_meeting is not None else None
    return {
        "type": "branch_state", "id": f"branch-state-{time.time_ns()}", "ts": time.time(),
        "open_meeting": None if open_meeting is None else _meeting(open_meeting),
        "scheduled": [_meeting(m) for m in meetings.upcoming(session, branch_id)],
        "attendance": None if summary is None else summary.to_json(),
        "ended_ids": _ended_ids(session, branch_id),
    }
