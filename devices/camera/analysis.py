"""Thumbnails and a headcount from raw frames, made off the event loop every few seconds.

Headcount detector: the opencv-python 5.0 wheel in this project ships no
people detector at all (no HOGDescriptor, no CascadeClassifier, an empty
cv2.data, and FaceDetectorYN needs an ONNX model that is not shipped). The
frontal-face LBP cascade that scikit-image bundles
(`skimage.data.lbp_frontal_face_cascade_filename()`, OpenCV's own
lbpcascade_frontalface) with `skimage.feature.Cascade` is the detector that
ships in an installed package, so we count faces: people at a branch
meeting sit facing the front where the camera is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import cv2
import numpy as np

from .frames import CapturedFrame

log = logging.getLogger(__name__)


def make_thumbnail(image: np.ndarray, width: int = 320, height: int = 180, quality: int = 70) -> bytes:
    """A JPEG of `image` letterboxed into width x height."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    y, x = (height - nh) // 2, (width - nw) // 2
    canvas[y : y + nh, x : x + nw] = resized
    ok, jpeg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding of the thumbnail failed")
    return jpeg.tobytes()


@dataclass(frozen=True, slots=True)
class Detection:
    x: int
    y: int
    width: int
    height: int


class HeadCounter:
    """Counts frontal faces on a downscaled grey copy of the frame."""

    def __init__(self, *, work_width: int = 320, min_face_px: int = 20, min_neighbours: int = 4) -> None:
        from skimage import data as skdata
        from skimage.feature import Cascade

        self._cascade = Cascade(skdata.lbp_frontal_face_cascade_filename())
        self.work_width = work_width
        self.min_face_px = min_face_px
        self.min_neighbours = min_neighbours

    def detect(self, image: np.ndarray) -> list[Detection]:
        if image.ndim == 3:
            grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        else:
            grey = image
        h, w = grey.shape[:2]
        scale = min(1.0, self.work_width / w)
        if scale < 1.0:
            grey = cv2.resize(grey, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        gh, gw = grey.shape[:2]
        found = self._cascade.detect_multi_scale(
            img=grey.astype(np.float32) / 255.0,
            scale_factor=1.2,
            step_ratio=1,
            min_size=(self.min_face_px, self.min_face_px),
            max_size=(min(gh, gw), min(gh, gw)),
            min_neighbor_number=self.min_neighbours,
        )
        return [
            Detection(round(d["c"] / scale), round(d["r"] / scale),
                      round(d["width"] / scale), round(d["height"] / scale))
            for d in found
        ]

    def count(self, image: np.ndarray) -> int:
        return len(self.detect(image))


@dataclass(frozen=True, slots=True)
class FrameAnalysis:
    wall_ts: float
    thumbnail_jpeg: bytes
    headcount: int | None  # None when counting is off or failed
    frame_seq: int


class FrameAnalyzer:
    """Every `interval_s`, thumbnail (and count people in) the newest frame.

    `latest` is a callable so the analyzer does not care which source it
    watches; results go to `on_result` (the agent core sends them up).
    """

    def __init__(
        self,
        latest: Callable[[], CapturedFrame | None],
        on_result: Callable[[FrameAnalysis], Awaitable[None] | None],
        *,
        interval_s: float = 5.0,
        headcount_every: int = 1,
        thumb_size: tuple[int, int] = (320, 180),
        quality: int = 70,
        counter: HeadCounter | None = None,
        count_people: bool = True,
    ) -> None:
        self._latest = latest
        self._on_result = on_result
        self.interval_s = interval_s
        self.headcount_every = max(1, headcount_every)
        self.thumb_size = thumb_size
        self.quality = quality
        self._counter = counter
        self._count_people = count_people
        self._task: asyncio.Task[None] | None = None
        self._last_seq = -1
        self.last: FrameAnalysis | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="frame-analyzer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def analyze_once(self, frame: CapturedFrame, with_count: bool = True) -> FrameAnalysis:
        return await asyncio.to_thread(self._analyze, frame, with_count)

    def _analyze(self, frame: CapturedFrame, with_count: bool) -> FrameAnalysis:
        thumb = make_thumbnail(frame.image, *self.thumb_size, quality=self.quality)
        count: int | None = None
        if with_count and self._count_people:
            try:
                if self._counter is None:
                    self._counter = HeadCounter()
                count = self._counter.count(frame.image)
            except Exception:
                log.exception("headcount failed")
        return FrameAnalysis(wall_ts=time.time(), thumbnail_jpeg=thumb, headcount=count, frame_seq=frame.seq)

    async def _run(self) -> None:
        rounds = 0
        while True:
            frame = self._latest()
            if frame is not None and frame.seq != self._last_seq:
                self._last_seq = frame.seq
                result = await self.analyze_once(frame, rounds % self.headcount_every == 0)
                rounds += 1
                self.last = result
                try:
                    maybe = self._on_result(result)
                    if asyncio.iscoroutine(maybe):
                        await asyncio.wait_for(maybe, self.interval_s)
                except Exception:
                    log.exception("thumbnail consumer failed")
            await asyncio.sleep(self.interval_s)
