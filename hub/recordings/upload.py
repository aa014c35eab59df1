"""Backfill uploads: segments an edge recorded locally, uploaded late,
resumable, verified by SHA-256 and by decoding their first keyframe
(docs/protocols/segment-upload.md). Blocking functions: call from threads.

Staging lives under `<data>/uploads/<branch>/<segment>.part`; a chunk must
start where the staged bytes end (else 409 with `Upload-Offset`), so an edge
that lost a response asks `HEAD` and resumes. The body is streamed into the
staging file by the view chunk by chunk (never held whole in memory); the
last chunk triggers the hash check, the probe and the durable move into
`recordings/` (which may be another filesystem).
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from hub.recordings.errors import BadUpload, PayloadTooLarge, ResumeConflict, UnsupportedType

_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_SHA = re.compile(r"^[0-9a-f]{64}$")
# A segment may start this much before the meeting's start or after its end
# (the edge's and the hub's clocks, a meeting ended while the last segment
# was being cut). Anything further out is refused (422).
START_TOLERANCE = timedelta(minutes=5)


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

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_upload_headers(segment_id: str, headers: Mapping[str, str], max_bytes: int) -> UploadMeta:
    """Everything about an upload that the headers say (no body needed)."""
    try:
        uuid.UUID(segment_id)
    except ValueError:
        raise BadUpload("片段编号须为 UUID。segment_id must be a UUID chosen by the edge.") from None
    meeting_id = headers.get("x-meeting-id", "")
    try:
        uuid.UUID(meeting_id)
    except ValueError:
        raise BadUpload("X-Meeting-Id 须为会议的 UUID。X-Meeting-Id must be the meeting's UUID.") from None
    try:
        started_at = datetime.fromisoformat(headers.get("x-segment-started-at", "").replace("Z", "+00:00"))
    except ValueError:
        raise BadUpload("X-Segment-Started-At 须为带时区的 RFC 3339 时间。X-Segment-Started-At must be "
                        "an RFC 3339 time with offset, the wall clock of the segment's first frame.") from None
    if started_at.tzinfo is None:
        raise BadUpload("X-Segment-Started-At 缺少时区。X-Segment-Started-At needs a UTC offset "
                        "(e.g. 2026-11-22T10:00:00Z).")
    sha = headers.get("x-segment-sha256", "").lower()
    if not _SHA.match(sha):
        raise BadUpload("X-Segment-Sha256 须为整个文件的 SHA-256（十六进制）。X-Segment-Sha256 must be "
                        "the hex SHA-256 of the whole file.")
    ctype = headers.get("content-type", "").split(";")[0].strip()
    container = {"video/mp4": "mp4", "video/webm": "webm"}.get(ctype)
    if container is None:
        raise UnsupportedType("只接受 video/mp4（H.264）或 video/webm（VP8）。Content-Type must be "
                              "video/mp4 (H.264) or video/webm (VP8).")
    try:
        length = int(headers.get("content-length", ""))
    except ValueError:
        raise BadUpload("请求须带 Content-Length。Send Content-Length (no chunked uploads).") from None
    crange = headers.get("content-range")
    if crange:
        m = _RANGE.match(crange.strip())
        if not m:
            raise BadUpload("Content-Range 格式应为 'bytes 0-1048575/7340032'。Content-Range must look "
                            "like 'bytes 0-1048575/7340032'.")
        start, end, total = (int(x) for x in m.groups())
        if end < start or end >= total or end - start + 1 != length:
            raise BadUpload("Content-Range 与正文长度不符。Content-Range does not match the body length.")
    else:
        start, end, total = 0, length - 1, length
    if total > max_bytes:
        raise PayloadTooLarge(f"片段不得超过 {max_bytes} 字节，请缩短片段。Segments are limited to "
                              f"{max_bytes} bytes; record shorter segments.")
    if total <= 0:
        raise BadUpload("片段为空。The segment is empty.")
    return UploadMeta(segment_id, meeting_id, started_at.astimezone(UTC), sha, container, start, end, total)


def staging_path(uploads_dir: Path, branch_id: int, segment_id: str) -> Path:
    return uploads_dir / str(branch_id) / f"{segment_id}.part"


def staged_offset(uploads_dir: Path, branch_id: int, segment_id: str) -> int:
    part = staging_path(uploads_dir, branch_id, segment_id)
    return part.stat().st_size if part.exists() else 0


def open_chunk(uploads_dir: Path, branch_id: int, meta: UploadMeta) -> BinaryIO:
    """The staging file, positioned for this chunk (409 if it does not start
    where the staged bytes end)."""
    part = staging_path(uploads_dir, branch_id, meta.segment_id)
    part.parent.mkdir(parents=True, exist_ok=True)
    offset = part.stat().st_size if part.exists() else 0
    if meta.start != offset:
        raise ResumeConflict(offset)
    return open(part, "ab")


def close_chunk(f: BinaryIO, *, keep: bool, start: int) -> int:
    """fsync and close; on failure cut back to `start`. Returns the staged size."""
    try:
        if not keep:
            f.truncate(start)
        f.flush()
        os.fsync(f.fileno())
        return f.tell()
    finally:
        f.close()


def verify_hash(part: Path, sha256: str) -> bool:
    digest = hashlib.sha256()
    with open(part, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == sha256
