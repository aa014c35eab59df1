"""HLS VOD playlists of a meeting's recording (pure: rows in, text out).

Every segment file carries its own init section and starts its own
timeline at zero, so each one after the first is preceded by
EXT-X-DISCONTINUITY and its own EXT-X-MAP (a byte range of the same file).
EXT-X-PROGRAM-DATE-TIME on every segment gives the real wall-clock time, so
a gap in the recording (hub down, uplink down and not yet backfilled) shows
as a jump in time; players seek by the EXTINF durations.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

GAP_TOLERANCE = 1.0  # seconds between segments still counted as continuous
# Both copies of a segment carry the capture time of their first keyframe
# (the hall writes it into the H.264 stream, the hub reads it back:
# devices/media/capturetime.py), so copies cut on the same keyframe start on
# the same microsecond. Copies cut on different keyframes (the hub lost the
# hall's cut keyframe under packet loss) can still overlap by part of a GOP,
# and HLS cannot play a segment from its middle: such an overlap, up to half
# a GOP, is played (a fraction of a second twice rather than seconds of
# hole) and reported apart (`overlap_seconds`, STRICT_TOLERANCE).
OVERLAP_TOLERANCE = 1.0
STRICT_TOLERANCE = 0.15  # a frame or two of capture jitter at a copy's end


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
    """The segments to play, in time order, such that no moment plays twice.

    The same moment can be stored twice (live at the hub, and by the edge
    around an outage, uploaded later), and the copies do not start on the
    same frame. HLS cannot cut a segment short, so of overlapping copies
    one is chosen: the set of non-overlapping segments (up to one frame of
    clock difference) that covers the most time (weighted interval
    scheduling, O(n log n))."""
    segs = sorted(segments, key=lambda s: (s.started_at.timestamp() + s.duration, s.started_at))
    ends = [s.started_at.timestamp() + s.duration for s in segs]
    best = [0.0] * (len(segs) + 1)
    take = [False] * len(segs)
    prev = [0] * len(segs)
    for i, seg in enumerate(segs):
        start = seg.started_at.timestamp()
        j = bisect.bisect_right(ends, start + OVERLAP_TOLERANCE, 0, i)  # segments ending before
        prev[i] = j
        with_it = best[j] + seg.duration
        take[i] = with_it > best[i] + 1e-6
        best[i + 1] = with_it if take[i] else best[i]
    out: list[PlaylistSegment] = []
    i = len(segs) - 1
    while i >= 0:
        if take[i]:
            out.append(segs[i])
            i = prev[i] - 1
        else:
            i -= 1
    return _uncontained(out)


def _uncontained(segments: Sequence[PlaylistSegment]) -> list[PlaylistSegment]:
    """In time order, without the chosen copies whose whole time lies inside
    another chosen one (the hub's piece before a cut inside the hall's copy of
    that time, both within the overlap tolerance): they add no second and
    would play a moment twice."""
    by_start = sorted(segments, key=lambda s: (s.started_at.timestamp(), -s.duration))
    out: list[PlaylistSegment] = []
    reach = -math.inf
    for seg in by_start:
        end = seg.started_at.timestamp() + seg.duration
        if end <= reach + 1e-3:
            continue
        out.append(seg)
        reach = end
    return out


def played_twice(segments: Sequence[PlaylistSegment], tolerance: float = OVERLAP_TOLERANCE) -> float:
    """Seconds a player of these segments (in order) would show twice
    (overlaps up to `tolerance`, the two clocks' difference, not counted)."""
    twice, covered = 0.0, -math.inf
    for seg in sorted(segments, key=lambda s: s.started_at):
        start = seg.started_at.timestamp()
        end = start + seg.duration
        overlap = max(0.0, min(end, covered) - start)
        twice += overlap if overlap > tolerance else 0.0
        covered = max(covered, end)
    return twice


def covered_seconds(segments: Sequence[PlaylistSegment]) -> float:
    """Seconds of wall-clock time at least one of the segments covers."""
    total, covered = 0.0, -math.inf
    for seg in sorted(segments, key=lambda s: s.started_at):
        start = seg.started_at.timestamp()
        end = start + seg.duration
        if end > covered:
            total += end - max(start, covered)
            covered = end
    return total


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
