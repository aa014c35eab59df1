"""The recordings domain: what the hub keeps of every meeting.

Live media (hub/media) and edge uploads hand it finished segment files; it
verifies each one (fsynced, probed as decodable), indexes it and from then
on counts it as coverage. Playback, export, flagging, retention, recovery
and integrity (covered seconds, gaps and why, duplicates, rejections) are
its own, and none of it needs the live media plane to be running.

Methods without `async` block (database, disk): call them from a thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.db import session_scope, utcnow
from hub.events import AlertRaised, EventBus
from hub.recordings import metrics, store
from hub.recordings.errors import Conflict, ExportFailed, NotFound, Unplayable
from hub.recordings.export import Exporter, ExportLimits, ExportResult
from hub.recordings.files import move_file, probe_segment, segment_filename, verify_written
from hub.recordings.models import RecordedSegment
from hub.recordings.playlist import (
    GAP_TOLERANCE,
    STRICT_TOLERANCE,
    PlaylistSegment,
    build_playlist,
    covered_seconds,
    find_gaps,
    played_twice,
    timeline,
)
from hub.recordings.upload import START_TOLERANCE, UploadMeta, staging_path, verify_hash

if TYPE_CHECKING:
    from hub.media.config import MediaSettings
    from hub.recordings.files import FinishedSegment

log = logging.getLogger(__name__)
COVER_SLACK = 0.25  # seconds at either end of a segment a cover may miss (clock differences)


def _view(s: RecordedSegment) -> PlaylistSegment:
    return PlaylistSegment(s.id, s.started_at, s.duration, s.size, s.init_size)


def merge_intervals(segments: list[RecordedSegment], slack: float = COVER_SLACK) -> list[tuple[float, float]]:
    spans = sorted((s.started_at.timestamp(), s.started_at.timestamp() + s.duration) for s in segments)
    out: list[list[float]] = []
    for start, end in spans:
        if out and start <= out[-1][1] + slack:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def covers(intervals: list[tuple[float, float]], start: float, end: float,
           slack: float = COVER_SLACK) -> bool:
    return any(a <= start + slack and end - slack <= b for a, b in intervals)


# built once: a statement made per call (with its values) cost more in SQLAlchemy's
# cache-key work than the insert itself
_INSERT_SEGMENT = insert(cast(Table, RecordedSegment.__table__))
MAX_QUEUED_ROWS = 50_000  # index rows waiting for the database (~20 min of 256 halls)


@dataclass(frozen=True)
class _LiveRow:
    """A live segment's index row, queued for the next batch."""
    meeting_id: str
    branch_id: int
    meeting_type: str
    duration: float
    values: dict[str, Any]


class RecordingService:
    def __init__(self, settings: MediaSettings, data_dir: Path, session_factory: sessionmaker[Session],
                 bus: EventBus | None = None, *, export_limits: ExportLimits | None = None) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.recordings_dir = data_dir / "recordings"
        self.uploads_dir = data_dir / "uploads"
        self.exports_dir = data_dir / "exports"
        self.session_factory = session_factory
        self.bus = bus
        self.exporter = Exporter(export_limits or ExportLimits(
            timeout_seconds=settings.export_timeout_seconds, max_bytes=settings.export_max_bytes,
            concurrency=settings.export_concurrency, queue_seconds=settings.export_queue_seconds))
        # meetings being recorded right now (never deleted by retention); set by live media
        self.recording_now: Callable[[], set[str]] = set
        self._housekeeping: asyncio.Task[None] | None = None
        # meetings whose recording row this process has seen (live segments skip
        # the lookup: ~40 segments a second at 256 halls; bounded). Only retention
        # deletes that row, never for a meeting being recorded, and forgets it here.
        self._known_recordings: dict[str, None] = {}
        self._rows: list[_LiveRow] = []  # live segments' index rows, committed in batches
        self._rows_lock = threading.Lock()
        self._flush_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------
    async def start(self, *, housekeeping: bool = True) -> None:
        from hub.recordings.housekeeping import housekeeping_loop, recover

        for d in (self.recordings_dir, self.uploads_dir, self.exports_dir):
            d.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(recover, self)
        if housekeeping:
            self._housekeeping = asyncio.create_task(housekeeping_loop(self), name="recordings-housekeeping")

    async def stop(self) -> None:
        task, self._housekeeping = self._housekeeping, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def alert(self, branch_id: int | None, kind: str, message: str) -> None:
        log.warning("alert %s (branch %s): %s", kind, branch_id, message)
        if self.bus is not None:
            self.bus.publish_threadsafe(AlertRaised(branch_id=branch_id, kind=kind, message=message))

    # -- fed by live media (blocking, writer threads) ----------------------------------
    def open_meeting(self, *, meeting_id: str, branch_id: int, meeting_type: str, started_at: datetime) -> None:
        """The meeting's recording row, before its first segment; and, when the
        meeting moves here from a media node that stopped, the segments that node
        finished but had not indexed (`housekeeping.index_orphans`)."""
        from hub.recordings.housekeeping import index_orphans

        with session_scope(self.session_factory) as s:
            store.ensure_recording(s, meeting_id=meeting_id, branch_id=branch_id,
                                   meeting_type=meeting_type, started_at=started_at)
        index_orphans(self, branch_id=branch_id, meeting_id=meeting_id, meeting_type=meeting_type)

    def end_meeting(self, *, meeting_id: str, ended_at: datetime) -> None:
        with session_scope(self.session_factory) as s:
            store.end_recording(s, meeting_id=meeting_id, ended_at=ended_at)

    def incident(self, *, meeting_id: str, branch_id: int, kind: str, detail: str = "",
                 at: datetime | None = None) -> None:
        metrics.INCIDENTS.labels(kind).inc()
        with session_scope(self.session_factory) as s:
            store.add_incident(s, meeting_id=meeting_id, branch_id=branch_id, at=at or utcnow(),
                               kind=kind, detail=detail)

    def add_live_segment(self, *, meeting_id: str, branch_id: int, meeting_type: str,
                         segment: FinishedSegment) -> bool:
        """Verify and index a segment live media finished, committed at once;
        returns whether it counts (see `queue_live_segment`)."""
        if not self.queue_live_segment(meeting_id=meeting_id, branch_id=branch_id,
                                       meeting_type=meeting_type, segment=segment):
            return False
        self.flush_live_segments()
        return True

    def queue_live_segment(self, *, meeting_id: str, branch_id: int, meeting_type: str,
                           segment: FinishedSegment) -> bool:
        """Verify a segment live media finished (written, fsynced; its writer
        refused empty and undecodable frames, so a structural check that the
        file is whole suffices here; uploads get the full probe) and queue its
        index row for the next `flush_live_segments`. A broken one is deleted
        and counted; returns whether it counts.

        Rows are committed in batches because each commit of the embedded
        database is an fsync: one a segment was the largest cost of indexing
        (~40 segments a second at 256 halls). The file itself is durable
        before its row is queued, and `housekeeping.recover` indexes a file
        whose row a crash lost."""
        try:
            verify_written(segment.path)
        except ValueError as exc:
            segment.path.unlink(missing_ok=True)
            metrics.REJECTED.labels("live").inc()
            with session_scope(self.session_factory) as s:
                store.ensure_recording(s, meeting_id=meeting_id, branch_id=branch_id,
                                       meeting_type=meeting_type, started_at=segment.spec.started_at)
                store.count(s, meeting_id=meeting_id, rejected=1)
                store.add_incident(s, meeting_id=meeting_id, branch_id=branch_id,
                                   at=segment.spec.started_at, kind="rejected", detail=str(exc))
            log.warning("live segment %s rejected: %s", segment.path.name, exc)
            return False
        row = _LiveRow(meeting_id, branch_id, meeting_type, segment.duration, {
            "id": segment.spec.segment_id, "meeting_id": meeting_id, "branch_id": branch_id,
            "started_at": segment.spec.started_at, "duration": segment.duration,
            "path": str(segment.path.relative_to(self.data_dir)), "size": segment.size,
            "init_size": segment.init_size, "container": segment.path.suffix.lstrip("."),
            "video_codec": segment.spec.video_codec, "source": "live",
            "has_audio": segment.spec.has_audio,
        })
        with self._rows_lock:
            self._rows.append(row)
            if len(self._rows) > MAX_QUEUED_ROWS:  # the database has been failing for long
                dropped = self._rows.pop(0)
                log.error("live segment %s not indexed (the database keeps failing); it is "
                          "indexed when the hub starts again", dropped.values["path"])
        return True

    def live_segments_queued(self) -> int:
        return len(self._rows)

    def flush_live_segments(self) -> int:
        """Commit the queued index rows (blocking); returns how many. Rows a
        failed commit leaves stay queued for the next flush, and the error is
        raised."""
        with self._flush_lock:  # one flush at a time: rows are committed in order
            with self._rows_lock:
                rows, self._rows = self._rows, []
            if not rows:
                return 0
            try:
                self._index_rows(rows)
            except Exception:
                # one row may be at fault: commit the others one by one
                failed = []
                for row in rows:
                    try:
                        self._index_rows([row])
                    except IntegrityError as exc:  # never storable: retrying cannot help
                        # (or indexed already, by the node that took the hall over: index_orphans)
                        log.error("live segment %s: its index row was refused (%s)", row.values["path"], exc.orig)
                    except Exception:  # noqa: BLE001 - the database is failing: kept for the next flush
                        failed.append(row)
                if failed:
                    with self._rows_lock:
                        self._rows[:0] = failed
                    raise
            return len(rows)

    def _index_rows(self, rows: list[_LiveRow]) -> None:
        known = self._known_recordings
        with session_scope(self.session_factory) as s:
            for row in rows:
                if row.meeting_id not in known:
                    store.ensure_recording(s, meeting_id=row.meeting_id, branch_id=row.branch_id,
                                           meeting_type=row.meeting_type,
                                           started_at=row.values["started_at"])
            # a live segment's id is new (uuid4): no lookup before the insert, and a
            # plain INSERT (the ORM's unit of work cost more than the rest of it)
            s.connection().execute(_INSERT_SEGMENT, [row.values for row in rows])
        if len(known) > 4096:
            known.clear()
        for row in rows:
            known[row.meeting_id] = None
            metrics.SEGMENTS.labels("live").inc()
            metrics.SECONDS.labels("live").inc(row.duration)

    # -- edge uploads (blocking) -----------------------------------------------------------
    def check_upload_target(self, *, branch_id: int, meta: UploadMeta) -> str | None:
        """Before any byte is read: the meeting must be this branch's and the
        start time inside it; returns "duplicate" if the segment is stored."""
        with session_scope(self.session_factory) as s:
            meeting = store.get_meeting(s, meeting_id=meta.meeting_id)
            recording = store.get_recording(s, meeting_id=meta.meeting_id)
            owner = meeting.branch_id if meeting is not None else (
                recording.branch_id if recording is not None else None)
            if owner is None:
                raise NotFound("中心尚无此会议，请稍后重试（会议开始的消息可能尚未同步）。The hub does not "
                               "know this meeting yet; retry later (its start may not have synced).")
            if owner != branch_id:
                raise Unplayable("该会议不属于本支部，不能上传。This meeting belongs to another branch; "
                                 "this device may not write into it.", code="wrong_branch")
            begin = (meeting.started_at or meeting.created_at) if meeting is not None else recording.started_at  # type: ignore[union-attr]
            end = meeting.ended_at if meeting is not None else (recording.ended_at if recording else None)
            if begin is not None and meta.started_at < begin - START_TOLERANCE or (
                    end is not None and meta.started_at > end + START_TOLERANCE) or (
                    end is None and meta.started_at > utcnow() + START_TOLERANCE):
                raise Unplayable("片段开始时间不在会议时间内（允许误差 5 分钟），请检查一体机时钟。The segment's "
                                 "start time lies outside the meeting (5 minutes tolerance); check the "
                                 "edge device's clock.")
            existing = store.get_segment(s, segment_id=meta.segment_id)
            if existing is not None:
                if existing.sha256 == meta.sha256 and existing.branch_id == branch_id:
                    return "duplicate"
                raise Conflict("已有另一个片段使用此编号，请换一个编号。A different segment with this id is "
                               "already stored; generate a new segment id.", code="segment_id_taken")
        return None

    def finish_upload(self, *, branch_id: int, meta: UploadMeta) -> str:
        """The last byte is staged: verify the hash and the video, move the file
        into the recording (also across filesystems) and index it. Returns
        "stored", or "duplicate" when the hub already covers that time range."""
        part = staging_path(self.uploads_dir, branch_id, meta.segment_id)
        if not verify_hash(part, meta.sha256):
            part.unlink(missing_ok=True)
            raise Unplayable("上传内容与 X-Segment-Sha256 不符，请从 0 重新上传。The uploaded bytes do not "
                             "match X-Segment-Sha256; upload the segment again from offset 0.")
        probe_path = part.with_name(f"{meta.segment_id}.{meta.container}")
        part.replace(probe_path)
        try:
            probed = probe_segment(probe_path, decode=True)
        except ValueError as exc:
            probe_path.unlink(missing_ok=True)
            metrics.REJECTED.labels("backfill").inc()
            with session_scope(self.session_factory) as s:
                store.count(s, meeting_id=meta.meeting_id, rejected=1)
                store.add_incident(s, meeting_id=meta.meeting_id, branch_id=branch_id,
                                   at=meta.started_at, kind="rejected", detail=str(exc))
            raise Unplayable(f"片段无法解码，请重新录制或跳过：{exc}。The segment cannot be played "
                             f"back: {exc}.") from None
        with session_scope(self.session_factory) as s:
            have = merge_intervals(store.list_segments(s, meeting_id=meta.meeting_id))
        start = meta.started_at.timestamp()
        if covers(have, start, start + probed.duration):
            probe_path.unlink(missing_ok=True)
            metrics.DUPLICATES.inc()
            with session_scope(self.session_factory) as s:
                store.count(s, meeting_id=meta.meeting_id, duplicates=1)
            return "duplicate"
        final = (self.recordings_dir / str(branch_id) / meta.meeting_id
                 / segment_filename(meta.started_at, meta.segment_id, meta.container))
        move_file(probe_path, final)
        with session_scope(self.session_factory) as s:
            store.ensure_recording(s, meeting_id=meta.meeting_id, branch_id=branch_id,
                                   meeting_type="default", started_at=meta.started_at)
            store.add_segment(s, segment=RecordedSegment(
                id=meta.segment_id, meeting_id=meta.meeting_id, branch_id=branch_id,
                started_at=meta.started_at, duration=probed.duration,
                path=str(final.relative_to(self.data_dir)), size=meta.total,
                init_size=probed.init_size, container=probed.container,
                video_codec=probed.video_codec, source="backfill", sha256=meta.sha256,
                has_audio=probed.has_audio,
            ))
        metrics.SEGMENTS.labels("backfill").inc()
        metrics.SECONDS.labels("backfill").inc(probed.duration)
        return "stored"

    def upload_state(self, *, branch_id: int, segment_id: str) -> tuple[int, bool]:
        with session_scope(self.session_factory) as s:
            seg = store.get_segment(s, segment_id=segment_id)
        if seg is not None and seg.branch_id == branch_id:
            return seg.size, True
        part = staging_path(self.uploads_dir, branch_id, segment_id)
        return (part.stat().st_size if part.exists() else 0), False

    # -- reading (blocking) -----------------------------------------------------------------
    def meeting_branch(self, meeting_id: str) -> int | None:
        with session_scope(self.session_factory) as s:
            return store.meeting_branch(s, meeting_id=meeting_id)

    def segments(self, meeting_id: str) -> list[RecordedSegment]:
        with session_scope(self.session_factory) as s:
            return store.list_segments(s, meeting_id=meeting_id)

    def coverage(self, meeting_id: str) -> list[tuple[float, float]]:
        """Time ranges (epoch seconds) held by verified segments: what the edge
        may delete from its own disk."""
        return merge_intervals(self.segments(meeting_id))

    def describe(self, meeting_id: str) -> dict[str, Any]:
        with session_scope(self.session_factory) as s:
            segments = store.list_segments(s, meeting_id=meeting_id)
            recording = store.get_recording(s, meeting_id=meeting_id)
            incidents = store.list_incidents(s, meeting_id=meeting_id)
        views = [_view(s) for s in segments]
        played = timeline(views)
        played_ids = {p.segment_id for p in played}
        gaps = []
        for start, seconds in find_gaps(views):
            end = start + timedelta(seconds=seconds)
            why = [i for i in incidents if start - timedelta(seconds=10) <= i.at <= end]
            gaps.append({"started_at": start.isoformat(), "seconds": round(seconds, 3),
                         "reason": why[-1].kind if why else "no_uplink",
                         "detail": why[-1].detail if why else ""})
        return {
            "meeting_id": meeting_id,
            "flagged": bool(recording.flagged) if recording is not None else False,
            "covered_seconds": round(covered_seconds(played), 3),
            "stored_seconds": round(covered_seconds(views), 3),
            "seconds_played_twice": round(played_twice(played), 3),
            # what a stricter reading counts too: overlaps of copies cut on different keyframes
            "overlap_seconds": round(played_twice(played, STRICT_TOLERANCE), 3),
            "segments_rejected": recording.segments_rejected if recording is not None else 0,
            "duplicates_dropped": recording.duplicates_dropped if recording is not None else 0,
            "segments": [
                {"id": s.id, "started_at": s.started_at.isoformat(), "duration": s.duration,
                 "size": s.size, "container": s.container, "video_codec": s.video_codec,
                 "source": s.source, "has_audio": s.has_audio, "played": s.id in played_ids}
                for s in segments
            ],
            "gaps": gaps,
            "incidents": [{"at": i.at.isoformat(), "kind": i.kind, "detail": i.detail} for i in incidents],
        }

    def playlist(self, meeting_id: str) -> str:
        segments = self.segments(meeting_id)
        mp4 = [s for s in segments if s.container == "mp4"]
        if not mp4:
            if segments:
                raise Unplayable("该会议以 VP8（WebM）录制，无法用 HLS 播放，请下载 export.webm。This meeting "
                                 "was recorded in VP8 (WebM), which HLS cannot carry; download export.webm.")
            raise NotFound("该会议尚无已完成的录像片段，请几秒后重试。This meeting has no finished segment "
                           "yet; retry in a few seconds.")
        return build_playlist([_view(s) for s in mp4])

    def segment_file(self, meeting_id: str, segment_id: str, ext: str) -> Path:
        for seg in self.segments(meeting_id):
            if seg.id == segment_id:
                if ext != seg.container:
                    raise NotFound(f"片段 {segment_id} 是 .{seg.container} 文件。Segment {segment_id} is a "
                                   f".{seg.container} file; ask for {segment_id}.{seg.container}.")
                return self.data_dir / seg.path
        raise NotFound(f"该会议没有片段 {segment_id}。Meeting {meeting_id} has no segment {segment_id}.")

    def set_flagged(self, meeting_id: str, flagged: bool) -> bool:
        with session_scope(self.session_factory) as s:
            return store.set_flagged(s, meeting_id=meeting_id, flagged=flagged)

    def export_parts(self, meeting_id: str, ext: str) -> list[tuple[Path, float, float]]:
        """The segments an export plays, in order: the playlist's choice (each
        moment once), within the meeting's time (wrong clocks left out)."""
        with session_scope(self.session_factory) as s:
            segments = store.list_segments(s, meeting_id=meeting_id)
            meeting = store.get_meeting(s, meeting_id=meeting_id)
            recording = store.get_recording(s, meeting_id=meeting_id)
        begin: datetime | None = None
        end: datetime | None = None
        if meeting is not None:
            begin, end = meeting.started_at or meeting.created_at, meeting.ended_at
        elif recording is not None:
            begin, end = recording.started_at, recording.ended_at
        same = [s for s in segments if s.container == ext]
        if not same:
            other = "webm" if ext == "mp4" else "mp4"
            if segments:
                raise Unplayable(f"该会议没有 {ext} 片段，请下载 export.{other}。This meeting has no {ext} "
                                 f"segments; download export.{other}.")
            raise NotFound("该会议没有录像。This meeting has no recording.")
        if begin is not None:
            lo = begin - START_TOLERANCE
            hi = (end or datetime.now(UTC)) + START_TOLERANCE
            same = [s for s in same if lo <= s.started_at <= hi]
        if not same:
            raise ExportFailed("该会议的片段时间均不在会议时间内，无法导出。No segment of this meeting has a "
                               "start time inside the meeting; nothing can be exported.")
        by_id = {s.id: s for s in same}
        chosen = [by_id[p.segment_id] for p in timeline([_view(s) for s in same])]
        return [(self.data_dir / s.path, s.started_at.timestamp(), s.duration) for s in chosen]

    async def export(self, meeting_id: str, ext: str) -> ExportResult:
        parts = await asyncio.to_thread(self.export_parts, meeting_id, ext)
        out = self.exports_dir / f"{meeting_id}-{uuid.uuid4().hex}.{ext}"
        return await self.exporter.export(parts, ext, out)


__all__ = ["GAP_TOLERANCE", "RecordingService", "covers", "merge_intervals"]
