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

from hub.db import session_scope, utcnow
from hub.media import store
from hub.media.models import RecordedSegment
from hub.media.segments import PART_SUFFIX, parse_segment_filename, probe_segment

if TYPE_CHECKING:
    from hub.media.plane import MediaPlane

log = logging.getLogger(__name__)


def recover(plane: MediaPlane) -> tuple[int, int]:
    """Returns (partial files discarded, orphan segments indexed)."""
    root = plane.recordings_dir
    discarded = indexed = 0
    for part in root.rglob(f"*{PART_SUFFIX}"):
        part.unlink(missing_ok=True)
        discarded += 1
    with session_scope(plane.session_factory) as s:
        known = store.indexed_paths(s)
        for path in sorted(root.glob("*/*/*")):
            rel = str(path.relative_to(plane.data_dir))
            if rel in known or not path.is_file():
                continue
            try:
                started_at, segment_id, _ = parse_segment_filename(path.name)
                branch_id = int(path.parent.parent.name)
                probed = probe_segment(path)
            except ValueError as exc:
                log.warning("recovery: ignoring %s (%s)", path, exc)
                continue
            meeting_id = path.parent.name
            store.ensure_recording(s, meeting_id=meeting_id, branch_id=branch_id,
                                   meeting_type="default", started_at=started_at)
            store.add_segment(s, segment=RecordedSegment(
                id=segment_id, meeting_id=meeting_id, branch_id=branch_id,
                started_at=started_at, duration=probed.duration, path=rel,
                size=path.stat().st_size, init_size=probed.init_size,
                container=probed.container, video_codec=probed.video_codec, source="live",
            ))
            indexed += 1
    if discarded or indexed:
        log.info("recovery: %d partial segment(s) discarded, %d indexed", discarded, indexed)
    return discarded, indexed


def _delete_meetings(plane: MediaPlane, meeting_ids: list[str]) -> int:
    freed = 0
    for meeting_id in meeting_ids:
        with session_scope(plane.session_factory) as s:
            paths = store.delete_meeting(s, meeting_id=meeting_id)
        for rel in paths:
            path = plane.data_dir / rel
            try:
                freed += path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                pass
        for path in {(plane.data_dir / rel).parent for rel in paths}:
            try:
                path.rmdir()
            except OSError:
                pass
    return freed


def _recording_now(plane: MediaPlane) -> set[str]:
    return {b.meeting[0] for b in list(plane.branches.values()) if b.meeting is not None}


def apply_retention(plane: MediaPlane) -> int:
    """Delete unflagged meetings older than their type's retention."""
    busy = _recording_now(plane)
    with session_scope(plane.session_factory) as s:
        expired = store.expired_meetings(s, now=utcnow(), retention_days=plane.settings.retention_days)
    expired = [m for m in expired if m not in busy]
    if expired:
        log.info("retention: deleting %d meeting recording(s)", len(expired))
    _delete_meetings(plane, expired)
    return len(expired)


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def emergency_cleanup(plane: MediaPlane) -> tuple[int, int]:
    """While free space is below `min_free_bytes`, delete the oldest unflagged
    recordings. Returns (meetings deleted, free bytes after)."""
    deleted = 0
    busy = _recording_now(plane)
    while (free := free_bytes(plane.recordings_dir)) < plane.settings.min_free_bytes:
        with session_scope(plane.session_factory) as s:
            victims = store.oldest_unflagged(s, exclude=busy, limit=1)
        if not victims:
            break
        _delete_meetings(plane, victims)
        deleted += 1
    return deleted, free


async def housekeeping_loop(plane: MediaPlane) -> None:
    warned_low = False
    while True:
        try:
            await plane.run_blocking(apply_retention, plane)
            deleted, free = await plane.run_blocking(emergency_cleanup, plane)
            if deleted:
                plane.alert(None, "recordings_purged",
                            f"free disk fell below {plane.settings.min_free_bytes // 2**20} MiB: "
                            f"the {deleted} oldest unflagged meeting recording(s) were deleted; "
                            "add disk space or shorten retention")
            low = free < plane.settings.min_free_bytes
            if low and not warned_low:
                plane.alert(None, "disk_low",
                            f"only {free // 2**20} MiB free for recordings and nothing left to "
                            "delete (flagged meetings are kept); add disk space")
            warned_low = low
        except Exception:  # noqa: BLE001 - housekeeping must keep running
            log.exception("media housekeeping failed")
        await asyncio.sleep(plane.settings.housekeeping_seconds)
