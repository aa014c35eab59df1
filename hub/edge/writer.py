"""Durable processing of edge messages with group commit.

Every stored edge message (check-in, meeting start/end, headcount) goes
through one writer task: it takes whatever messages are waiting (up to
`max_batch`), applies them in one transaction on a worker thread, commits
(SQLite synchronous=FULL / PostgreSQL fsync), and only then acknowledges
them and publishes their events. One fsync serves a whole batch, which is
what lets hundreds of halls check members in at once on the embedded
database without acknowledging anything that is not on disk.

Each message id's answer is stored with it (EdgeMessage), so a message
resent after a reconnect gets the same answer and is not applied again.

One hall's bad message never holds up another's: every message is applied
in a savepoint of its own (check-ins first try as one batch in one
savepoint, the hot path, and are redone one savepoint each if that fails),
and a message that still fails gets its own `ok: false` answer. Only a
database that cannot be reached fails a whole batch unanswered (the edges
keep their messages and resend).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, tuple_
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from hub.attendance import service as attendance
from hub.context import HubContext
from hub.db import utcnow
from hub.edge import protocol as p
from hub.edge.models import EdgeMessage
from hub.errors import HubError
from hub.events import (
    CheckInRecorded,
    Event,
    HeadcountReported,
    LeaveFiled,
    MeetingEnded,
    MeetingStarted,
)
from hub.meetings import service as meetings
from hub.meetings.models import Meeting
from hub.members.models import Member

log = logging.getLogger(__name__)


@dataclass
class Job:
    device_id: int
    branch_id: int
    msg: p.Envelope
    future: asyncio.Future[tuple[dict[str, Any], bool]]
    events: list[Event] = field(default_factory=list)


class Rejected(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


# The database is away (down, locked, unreachable): not the message's fault,
# so nothing is answered and the edge resends. Anything else a message
# causes is answered as that message's own failure.
TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)


def _failure(job: Job, exc: Exception) -> dict[str, Any]:
    log.warning("edge writer: %s %s from device %s refused: %r", job.msg.type, job.msg.id, job.device_id, exc)
    job.events.clear()
    return p.ack(job.msg.id, ok=False, error={
        "code": "bad_message",
        "detail": f"the hub could not store this {job.msg.type} ({type(exc).__name__}); check its fields"})


def _meeting_start(s: Session, ctx: HubContext, job: Job) -> dict[str, Any]:
    m: p.MeetingStart = job.msg  # type: ignore[assignment]
    meeting = meetings.start(s, ctx.settings, branch_id=job.branch_id, meeting_id=m.meeting_id, meeting_type=m.meeting_type,
                             topic=m.topic, started_at=p.when(m.started_at), device_id=job.device_id, join_open=True)
    assert meeting.started_at is not None
    if meeting.id != m.meeting_id:  # a second device of the branch: it joined the open meeting
        return {"meeting_id": meeting.id, "joined": True}
    job.events.append(MeetingStarted(job.branch_id, meeting.id, meeting.meeting_type, meeting.topic, meeting.started_at))
    return {"meeting_id": meeting.id}


def _meeting_end(s: Session, ctx: HubContext, job: Job) -> dict[str, Any]:
    m: p.MeetingEnd = job.msg  # type: ignore[assignment]
    meeting = s.get(Meeting, m.meeting_id)
    if meeting is None:
        raise Rejected("unknown_meeting", "This meeting was never started on the hub.")
    if meeting.branch_id != job.branch_id:
        raise Rejected("not_in_branch", "This meeting belongs to another branch.")
    meeting = meetings.resolve(s, meeting)  # a joined device ends the branch's one meeting
    if meeting.status == "ended":
        return {"meeting_id": meeting.id, "already_ended": True}
    meetings.end(s, meeting, p.when(m.ended_at))
    assert meeting.ended_at is not None
    job.events.append(MeetingEnded(job.branch_id, meeting.id, meeting.ended_at))
    return {"meeting_id": meeting.id}


def _headcount(s: Session, ctx: HubContext, job: Job) -> dict[str, Any]:
    m: p.Headcount = job.msg  # type: ignore[assignment]
    if m.meeting_id:
        meeting = s.get(Meeting, m.meeting_id)
        if meeting is not None and meeting.branch_id == job.branch_id:
            meeting.max_headcount = max(meeting.max_headcount or 0, m.count)
    job.events.append(HeadcountReported(job.branch_id, m.meeting_id, m.count, p.when(m.taken_at)))
    return {}


def _leave(s: Session, ctx: HubContext, job: Job) -> dict[str, Any]:
    m: p.Leave = job.msg  # type: ignore[assignment]
    meeting = s.get(Meeting, m.meeting_id)
    if meeting is None or meeting.branch_id != job.branch_id:
        raise Rejected("unknown_meeting", "This meeting is not known to the county for this branch.")
    meeting = meetings.resolve(s, meeting)
    member = s.get(Member, m.member_id)
    if member is None or not member.active:
        raise Rejected("unknown_member", "不在党员名册中 Not on the roster; please see the branch secretary.")
    leave = attendance.file_leave(s, meeting=meeting, member=member, reason=m.reason, filed_by=f"device:{job.device_id}")
    job.events.append(LeaveFiled(job.branch_id, meeting.id, member.id))
    return {"leave_id": leave.id, "meeting_id": meeting.id}


HANDLERS: dict[str, Callable[[Session, HubContext, Job], dict[str, Any]]] = {
    "meeting.start": _meeting_start, "meeting.end": _meeting_end, "headcount": _headcount, "leave": _leave,
}


class EdgeWriter:
    def __init__(self, ctx: HubContext, max_batch: int = 500) -> None:
        self.ctx = ctx
        self.max_batch = max_batch
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.messages = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="edge-writer")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.cancel()

    def enqueue(self, device_id: int, branch_id: int, msg: p.Envelope) -> asyncio.Future[tuple[dict[str, Any], bool]]:
        """Queue one message, in arrival order; the future gives (ack,
        duplicate) once it is committed."""
        job = Job(device_id, branch_id, msg, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(job)
        return job.future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                answers = await asyncio.to_thread(self._write, batch)
            except Exception as exc:  # the database is down: fail these, the edges resend
                log.error("edge writer: batch of %d failed: %s", len(batch), exc)
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                await asyncio.sleep(0.5)
                continue
            self.batches += 1
            self.messages += len(batch)
            for job, answer in zip(batch, answers, strict=True):
                for event in job.events:
                    self.ctx.bus.publish(event)
                if not job.future.done():
                    job.future.set_result(answer)

    def _write(self, batch: list[Job]) -> list[tuple[dict[str, Any], bool]]:
        with self.ctx.session_factory() as s:
            try:
                answers = self._apply_all(s, batch)
                s.commit()
                return answers
            except SQLAlchemyError:
                s.rollback()
                if len(batch) == 1:
                    raise
        # One message broke the batch outside its savepoint (a race with
        # another writer): redo them one transaction each so the others land.
        out = []
        for job in batch:
            job.events.clear()
            try:
                out.append(self._write([job])[0])
            except TRANSIENT:
                raise
            except Exception as exc:
                out.append((_failure(job, exc), False))
        return out

    def _apply_all(self, s: Session, batch: list[Job]) -> list[tuple[dict[str, Any], bool]]:
        """Answers in the order of `batch`. Consecutive check-ins are
        validated together (one query per table); anything else goes
        through its handler in a savepoint, so a refusal leaves no trace."""
        keys = {(job.device_id, job.msg.id) for job in batch}
        # Row-value IN on the primary key (device_id, message_id): an index
        # lookup per message, however large the table grows.
        stored = {(d, m): a for d, m, a in s.execute(
            select(EdgeMessage.device_id, EdgeMessage.message_id, EdgeMessage.answer)
            .where(tuple_(EdgeMessage.device_id, EdgeMessage.message_id).in_(keys)))}
        answers: list[tuple[dict[str, Any], bool] | None] = [None] * len(batch)
        new_rows: list[dict[str, Any]] = []
        run: list[int] = []

        def remember(i: int, answer: dict[str, Any]) -> None:
            job = batch[i]
            stored[(job.device_id, job.msg.id)] = answer
            answers[i] = (answer, False)
            new_rows.append({"device_id": job.device_id, "message_id": job.msg.id, "type": job.msg.type,
                             "answer": answer, "received_at": utcnow()})

        def checkins(indexes: list[int]) -> list[attendance.CheckInResult | attendance.CheckInRejected]:
            requests = []
            for i in indexes:
                m: p.CheckInMsg = batch[i].msg  # type: ignore[assignment]
                requests.append(attendance.CheckInRequest(
                    branch_id=batch[i].branch_id, meeting_id=m.meeting_id, member_id=m.member_id, method=m.method,
                    checked_in_at=p.when(m.checked_in_at), reason=m.reason, device_id=batch[i].device_id,
                    recorded_by=f"device:{batch[i].device_id}"))
            with s.begin_nested():
                results = attendance.record_checkins(s, requests, grace_minutes=self.ctx.settings.late_grace_minutes)
                s.flush()
            return results

        def flush_run() -> None:
            if not run:
                return
            try:
                results = checkins(run)
            except TRANSIENT:
                raise
            except Exception:
                # Some check-in in the run is poison: one savepoint each.
                results = []
                for i in run:
                    try:
                        results.extend(checkins([i]))
                    except TRANSIENT:
                        raise
                    except Exception as exc:
                        remember(i, _failure(batch[i], exc))
                        results.append(None)  # type: ignore[arg-type]
            for i, res in zip(run, results, strict=True):
                if res is None:
                    continue
                if isinstance(res, attendance.CheckInRejected):
                    remember(i, p.ack(batch[i].msg.id, ok=False, error={"code": res.code, "detail": res.detail}))
                    continue
                c, sent = res.checkin, batch[i].msg
                batch[i].events.append(CheckInRecorded(batch[i].branch_id, c.meeting_id, res.member.id, res.member.name,
                                                       c.checked_in_at, c.method, c.late, edge_sent_ts=sent.ts))
                remember(i, p.ack(sent.id, ok=True, result={"checkin_id": c.id, "late": c.late, "member_name": res.member.name}))
            run.clear()

        for i, job in enumerate(batch):
            key = (job.device_id, job.msg.id)
            if key in stored:
                continue  # answered below, after any run that may store it
            if job.msg.type == "checkin":
                stored[key] = {}  # a resend inside this batch is a duplicate
                run.append(i)
                continue
            flush_run()
            s.flush()
            try:
                with s.begin_nested():
                    answer = p.ack(job.msg.id, ok=True, result=HANDLERS[job.msg.type](s, self.ctx, job))
            except (Rejected, HubError) as exc:
                job.events.clear()
                answer = p.ack(job.msg.id, ok=False, error={"code": exc.code, "detail": exc.detail})
            except TRANSIENT:
                raise
            except Exception as exc:
                answer = _failure(job, exc)
            remember(i, answer)
        flush_run()
        s.flush()
        if new_rows:
            s.execute(insert(EdgeMessage), new_rows)
        return [a if a is not None else (stored[(job.device_id, job.msg.id)], True) for a, job in zip(answers, batch, strict=True)]
