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


def timeline(segments: Sequence[PlaylistSegment]) -> list[PlaylistSegment]:
    """The segments to play, in time order: one that adds nothing past what
    earlier ones already cover is left out. The same moment can be recorded
    twice (live at the hub, and by the edge around an outage, uploaded
    later); it is played once. A partial overlap keeps both (a few seconds
    repeat rather than any second missing)."""
    out: list[PlaylistSegment] = []
    covered = -math.inf
    for seg in sorted(segments, key=lambda s: s.started_at):
        end = seg.started_at.timestamp() + seg.duration
        if end <= covered + 0.001:  # adds nothing
            continue
        out.append(seg)
        covered = max(covered, end)
    return out


def find_gaps(segments: Sequence[PlaylistSegment]) -> list[tuple[datetime, float]]:
    """(start, seconds) of every stretch no segment covers."""
    gaps = []
    covered: float | None = None
    for seg in timeline(segments):
        start = seg.started_at.timestamp()
        if covered is not None and start - covered > GAP_TOLERANCE:
            gaps.append((datetime.fromtimestamp(covered, UTC), start - covered))
        covered = max(covered or start, start + seg.duration)
    return gaps


def build_playlist(segments: Sequence[PlaylistSegment], uri_prefix: str = "segments/") -> str:
    segments = timeline(segments)
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
