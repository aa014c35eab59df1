"""Overlapping recordings of the same moment (live at the hub, and the
edge's backfill around an outage) are played once; gaps are real gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.recordings.playlist import (
    STRICT_TOLERANCE,
    PlaylistSegment,
    build_playlist,
    covered_seconds,
    find_gaps,
    played_twice,
    timeline,
)

T0 = datetime(2026, 11, 5, 1, 0, tzinfo=UTC)


def seg(name: str, start: float, duration: float) -> PlaylistSegment:
    return PlaylistSegment(name, T0 + timedelta(seconds=start), duration, 1000, 100)


def test_no_moment_plays_twice_and_the_most_time_is_kept() -> None:
    live = [seg("a", 0, 6), seg("b", 6, 6), seg("c", 30, 6)]
    backfill = [seg("w", 6, 4), seg("x", 7, 3), seg("y", 10, 6), seg("z", 16, 6)]  # y overlaps b's end
    chosen = timeline(live + backfill)
    assert [s.segment_id for s in chosen] == ["a", "w", "y", "z", "c"]  # b would cost 4 s of y
    assert played_twice(chosen) == 0
    assert covered_seconds(chosen) == covered_seconds(live + backfill) == 28
    (gap_start, seconds), = find_gaps(live + backfill)
    assert gap_start == T0 + timedelta(seconds=22) and abs(seconds - 8) < 1e-6
    text = build_playlist(live + backfill)
    assert "x.mp4" not in text and "b.mp4" not in text


def test_overlapping_copies_never_play_twice() -> None:
    """Copies that do not line up: one is dropped, even at the price of a hole."""
    live = [seg("a", 0, 6), seg("b", 6, 6)]
    edge = [seg("e", 3, 6)]
    chosen = timeline(live + edge)
    assert played_twice(chosen) == 0 and [s.segment_id for s in chosen] == ["a", "b"]
    assert played_twice(live + edge) == 6  # what a player of every stored copy would repeat


def test_a_clock_difference_is_not_an_overlap() -> None:
    """Copies cut on different keyframes overlapping by part of a GOP both play
    (HLS cannot start a segment in its middle); a strict reading reports it."""
    for skew in (0.05, 0.75):
        chosen = timeline([seg("a", 0, 6), seg("e", 6 - skew, 6)])
        assert [s.segment_id for s in chosen] == ["a", "e"] and played_twice(chosen) == 0
    assert played_twice([seg("a", 0, 6), seg("e", 5.25, 6)], STRICT_TOLERANCE) == 0.75
    assert played_twice([seg("a", 0, 6), seg("e", 5.9, 6)], STRICT_TOLERANCE) == 0


def test_a_short_live_piece_inside_the_halls_copy_is_not_played() -> None:
    """The hub's piece before a cut starts on the keyframe the hall's copy starts on:
    only the hall's copy plays (no second of it twice)."""
    chosen = timeline([seg("live", 14, 0.8), seg("hall", 14, 7.9), seg("next", 21.9, 2)])
    assert [s.segment_id for s in chosen] == ["hall", "next"] and played_twice(chosen) == 0


def test_short_tail_segment_is_kept() -> None:
    assert [s.segment_id for s in timeline([seg("a", 0, 1), seg("tail", 1, 0.07)])] == ["a", "tail"]
