"""The hub's recorder and the hall's recorder cut the same stream on the same
keyframes (content-defined boundaries), so that a moment either side holds
sits in segments with the same edges: whatever the hall uploads after an
outage lines up with what the hub has, and the playlist needs neither to
play a moment twice nor to leave one out."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devices.media.recording import cut_here as edge_cut
from hub.media.bitstream import is_keyframe
from hub.media.recorder import MIN_CUT_S, Recorder
from hub.media.recorder import cut_here as hub_cut
from hub.recordings.files import FinishedSegment
from tests.hub.media.peers import Clip, make_clip


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    return make_clip(tmp_path_factory.mktemp("clip"), "h264", seconds=60)  # 60 distinct keyframes


def cuts(clip: Clip, rule, start: int, target: float = 6.0) -> list[int]:  # noqa: ANN001
    """Frame indexes where segments start, recording from frame `start` on
    (a keyframe every 2 s at 15 fps, as the hall's encoder makes them: the
    clip's odd-second keyframes are taken as ordinary frames)."""
    frames = clip.video
    keys = [is_keyframe("h264", f) and (i // clip.fps) % 2 == 0 for i, f in enumerate(frames)]
    out: list[int] = []
    seg_start = None
    for i in range(start, len(frames)):
        if not keys[i]:
            continue
        if seg_start is None or rule("h264", frames[i], (i - seg_start) / clip.fps, target):
            out.append(i)
            seg_start = i
    return out


def test_both_sides_decide_alike(long_clip: Clip) -> None:
    frames = [f for f in long_clip.video if is_keyframe("h264", f)]
    for frame in frames:
        for elapsed in (2.0, 3.0, 4.5, 6.0, 8.5, 9.0):
            assert hub_cut("h264", frame, elapsed, 6.0) == edge_cut("h264", frame, elapsed, 6.0)


def test_a_late_starter_falls_into_step(long_clip: Clip) -> None:
    hall = cuts(long_clip, edge_cut, 0)
    fps = long_clip.fps
    for late in range(2, 16, 2):  # the hub's recorder starts some keyframes later
        hub = cuts(long_clip, hub_cut, late * fps)
        common = sorted(set(hall) & set(hub))
        assert common, f"never aligned when starting {late} s late"
        first = common[0]
        assert [c for c in hall if c >= first] == [c for c in hub if c >= first]  # and stays so
        assert first - late * fps <= 10 * fps  # within one bounded segment
        start = late * fps  # aligned from its start, or at the hall's next cut it may make
        assert first == (start if start in hall else min(c for c in hall if c >= start + MIN_CUT_S * fps))
    lengths = [(b - a) / fps for a, b in zip(hall, hall[1:], strict=False)]
    assert all(1.5 <= n <= 10.0 for n in lengths), lengths
    assert 3.0 <= sum(lengths) / len(lengths) <= 6.0  # about two keyframes a segment
    assert max(lengths) <= 10.0


async def test_the_hubs_pieces_never_straddle_the_halls_segments(long_clip: Clip, tmp_path: Path) -> None:
    """The hub's recorder starting late and losing 3 s of the stream to a cut
    link: its segments before falling into step end at the very next keyframe,
    so that no hub segment overlaps a hall segment partly (either apart, or one
    inside the other: the playlist plays the hall's copy of the hole and no
    second twice)."""
    fps = long_clip.fps
    frames = long_clip.video
    keys = [is_keyframe("h264", f) and (i // fps) % 2 == 0 for i, f in enumerate(frames)]
    hall_cuts = cuts(long_clip, edge_cut, 0)
    hall = list(zip(hall_cuts, [*hall_cuts[1:], len(frames)], strict=True))
    finished: list[FinishedSegment] = []
    wall0 = 1_800_000_000.0
    for late, hole in ((2, (17, 20)), (6, (31, 34)), (10, (23, 26))):
        finished.clear()
        with ThreadPoolExecutor(2) as pool:
            recorder = Recorder(branch_id=1, meeting_id="m", directory=tmp_path / str(late),
                                segment_seconds=6.0, stop_free_bytes=0, executor=pool,
                                on_finished=finished.append, request_keyframe=lambda: None,
                                alert=lambda kind, msg: None)
            for i in range(late * fps, len(frames)):
                if hole[0] * fps <= i < hole[1] * fps:
                    continue
                recorder.push_video("h264", frames[i], i * 6000, keys[i], wall0 + i / fps)
            await recorder.close()
        hub = [(round((s.spec.started_at.timestamp() - wall0) * fps),
                round((s.spec.started_at.timestamp() - wall0 + s.duration) * fps)) for s in finished]
        assert len(hub) >= 5
        for a, b in hub:
            for c, d in hall:
                apart, inside, around = b <= c or d <= a, c <= a and b <= d, a <= c and d <= b
                assert apart or inside or around, (late, (a, b), (c, d), hub, hall)
