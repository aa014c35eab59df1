"""HLS VOD playlists of a meeting's recording (pure: rows in, text out).

Every segment file carries its own init section and starts its own
timeline at zero, so each one after the first is preceded by
EXT-X-DISCONTINUITY and its own EXT-X-MAP (a byte range of the same file).
EXT-X-PROGRAM-DATE-TIME on every segment gives the real wall-clock time, so
a gap in the recording (hub down, uplink down and not yet backfilled) shows
as a jump in time; players seek by the EXTINF durations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

GAP_TOLERANCE = 1.0  # seconds between segments still counted as continuous


@dataclass(frozen=True)
class PlaylistSegment:
    segment_id: str
    started_at: datetime
    duration: float
    size: int
    init_size: int


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def find_gaps(segments: Sequence[PlaylistSegment]) -> list[tuple[datetime, float]]:
    """(start, seconds) of every gap between consecutive segments."""
    gaps = []
    for prev, seg in zip(segments, segments[1:], strict=False):
        prev_end = prev.started_at.timestamp() + prev.duration
        missing = seg.started_at.timestamp() - prev_end
        if missing > GAP_TOLERANCE:
            gaps.append((datetime.fromtimestamp(prev_end, UTC), missing))
    return gaps


def build_playlist(segments: Sequence[PlaylistSegment], uri_prefix: str = "segments/") -> str:
    if not segments:
        raise ValueError("a playlist needs at least one segment")
    target = max(1, math.ceil(max(s.duration for s in segments)))
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    prev_end: float | None = None
    for i, seg in enumerate(segments):
        uri = f"{uri_prefix}{seg.segment_id}.mp4"
        if i:
            lines.append("#EXT-X-DISCONTINUITY")
            if prev_end is not None and seg.started_at.timestamp() - prev_end > GAP_TOLERANCE:
                lines.append(f"## gap: {seg.started_at.timestamp() - prev_end:.1f} s not recorded")
        lines.append(f'#EXT-X-MAP:URI="{uri}",BYTERANGE="{seg.init_size}@0"')
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_iso(seg.started_at)}")
        lines.append(f"#EXTINF:{seg.duration:.3f},")
        lines.append(f"#EXT-X-BYTERANGE:{seg.size - seg.init_size}@{seg.init_size}")
        lines.append(uri)
        prev_end = seg.started_at.timestamp() + seg.duration
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
