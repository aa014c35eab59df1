"""Overlapping recordings of the same moment (live at the hub, and the
edge's backfill around an outage) are played once; gaps are real gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.media.playlist import PlaylistSegment, build_playlist, find_gaps, timeline

T0 = datetime(2026, 11, 5, 1, 0, tzinfo=UTC)


def seg(name: str, start: float, duration: float) -> PlaylistSegment:
    return PlaylistSegment(name, T0 + timedelta(seconds=start), duration, 1000, 100)


def test_covered_segment_is_left_out_and_partial_overlap_kept() -> None:
    live = [seg("a", 0, 6), seg("b", 6, 6), seg("c", 30, 6)]
    backfill = [seg("x", 7, 3), seg("y", 10, 6), seg("z", 16, 6)]  # x inside b; y overlaps b's end
    names = [s.segment_id for s in timeline(live + backfill)]
    assert names == ["a", "b", "y", "z", "c"]
    (gap_start, seconds), = find_gaps(live + backfill)
    assert gap_start == T0 + timedelta(seconds=22) and abs(seconds - 8) < 1e-6
    assert "x.mp4" not in build_playlist(live + backfill)


def test_short_tail_segment_is_kept() -> None:
    assert [s.segment_id for s in timeline([seg("a", 0, 1), seg("tail", 1, 0.07)])] == ["a", "tail"]
