"""Blocking capture backends. Each runs only inside a capture thread (see source.py).

A backend opens, reads one item at a time and closes. `read()` returns None
when the stream ended or the device went away; it raises CaptureError for
faults worth a message. Backends that read a file or draw a pattern pace
themselves to real time, so every consumer sees a live-like stream.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from typing import Any, Generic, Protocol, TypeVar

import av
import cv2
import httpx
import numpy as np

from .errors import CaptureError
from .frames import CapturedFrame
from .mjpeg import MjpegParser, boundary_from_content_type
from .pattern import render_pattern

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class CaptureBackend(Protocol[T_co]):
    description: str

    def open(self) -> None: ...

    def read(self) -> T_co | None: ...

    def close(self) -> None: ...


class _Pacer:
    """Sleeps so that successive read() calls return at most `fps` times a second."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps if fps > 0 else 0.0
        self._next = 0.0

    def reset(self) -> None:
        self._next = 0.0

    def wait(self) -> None:
        if not self.period:
            return
        now = time.monotonic()
        if self._next == 0.0 or now - self._next > 1.0:
            self._next = now  # first frame, or we fell far behind: do not burst
        delay = self._next - now
        if delay > 0:
            time.sleep(delay)
        self._next += self.period


class _FrameCounter:
    def __init__(self) -> None:
        self.seq = 0

    def make(self, image: np.ndarray) -> CapturedFrame:
        self.seq += 1
        return CapturedFrame(image=image, wall_ts=time.time(), mono_ts=time.monotonic(), seq=self.seq)


class PatternBackend:
    """The synthetic test pattern (clock + moving bars)."""

    def __init__(self, width: int = 640, height: int = 360, fps: float = 15.0, label: str = "pattern") -> None:
        self.width, self.height, self.label = width, height, label
        self.description = f"pattern {width}x{height}@{fps:g}"
        self._pacer = _Pacer(fps)
        self._counter = _FrameCounter()
        self.black = False  # tests flip this to simulate a covered lens

    def open(self) -> None:
        self._pacer.reset()

    def read(self) -> CapturedFrame | None:
        self._pacer.wait()
        seq = self._counter.seq + 1
        if self.black:
            image = np.zeros((self.height, self.width, 3), dtype=np.uint8)
        else:
            image = render_pattern(self.width, self.height, time.time(), seq, self.label)
        return self._counter.make(image)

    def close(self) -> None:
        pass


class OpenCvBackend:
    """A USB (UVC) camera by index or /dev/videoN, through cv2.VideoCapture."""

    def __init__(self, device: int | str, width: int = 1280, height: int = 720, fps: float = 15.0,
                 timeout_s: float = 5.0) -> None:
        self.device, self.width, self.height, self.fps = device, width, height, fps
        self.timeout_ms = int(timeout_s * 1000)
        self.description = f"camera {device}"
        self._cap: cv2.VideoCapture | None = None
        self._counter = _FrameCounter()

    def open(self) -> None:
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, self.timeout_ms,
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, self.timeout_ms]
        cap = cv2.VideoCapture(self.device, cv2.CAP_ANY, params)
        if not cap.isOpened():
            cap.release()
            raise CaptureError(f"cannot open camera {self.device!r}: check that it is plugged in "
                               "and not used by another program")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        cap.set(cv2.CAP_PROP_FPS, self.fps)
        self._cap = cap

    def read(self) -> CapturedFrame | None:
        if self._cap is None:
            return None
        ok, image = self._cap.read()
        if not ok or image is None:
            return None
        return self._counter.make(image)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class MjpegHttpBackend:
    """An IP camera's MJPEG over HTTP (multipart/x-mixed-replace), decoded with cv2.imdecode."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url, self.timeout_s = url, timeout_s
        self.description = f"mjpeg {url}"
        self._client: httpx.Client | None = None
        self._response: httpx.Response | None = None
        self._chunks: Iterator[bytes] | None = None
        self._parser: MjpegParser | None = None
        self._pending: list[bytes] = []
        self._counter = _FrameCounter()

    def open(self) -> None:
        self._client = httpx.Client(timeout=httpx.Timeout(self.timeout_s))
        try:
            request = self._client.build_request("GET", self.url)
            response = self._client.send(request, stream=True)
            if response.status_code != 200:
                raise CaptureError(f"MJPEG camera {self.url} answered HTTP {response.status_code}; "
                                   "check the URL and credentials")
            boundary = boundary_from_content_type(response.headers.get("content-type", ""))
        except (httpx.HTTPError, ValueError) as exc:
            self.close()
            raise CaptureError(f"cannot open MJPEG camera {self.url}: {exc}") from exc
        self._response = response
        self._parser = MjpegParser(boundary)
        # no chunk size: httpx would hold bytes back until a whole chunk is in
        self._chunks = response.iter_raw()

    def read(self) -> CapturedFrame | None:
        assert self._parser is not None and self._chunks is not None
        while not self._pending:
            try:
                data = next(self._chunks)
            except (StopIteration, httpx.HTTPError):
                return None
            try:
                self._pending.extend(self._parser.feed(data))
            except ValueError as exc:
                raise CaptureError(f"MJPEG stream from {self.url} is malformed: {exc}") from exc
            # only the newest picture matters for a live view
            if len(self._pending) > 1:
                del self._pending[:-1]
        jpeg = self._pending.pop(0)
        image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise CaptureError(f"MJPEG camera {self.url} sent a part that is not a JPEG")
        return self._counter.make(image)

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
        if self._client is not None:
            self._client.close()
        self._response = self._client = None
        self._chunks = None
        self._pending.clear()


def _av_options(url: str, timeout_s: float) -> dict[str, str]:
    if url.startswith("rtsp://"):
        # TCP interleaved: survives NAT and firewalls between hall LAN segments,
        # and is what our emulator serves.
        return {"rtsp_transport": "tcp", "timeout": str(int(timeout_s * 1_000_000))}
    if "://" in url:
        return {"timeout": str(int(timeout_s * 1_000_000))}
    return {}


class _AvContainer(Generic[T]):
    """Shared PyAV open/close for decoded and pass-through readers."""

    def __init__(self, url: str, *, loop: bool, timeout_s: float) -> None:
        self.url, self.loop, self.timeout_s = url, loop, timeout_s
        self.is_file = "://" not in url
        self._container: av.container.InputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._lock = threading.Lock()

    def _open_container(self) -> None:
        try:
            container = av.open(self.url, options=_av_options(self.url, self.timeout_s),
                                timeout=self.timeout_s)
        except (av.error.FFmpegError, OSError) as exc:
            raise CaptureError(f"cannot open {self.url}: {exc}") from exc
        if not container.streams.video:
            container.close()
            raise CaptureError(f"{self.url} has no video stream")
        self._container = container
        self._stream = container.streams.video[0]

    def close(self) -> None:
        with self._lock:
            if self._container is not None:
                self._container.close()
            self._container = None
            self._stream = None


class PyAvBackend(_AvContainer[CapturedFrame]):
    """RTSP or a video file, decoded with PyAV to BGR frames (file: paced, looped)."""

    def __init__(self, url: str, *, loop: bool = True, timeout_s: float = 5.0) -> None:
        super().__init__(url, loop=loop, timeout_s=timeout_s)
        self.description = f"{'file' if self.is_file else 'stream'} {url}"
        self._frames: Iterator[Any] | None = None
        self._pacer = _Pacer(0)
        self._counter = _FrameCounter()

    def open(self) -> None:
        self._open_container()
        assert self._container is not None and self._stream is not None
        self._stream.thread_type = "AUTO"
        rate = self._stream.average_rate or self._stream.guessed_rate or Fraction(15)
        self._pacer = _Pacer(float(rate) if self.is_file else 0)
        self._frames = self._container.decode(self._stream)

    def read(self) -> CapturedFrame | None:
        while True:
            try:
                frame = next(self._frames) if self._frames is not None else None
            except StopIteration:
                frame = None
            except av.error.FFmpegError as exc:
                raise CaptureError(f"reading {self.url} failed: {exc}") from exc
            if frame is None:
                if self.is_file and self.loop and self._container is not None:
                    self._container.seek(0)
                    assert self._stream is not None
                    self._frames = self._container.decode(self._stream)
                    continue
                return None
            self._pacer.wait()
            return self._counter.make(frame.to_ndarray(format="bgr24"))


class EncodedPacketBackend(_AvContainer[av.Packet]):
    """Demuxed, still-encoded H.264 packets from an IP camera's RTSP (pass-through).

    Nothing here decodes: packets are handed to the WebRTC sender as they
    are. The SPS/PPS of the stream's extradata are put in front of every
    keyframe that lacks them, so a viewer joining at any keyframe can decode.
    """

    def __init__(self, url: str, *, loop: bool = True, timeout_s: float = 5.0) -> None:
        super().__init__(url, loop=loop, timeout_s=timeout_s)
        self.description = f"passthrough {url}"
        self._packets: Iterator[Any] | None = None
        self.codec_name = ""
        self.extradata = b""
        self.time_base = Fraction(1, 90000)

    def open(self) -> None:
        self._open_container()
        assert self._container is not None and self._stream is not None
        self.codec_name = self._stream.codec_context.name
        if self.codec_name not in ("h264", "vp8"):
            self.close()
            raise CaptureError(f"{self.url} carries {self.codec_name}, pass-through needs H.264 "
                               "(set the camera's video codec to H.264)")
        self.extradata = bytes(self._stream.codec_context.extradata or b"")
        self.time_base = self._stream.time_base or Fraction(1, 90000)
        self._packets = self._container.demux(self._stream)

    def read(self) -> av.Packet | None:
        while True:
            try:
                packet = next(self._packets) if self._packets is not None else None
            except StopIteration:
                packet = None
            except av.error.FFmpegError as exc:
                raise CaptureError(f"reading {self.url} failed: {exc}") from exc
            if packet is None:
                return None
            if packet.size == 0 or packet.pts is None:
                continue  # flush markers carry no picture
            if packet.is_keyframe and self.codec_name == "h264" and self.extradata:
                packet = _with_parameter_sets(packet, self.extradata)
            return packet


def _with_parameter_sets(packet: av.Packet, extradata: bytes) -> av.Packet:
    data = bytes(packet)
    # NAL type 7 = SPS; Annex-B extradata starts with a start code
    if not extradata.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")) or _has_sps(data):
        return packet
    merged = av.Packet(extradata + data)
    merged.pts, merged.dts, merged.time_base = packet.pts, packet.dts, packet.time_base
    merged.is_keyframe = True
    return merged


def _has_sps(data: bytes) -> bool:
    index = data.find(b"\x00\x00\x01")
    while index >= 0 and index + 3 < len(data):
        if data[index + 3] & 0x1F == 7:
            return True
        index = data.find(b"\x00\x00\x01", index + 3)
    return False


def backend_for(spec: str, *, width: int = 640, height: int = 360, fps: float = 15.0,
                timeout_s: float = 5.0) -> CaptureBackend[CapturedFrame]:
    """Pick a decoded-frame backend from a source string.

    "pattern" | "0" / "/dev/video0" | "http(s)://..." (MJPEG) | "rtsp://..." | a file path.
    """
    if spec == "pattern":
        return PatternBackend(width, height, fps)
    if spec.isdigit():
        return OpenCvBackend(int(spec), width, height, fps, timeout_s)
    if spec.startswith("/dev/video"):
        return OpenCvBackend(spec, width, height, fps, timeout_s)
    if spec.startswith(("http://", "https://")):
        return MjpegHttpBackend(spec, timeout_s)
    return PyAvBackend(spec, timeout_s=timeout_s)
