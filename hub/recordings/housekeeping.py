"""Start-up recovery, retention and the low-disk emergency clean-up.

Recovery makes the disk and the index agree after a crash: `.part` files
(the segment being written when the hub died) are discarded, and finished
segment files the hub had not yet indexed are indexed from their name and a
probe. All of it is blocking and runs in the writer pool.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from hub.db import session_scope, utcnow
from hub.recordings import store
from hub.recordings.files import PART_SUFFIX, parse_segment_filename, probe_segment
from hub.recordings.models import RecordedSegment

if TYPE_CHECKING:
    from hub.recordings.service import RecordingService

log = logging.getLogger(__name__)


def recover(svc: RecordingService) -> tuple[int, int]:
    """Returns (partial files discarded, orphan segments indexed)."""
    root = svc.recordings_dir
    discarded = indexed = 0
    for leftover in svc.exports_dir.glob("*"):  # exports being made when the hub stopped
        leftover.unlink(missing_ok=True)
    for part in root.rglob(f"*{PART_SUFFIX}"):
        part.unlink(missing_ok=True)
        discarded += 1
        try:  # the segment being written when the hub stopped: say why this moment is missing
            started_at, _, _ = parse_segment_filename(part.name[: -len(PART_SUFFIX)])
            svc.incident(meeting_id=part.parent.name, branch_id=int(part.parent.parent.name),
                         kind="hub_restart", detail="the hub stopped while writing this segment",
                         at=started_at)
        except ValueError:
            pass
    with session_scope(svc.session_factory) as s:
        indexed = _index_files(svc, s, sorted(root.glob("*/*/*")), store.indexed_paths(s), "default")
    if discarded or indexed:
        log.info("recovery: %d partial segment(s) discarded, %d indexed", discarded, indexed)
    return discarded, indexed


def index_orphans(svc: RecordingService, *, branch_id: int, meeting_id: str, meeting_type: str) -> int:
    """Index the finished segment files of one meeting that have no row yet:
    those a media node finished but had not indexed when it was killed (rows
    are committed in batches). Called when a node starts recording a meeting,
    so a hall that moves to another node brings its last segments back into
    the index. `.part` files are left alone (another node may be writing)."""
    directory = svc.recordings_dir / str(branch_id) / meeting_id
    if not directory.is_dir():
        return 0
    with session_scope(svc.session_factory) as s:
        known = {seg.path for seg in store.list_segments(s, meeting_id=meeting_id)}
        indexed = _index_files(svc, s, sorted(directory.iterdir()), known, meeting_type)
    if indexed:
        log.info("branch %s: %d segment(s) of meeting %s indexed after its media node stopped",
                 branch_id, indexed, meeting_id)
    return indexed


def _index_files(svc: RecordingService, s: Session, paths: list[Path], known: set[str],
                 meeting_type: str) -> int:
    """Index the finished segment files among `paths` (recordings/<branch>/<meeting>/<file>)
    whose relative path is not in `known`; returns how many."""
    indexed = 0
    for path in paths:
        rel = str(path.relative_to(svc.data_dir))
        if rel in known or not path.is_file() or path.name.endswith(PART_SUFFIX):
            continue
        try:
            started_at, segment_id, _ = parse_segment_filename(path.name)
            branch_id = int(path.parent.parent.name)
            probed = probe_segment(path)
        except ValueError as exc:
            log.warning("recovery: ignoring %s (%s)", path, exc)
            continue
        meeting_id = path.parent.name
        if store.get_segment(s, segment_id=segment_id) is not None:
            continue
        store.ensure_recording(s, meeting_id=meeting_id, branch_id=branch_id,
                               meeting_type=meeting_type, started_at=started_at)
        store.add_segment(s, segment=RecordedSegment(
            id=segment_id, meeting_id=meeting_id, branch_id=branch_id,
            started_at=started_at, duration=probed.duration, path=rel,
            size=path.stat().st_size, init_size=probed.init_size,
            container=probed.container, video_codec=probed.video_codec, source="live",
            has_audio=probed.has_audio,
        ))
        indexed += 1
    return indexed


def _delete_meetings(svc: RecordingService, meeting_ids: list[str]) -> int:
    freed = 0
    for meeting_id in meeting_ids:
        with session_scope(svc.session_factory) as s:
            paths = store.delete_meeting(s, meeting_id=meeting_id)
            svc._known_recordings.pop(meeting_id, None)
        for rel in paths:
            path = svc.data_dir / rel
            try:
                freed += path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                pass
        for path in {(svc.data_dir / rel).parent for rel in paths}:
            try:
                path.rmdir()
            except OSError:
                pass
    return freed


def _recording_now(svc: RecordingService) -> set[str]:
    return set(svc.recording_now())


def apply_retention(svc: RecordingService) -> int:
    """Delete unflagged meetings older than their type's retention."""
    busy = _recording_now(svc)
    with session_scope(svc.session_factory) as s:
        expired = store.expired_meetings(s, now=utcnow(), retention_days=svc.settings.retention_days)
    expired = [m for m in expired if m not in busy]
    if expired:
        log.info("retention: deleting %d meeting recording(s)", len(expired))
    _delete_meetings(svc, expired)
    return len(expired)


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def emergency_cleanup(svc: RecordingService) -> tuple[int, int]:
    """While free space is below `min_free_bytes`, delete the oldest unflagged
    recordings. Returns (meetings deleted, free bytes after)."""
    deleted = 0
    busy = _recording_now(svc)
    while (free := free_bytes(svc.recordings_dir)) < svc.settings.min_free_bytes:
        with session_scope(svc.session_factory) as s:
            victims = store.oldest_unflagged(s, exclude=busy, limit=1)
        if not victims:
            break
        _delete_meetings(svc, victims)
        deleted += 1
    return deleted, free


async def housekeeping_loop(svc: RecordingService) -> None:
    warned_low = False
    while True:
        try:
            await asyncio.to_thread(apply_retention, svc)
            deleted, free = await asyncio.to_thread(emergency_cleanup, svc)
            if deleted:
                svc.alert(None, "recordings_purged",
                            f"free disk fell below {svc.settings.min_free_bytes // 2**20} MiB: "
                            f"the {deleted} oldest unflagged meeting recording(s) were deleted; "
                            "add disk space or shorten retention")
            low = free < svc.settings.min_free_bytes
            if low and not warned_low:
                svc.alert(None, "disk_low",
                            f"only {free // 2**20} MiB free for recordings and nothing left to "
                            "delete (flagged meetings are kept); add disk space")
            warned_low = low
        except Exception:  # noqa: BLE001 - housekeeping must keep running
            log.exception("recordings housekeeping failed")
        await asyncio.sleep(svc.settings.housekeeping_seconds)
