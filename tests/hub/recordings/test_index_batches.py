"""Live segments' index rows are committed in batches (one commit, one fsync
of the database, for every segment finished since the last flush), on
SQLite and PostgreSQL; a database that fails keeps the rows for the next
flush, a row that can never be stored does not hold up the others, and a
file whose row a kill -9 lost is indexed when the hub starts again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from hub.db import make_engine, make_session_factory, migrate
from hub.media.bitstream import h264_parameter_sets
from hub.media.config import MediaSettings
from hub.recordings import housekeeping
from hub.recordings.files import FinishedSegment, SegmentSpec, SegmentWriter
from hub.recordings.models import RecordedSegment
from hub.recordings.service import RecordingService
from tests.hub.recordings.test_files import H, W, baseline_stream

UNITS = baseline_stream(15)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    migrate(eng)
    yield eng
    eng.dispose()


def service(engine: Engine, data: Path) -> RecordingService:
    return RecordingService(MediaSettings(), data, make_session_factory(engine))


def live_segment(data: Path, meeting_id: str, k: int, segment_id: str | None = None) -> FinishedSegment:
    spec = SegmentSpec(segment_id=segment_id or str(uuid.uuid4()), branch_id=3, meeting_id=meeting_id,
                       started_at=datetime(2026, 11, 30, 9, tzinfo=UTC) + timedelta(seconds=k),
                       video_codec="h264", width=W, height=H, extradata=h264_parameter_sets(UNITS[0]),
                       has_audio=False)
    writer = SegmentWriter(data / "recordings" / "3" / meeting_id, spec)
    writer.write([("video", unit, 6000 * i, i == 0) for i, unit in enumerate(UNITS)])
    return writer.finish()


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(RecordedSegment)).scalar_one())


def commits(engine: Engine) -> list[int]:
    count = [0]
    event.listen(engine, "commit", lambda conn: count.__setitem__(0, count[0] + 1))
    return count


def test_twelve_segments_are_one_commit(engine: Engine, tmp_path: Path) -> None:
    svc = service(engine, tmp_path)
    segments = [live_segment(tmp_path, "m-1" if k % 2 else "m-2", k) for k in range(12)]
    n = commits(engine)
    for seg in segments:
        assert svc.queue_live_segment(meeting_id=seg.spec.meeting_id, branch_id=3, meeting_type="general_meeting",
                                      segment=seg)
    assert stored(engine) == 0 and svc.live_segments_queued() == 12
    before = n[0]
    assert svc.flush_live_segments() == 12
    assert n[0] - before == 1  # one transaction for both meetings' rows and their recording rows
    assert stored(engine) == 12 and svc.live_segments_queued() == 0
    assert svc.flush_live_segments() == 0


def test_a_failing_database_keeps_the_rows_for_the_next_flush(engine: Engine, tmp_path: Path) -> None:
    svc = service(engine, tmp_path)
    for k in range(3):
        seg = live_segment(tmp_path, "m-1", k)
        svc.queue_live_segment(meeting_id="m-1", branch_id=3, meeting_type="general_meeting", segment=seg)
    down = [True]

    def refuse(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202
        if down[0] and statement.startswith("INSERT INTO media_segments"):
            raise OperationalError(statement, parameters, Exception("the database server is restarting"))

    event.listen(engine, "before_cursor_execute", refuse)
    with pytest.raises(OperationalError):
        svc.flush_live_segments()
    assert stored(engine) == 0 and svc.live_segments_queued() == 3
    down[0] = False
    assert svc.flush_live_segments() == 3
    assert stored(engine) == 3 and svc.live_segments_queued() == 0


def test_a_row_that_cannot_be_stored_does_not_hold_up_the_others(engine: Engine, tmp_path: Path) -> None:
    svc = service(engine, tmp_path)
    first = live_segment(tmp_path, "m-1", 0)
    assert svc.add_live_segment(meeting_id="m-1", branch_id=3, meeting_type="general_meeting", segment=first)
    # the same segment id again (it can never be stored), between two good ones
    again = live_segment(tmp_path, "m-1", 1, segment_id=first.spec.segment_id)
    good = [live_segment(tmp_path, "m-1", k) for k in (2, 3)]
    for seg in (good[0], again, good[1]):
        svc.queue_live_segment(meeting_id="m-1", branch_id=3, meeting_type="general_meeting", segment=seg)
    svc.flush_live_segments()
    assert stored(engine) == 3 and svc.live_segments_queued() == 0


def test_a_row_lost_to_a_kill_is_indexed_at_start_up(engine: Engine, tmp_path: Path) -> None:
    """The file is durable before its row is queued: a hub killed before the
    next flush finds the file and indexes it when it starts again."""
    svc = service(engine, tmp_path)
    segments = [live_segment(tmp_path, "m-1", k) for k in range(2)]
    assert svc.add_live_segment(meeting_id="m-1", branch_id=3, meeting_type="general_meeting",
                                segment=segments[0])
    svc.queue_live_segment(meeting_id="m-1", branch_id=3, meeting_type="general_meeting", segment=segments[1])
    del svc  # killed: the queued row is gone with the process
    assert stored(engine) == 1
    restarted = service(engine, tmp_path)
    assert housekeeping.recover(restarted) == (0, 1)
    assert stored(engine) == 2


def test_a_hall_moved_from_a_killed_node_brings_its_last_segments_into_the_index(
        engine: Engine, tmp_path: Path) -> None:
    """A supervised media node is killed with rows still queued; the node that
    takes the hall over indexes those files when it opens the meeting, and
    leaves alone the `.part` file of a segment being written."""
    killed = service(engine, tmp_path)
    meeting = "m-moved"
    killed.open_meeting(meeting_id=meeting, branch_id=3, meeting_type="general_meeting",
                        started_at=datetime(2026, 11, 30, 9, tzinfo=UTC))
    segments = [live_segment(tmp_path, meeting, k) for k in range(3)]
    assert killed.add_live_segment(meeting_id=meeting, branch_id=3, meeting_type="general_meeting",
                                   segment=segments[0])
    for seg in segments[1:]:
        killed.queue_live_segment(meeting_id=meeting, branch_id=3, meeting_type="general_meeting", segment=seg)
    del killed  # SIGKILL: two rows never committed
    writing = segments[0].path.with_name("1796029300000-being-written.mp4.part")
    writing.write_bytes(b"\0" * 64)
    assert stored(engine) == 1
    other = service(engine, tmp_path)  # the node the hall reconnects to
    other.open_meeting(meeting_id=meeting, branch_id=3, meeting_type="general_meeting",
                       started_at=datetime(2026, 11, 30, 9, 1, tzinfo=UTC))
    assert stored(engine) == 3 and writing.exists()
    other.open_meeting(meeting_id=meeting, branch_id=3, meeting_type="general_meeting",
                       started_at=datetime(2026, 11, 30, 9, 1, tzinfo=UTC))
    assert stored(engine) == 3  # nothing twice
