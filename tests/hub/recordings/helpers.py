"""Segment files as an edge agent would upload them, made from a real
encoded clip (PyAV), and the upload request itself."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from pathlib import Path

from hub.media.bitstream import h264_dimensions, h264_parameter_sets, is_keyframe
from hub.recordings.files import SegmentSpec, SegmentWriter
from tests.hub.media.peers import Clip


def segment_bytes(tmp: Path, clip: Clip, started_at: datetime, *, frames: int = 30,
                  audio: bool = True) -> bytes:
    key = clip.video[0]
    spec = SegmentSpec(str(uuid.uuid4()), 0, "m", started_at, "h264", *h264_dimensions(key),
                       h264_parameter_sets(key), audio)
    writer = SegmentWriter(tmp, spec)
    writer.write([("video", d, i * 6000, is_keyframe("h264", d)) for i, d in enumerate(clip.video[:frames])])
    path = writer.finish().path
    data = path.read_bytes()
    path.unlink()
    return data


def upload_headers(token: str, meeting_id: str, started_at: datetime, data: bytes) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "video/mp4", "X-Meeting-Id": meeting_id,
            "X-Segment-Started-At": started_at.isoformat(),
            "X-Segment-Sha256": hashlib.sha256(data).hexdigest()}
