"""Backfill: segments an edge recorded while its uplink was down, uploaded
late, resumable, verified by SHA-256 (docs/protocols/segment-upload.md).

Staging lives under `<data>/uploads/<branch>/<segment>.part`; a chunk must
start where the staged bytes end (else 409 with `Upload-Offset`), so an edge
that lost a response asks `HEAD` and resumes. The last chunk triggers the
hash check, a probe (demux only) and the atomic move into the recording.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hub.db import session_scope
from hub.media import store
from hub.media.errors import BadRequest, Conflict, MediaError, UnprocessableMedia
from hub.media.models import RecordedSegment
from hub.media.segments import commit_file, fsync_dir, probe_segment, segment_filename

_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


class PayloadTooLarge(MediaError):
    status = 413
    title = "Segment too large"


@dataclass(frozen=True)
class UploadMeta:
    segment_id: str
    meeting_id: str
    started_at: datetime
    sha256: str
    container: str
    start: int
    end: int  # inclusive
    total: int


def parse_upload_headers(segment_id: str, headers: dict[str, str], body_len: int,
                         max_bytes: int) -> UploadMeta:
    try:
        uuid.UUID(segment_id)
    except ValueError:
        raise BadRequest("segment_id must be a UUID chosen by the edge") from None
    meeting_id = headers.get("x-meeting-id", "")
    try:
        uuid.UUID(meeting_id)
    except ValueError:
        raise BadRequest("X-Meeting-Id must be the meeting's UUID") from None
    try:
        started_at = datetime.fromisoformat(headers.get("x-segment-started-at", "").replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("X-Segment-Started-At must be an RFC 3339 time with offset, "
                         "the wall clock of the segment's first frame") from None
    if started_at.tzinfo is None:
        raise BadRequest("X-Segment-Started-At needs a UTC offset (e.g. 2026-11-22T10:00:00Z)")
    sha = headers.get("x-segment-sha256", "").lower()
    if not _SHA.match(sha):
        raise BadRequest("X-Segment-Sha256 must be the hex SHA-256 of the whole file")
    ctype = headers.get("content-type", "").split(";")[0].strip()
    container = {"video/mp4": "mp4", "video/webm": "webm"}.get(ctype)
    if container is None:
        raise UnprocessableMedia("Content-Type must be video/mp4 (H.264) or video/webm (VP8)",
                                 status=415)
    crange = headers.get("content-range")
    if crange:
        m = _RANGE.match(crange.strip())
        if not m:
            raise BadRequest("Content-Range must look like 'bytes 0-1048575/7340032'")
        start, end, total = (int(x) for x in m.groups())
        if end < start or end >= total or end - start + 1 != body_len:
            raise BadRequest("Content-Range does not match the body length")
    else:
        start, end, total = 0, body_len - 1, body_len
    if total > max_bytes:
        raise PayloadTooLarge(f"segments are limited to {max_bytes} bytes; record shorter segments")
    if total == 0:
        raise BadRequest("the segment is empty")
    return UploadMeta(segment_id, meeting_id, started_at.astimezone(UTC), sha, container,
                      start, end, total)


def staged_offset(uploads_dir: Path, branch_id: int, segment_id: str) -> int:
    part = uploads_dir / str(branch_id) / f"{segment_id}.part"
    return part.stat().st_size if part.exists() else 0


def store_chunk(data_dir: Path, session_factory, branch_id: int, meta: UploadMeta,
                body: bytes) -> tuple[str, int]:
    """Blocking. Returns ("incomplete", offset) or ("stored"|"duplicate", total)."""
    with session_scope(session_factory) as s:
        existing = store.get_segment(s, segment_id=meta.segment_id)
        if existing is not None:
            if existing.sha256 == meta.sha256 and existing.branch_id == branch_id:
                return "duplicate", meta.total
            raise Conflict("a different segment with this id is already stored; "
                           "generate a new segment id")
    staging = data_dir / "uploads" / str(branch_id)
    staging.mkdir(parents=True, exist_ok=True)
    part = staging / f"{meta.segment_id}.part"
    offset = part.stat().st_size if part.exists() else 0
    if meta.start != offset:
        raise ResumeConflict(offset)
    with open(part, "ab") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    offset += len(body)
    if offset < meta.total:
        return "incomplete", offset
    digest = hashlib.sha256()
    with open(part, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != meta.sha256:
        part.unlink()
        raise UnprocessableMedia("the uploaded bytes do not match X-Segment-Sha256; "
                                 "upload the segment again from offset 0")
    target_dir = data_dir / "recordings" / str(branch_id) / meta.meeting_id
    target_dir.mkdir(parents=True, exist_ok=True)
    final = target_dir / segment_filename(meta.started_at, meta.segment_id, meta.container)
    probe_path = part.with_name(part.stem + "." + meta.container)
    os.replace(part, probe_path)
    try:
        probed = probe_segment(probe_path)
    except ValueError as exc:
        probe_path.unlink()
        raise UnprocessableMedia(f"the segment cannot be played back: {exc}") from None
    commit_file(probe_path, final)
    fsync_dir(staging)
    with session_scope(session_factory) as s:
        store.ensure_recording(s, meeting_id=meta.meeting_id, branch_id=branch_id,
                               meeting_type="default", started_at=meta.started_at)
        store.add_segment(s, segment=RecordedSegment(
            id=meta.segment_id, meeting_id=meta.meeting_id, branch_id=branch_id,
            started_at=meta.started_at, duration=probed.duration,
            path=str(final.relative_to(data_dir)), size=meta.total,
            init_size=probed.init_size, container=probed.container,
            video_codec=probed.video_codec, source="backfill", sha256=meta.sha256,
        ))
    return "stored", meta.total


class ResumeConflict(Conflict):
    def __init__(self, offset: int) -> None:
        super().__init__(f"the hub holds {offset} bytes of this segment; "
                         f"resume with Content-Range starting at {offset}")
        self.offset = offset
