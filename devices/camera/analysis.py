"""Thumbnails and a headcount from raw frames, made off the event loop every few seconds.

Headcount: only detectors that ship inside the opencv-python wheel (4.x
ships `cv2.data.haarcascades` and the Dalal-Triggs HOG people detector; the
5.0 wheel ships neither, hence the `<5` pin). People at a branch meeting sit
facing the camera at the front, so faces do most of the work: OpenCV's
frontal-face cascade (alt2, fewer false hits on round objects than
`default`) and the profile-face cascade run both ways (it only knows faces
looking one way). The HOG people detector adds people standing whose face
the cascades missed (only confident ones: SVM score >= 1.5; our test card's
bars reach ~1.1). Detections of one person are merged: boxes that
overlap, or a body box that holds a face's centre, count once.
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


def _overlaps(a: Detection, b: Detection, min_iou: float = 0.3) -> bool:
    x1, y1 = max(a.x, b.x), max(a.y, b.y)
    x2, y2 = min(a.x + a.width, b.x + b.width), min(a.y + a.height, b.y + b.height)
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    union = a.width * a.height + b.width * b.height - inter
    return union > 0 and inter / union >= min_iou


def _holds_centre(body: Detection, face: Detection) -> bool:
    cx, cy = face.x + face.width / 2, face.y + face.height / 2
    return body.x <= cx <= body.x + body.width and body.y <= cy <= body.y + body.height


class HeadCounter:
    """Counts people on a downscaled copy of the frame (faces first, then bodies)."""

    def __init__(self, *, work_width: int = 480, min_face_px: int = 20, min_neighbours: int = 4,
                 profile_neighbours: int = 6, body_min_score: float = 1.5) -> None:
        root = cv2.data.haarcascades  # type: ignore[attr-defined]
        self._frontal = cv2.CascadeClassifier(root + "haarcascade_frontalface_alt2.xml")
        self._profile = cv2.CascadeClassifier(root + "haarcascade_profileface.xml")
        if self._frontal.empty() or self._profile.empty():
            raise RuntimeError(f"OpenCV's face cascades are missing from {root}; "
                               "install opencv-python-headless 4.x (5.0 ships none)")
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())  # type: ignore[attr-defined]
        self.work_width = work_width
        self.min_face_px = min_face_px
        self.min_neighbours = min_neighbours
        self.profile_neighbours = profile_neighbours
        self.body_min_score = body_min_score

    def _faces(self, grey: np.ndarray) -> list[Detection]:
        size = (self.min_face_px, self.min_face_px)
        found = [Detection(*map(int, box)) for box in self._frontal.detectMultiScale(
            grey, scaleFactor=1.1, minNeighbors=self.min_neighbours, minSize=size)]
        width = grey.shape[1]
        for flipped in (False, True):
            image = cv2.flip(grey, 1) if flipped else grey
            for x, y, w, h in self._profile.detectMultiScale(
                    image, scaleFactor=1.1, minNeighbors=self.profile_neighbours, minSize=size):
                box = Detection(int(width - x - w) if flipped else int(x), int(y), int(w), int(h))
                if not any(_overlaps(box, other) for other in found):
                    found.append(box)
        return found

    def _bodies(self, image: np.ndarray) -> list[Detection]:
        if image.shape[0] < 128 or image.shape[1] < 64:
            return []
        boxes, scores = self._hog.detectMultiScale(image, winStride=(8, 8), padding=(8, 8), scale=1.05)
        return [Detection(*map(int, box)) for box, score in zip(boxes, np.ravel(scores), strict=False)
                if float(score) >= self.body_min_score]

    def detect(self, image: np.ndarray) -> list[Detection]:
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        h, w = image.shape[:2]
        scale = min(1.0, self.work_width / w)
        if scale < 1.0:
            image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        people = self._faces(grey)
        for body in self._bodies(image):
            if not any(_holds_centre(body, face) or _overlaps(body, face) for face in people):
                people.append(body)
        return [Detection(round(d.x / scale), round(d.y / scale), round(d.width / scale),
                          round(d.height / scale)) for d in people]

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
        headcount_interval_s: float = 0.0,
        thumb_size: tuple[int, int] = (320, 180),
        quality: int = 70,
        counter: HeadCounter | None = None,
        count_people: bool = True,
    ) -> None:
        self._latest = latest
        self._on_result = on_result
        self.interval_s = interval_s
        self.headcount_every = max(1, headcount_every)
        # counting people costs 0.2-0.5 s of CPU a picture (the face cascades); the count
        # feeds a coarse alarm, so it may run less often than the thumbnails
        self.headcount_interval_s = headcount_interval_s
        self.thumb_size = thumb_size
        self.quality = quality
        self._counter = counter
        self._count_people = count_people
        self._task: asyncio.Task[None] | None = None
        self._last_seq = -1
        self.last: FrameAnalysis | None = None
        self.last_headcount: int | None = None  # the latest count made (not every picture is counted)

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
        counted_at = float("-inf")
        while True:
            frame = self._latest()
            if frame is not None and frame.seq != self._last_seq:
                self._last_seq = frame.seq
                now = time.monotonic()
                count = (rounds % self.headcount_every == 0
                         and now - counted_at >= self.headcount_interval_s)
                if count:
                    counted_at = now
                result = await self.analyze_once(frame, count)
                rounds += 1
                self.last = result
                if result.headcount is not None:
                    self.last_headcount = result.headcount
                try:
                    maybe = self._on_result(result)
                    if asyncio.iscoroutine(maybe):
                        await asyncio.wait_for(maybe, self.interval_s)
                except Exception:
                    log.exception("thumbnail consumer failed")
            await asyncio.sleep(self.interval_s)
