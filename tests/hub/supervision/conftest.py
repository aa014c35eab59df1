"""Supervision fixtures: the app from the real factory with the
supervision routers included (until hub/app.py mounts them), the small
county of tests/hub/conftest.py, and helpers to build meeting histories."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text, update
from sqlalchemy.orm import Session, sessionmaker

from hub import supervision
from hub.app import create_app
from hub.attendance.models import CheckIn
from hub.config import Settings
from hub.meetings.models import Meeting
from hub.organisations.models import OrgUnit
from hub.supervision.scoresheets import service as scoresheets
from tests.hub.conftest import County


def mount(app: FastAPI) -> FastAPI:
    have = {getattr(r, "path", "") for r in app.routes}
    if "/api/v1/rectifications" not in have:
        for router in supervision.routers:
            app.include_router(router)
    return app


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return mount(create_app(settings))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        with sessions(c)() as s:
            scoresheets.ensure_default_template(s)
            s.commit()
        yield c


@pytest.fixture
def county(county: County, client: TestClient) -> County:
    """The county of tests/hub/conftest.py, on the hub since 2020: the
    histories below are judged from then (no meeting is owed for a period
    before a branch was set up)."""
    with sessions(client)() as s:
        s.execute(update(OrgUnit).values(created_at=datetime(2020, 1, 1, tzinfo=UTC)))
        s.commit()
    return county


def sessions(client: TestClient) -> sessionmaker[Session]:
    return client.app.state.ctx.session_factory  # type: ignore[attr-defined,no-any-return]


def local(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    """A county (UTC+8) wall-clock time as a UTC instant."""
    return datetime(y, m, d, hh, mm, tzinfo=UTC) - timedelta(hours=8)


def add_meeting(
    session: Session, *, branch_id: int, meeting_type: str, start: datetime, minutes: float = 60,
    present: list[int] = (), recorded: bool = False, max_headcount: int | None = None,  # type: ignore[assignment]
) -> Meeting:
    m = Meeting(id=str(uuid.uuid4()), branch_id=branch_id, meeting_type=meeting_type, topic="学习党章党规",
                status="ended", started_at=start, ended_at=start + timedelta(minutes=minutes), max_headcount=max_headcount)
    session.add(m)
    session.flush()
    for member_id in present:
        session.add(CheckIn(id=str(uuid.uuid4()), meeting_id=m.id, member_id=member_id, branch_id=branch_id,
                            checked_in_at=start + timedelta(minutes=1), method="fingerprint"))
    if recorded:
        add_segment(session, m)
    session.flush()
    return m


def add_segment(session: Session, meeting: Meeting) -> None:
    """A media segment row, the way the media plane indexes one."""
    assert meeting.started_at is not None
    session.execute(text(
        "INSERT INTO media_segments (id, meeting_id, branch_id, started_at, duration, path, size, init_size, container, "
        "video_codec, source, created_at) VALUES (:id, :m, :b, :t, 4.0, 'x.mp4', 1, 0, 'mp4', 'h264', 'live', :t)"),
        {"id": str(uuid.uuid4()), "m": meeting.id, "b": meeting.branch_id, "t": meeting.started_at})
