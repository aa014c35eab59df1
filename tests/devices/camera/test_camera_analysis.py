"""Thumbnails, headcount and the MJPEG parser."""

from __future__ import annotations

import asyncio
import time

import cv2
import numpy as np
import pytest
from skimage import data

from devices.camera import CapturedFrame, FrameAnalyzer, HeadCounter, make_thumbnail, render_pattern
from devices.camera.mjpeg import MjpegParser, boundary_from_content_type


@pytest.fixture(scope="module")
def counter() -> HeadCounter:
    return HeadCounter()


def astronaut() -> np.ndarray:
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def test_headcount_one_person(counter: HeadCounter) -> None:
    assert counter.count(astronaut()) == 1


def test_headcount_several_people(counter: HeadCounter) -> None:
    # skimage bundles no group photo: four copies of the astronaut make a group of four
    row = np.hstack([astronaut(), astronaut()])
    assert counter.count(np.vstack([row, row])) == 4


@pytest.mark.parametrize("image", [np.zeros((720, 1280, 3), np.uint8),
                                   np.full((360, 640, 3), 200, np.uint8)])
def test_headcount_empty_frame_is_zero(counter: HeadCounter, image: np.ndarray) -> None:
    assert counter.count(image) == 0


# Frames of the old pattern that HOG took for a person (a digit over a bar's edge,
# or over the sweeping line), then a sweep: the demo halls and the emulator show it.
PATTERN_FRAMES = [(45, 1796113346.65), (285, 1796113435.45), (1060, 1796113722.2), (1061, 1796113722.57)]
PATTERN_FRAMES += [(seq, 1796113330.0 + seq * 0.37) for seq in range(0, 400, 10)]


@pytest.mark.parametrize(("width", "height"), [(640, 360), (1280, 720)])
def test_headcount_pattern_is_zero(counter: HeadCounter, width: int, height: int) -> None:
    counts = {seq: counter.count(render_pattern(width, height, ts, seq)) for seq, ts in PATTERN_FRAMES}
    assert not any(counts.values()), {seq: n for seq, n in counts.items() if n}


def test_thumbnail_is_small_jpeg_of_requested_size() -> None:
    jpeg = make_thumbnail(render_pattern(1280, 720, time.time(), 1), 320, 180, quality=70)
    assert jpeg[:2] == b"\xff\xd8"
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (180, 320, 3)
    assert len(jpeg) < 40_000


async def test_analyzer_makes_thumbnail_and_count() -> None:
    frame = CapturedFrame(astronaut(), time.time(), time.monotonic(), 7)
    results = []
    analyzer = FrameAnalyzer(lambda: frame, results.append, interval_s=0.05)
    result = await analyzer.analyze_once(frame)
    assert result.headcount == 1 and result.frame_seq == 7
    await analyzer.start()
    while not results:
        await asyncio.sleep(0.05)
    await analyzer.stop()
    assert results[0].thumbnail_jpeg[:2] == b"\xff\xd8"


# ---- MJPEG parser: bodies written by hand from RFC 2046, not by our emulator ----
BODY = (b"--cam\r\nContent-Type: image/jpeg\r\nContent-Length: 4\r\n\r\n\xff\xd8AB\r\n"
        b"--cam\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8CD\r\n--cam\r\n")


def test_parser_whole_body() -> None:
    assert MjpegParser(b"cam").feed(BODY) == [b"\xff\xd8AB", b"\xff\xd8CD"]


def test_parser_every_split_point() -> None:
    for cut in range(len(BODY) + 1):
        parser = MjpegParser(b"cam")
        assert parser.feed(BODY[:cut]) + parser.feed(BODY[cut:]) == [b"\xff\xd8AB", b"\xff\xd8CD"], cut


def test_parser_bad_length() -> None:
    with pytest.raises(ValueError, match="Content-Length b'x' is not a number"):
        MjpegParser(b"cam").feed(b"--cam\r\nContent-Length: x\r\n\r\n")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("multipart/x-mixed-replace; boundary=frame", b"frame"),
     ('multipart/x-mixed-replace;boundary="--myboundary"', b"myboundary")],
)
def test_boundary(value: str, expected: bytes) -> None:
    assert boundary_from_content_type(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [("image/jpeg", "is not multipart"), ("multipart/x-mixed-replace", "no boundary parameter")],
)
def test_boundary_errors(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        boundary_from_content_type(value)
