"""An emulated IP camera: MJPEG over HTTP and H.264 over RTSP, with the clock overlay.

Optionally the camera has a microphone (RTSP track2: a tone as G.711 A-law
or AAC). Its HTTP control shows a still picture instead of the pattern
(`PUT /control/picture` with a JPEG body; `DELETE` goes back to the
pattern), e.g. a room with people or an empty one for the headcount, and
`PUT /control/audio?on=0|1` silences or restores the microphone.

One capture thread draws the pattern at the configured rate and, only
while someone watches, JPEG-encodes it (MJPEG clients) and H.264-encodes
it with libx264 (RTSP clients). The asyncio side serves the bytes.
`stop()` then `start()` on the same ports emulates a camera that reboots.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from dataclasses import dataclass
from fractions import Fraction

import av
import cv2
import numpy as np

from devices.camera.pattern import render_pattern

from .rtp_audio import AudioEncoder, sdp_lines
from .rtp_h264 import profile_level_id, split_annexb, sprop_parameter_sets
from .rtsp import AccessUnit, RtspServer

log = logging.getLogger(__name__)
BOUNDARY = "branchliveframe"


@dataclass
class EmulatorSettings:
    host: str = "127.0.0.1"
    http_port: int = 8081
    rtsp_port: int = 8554
    width: int = 640
    height: int = 360
    fps: float = 15.0
    gop_s: float = 1.0
    bitrate: int = 800_000
    jpeg_quality: int = 80
    label: str = "camera-emulator"
    audio: str | None = None  # None, "pcma" (G.711 A-law) or "aac"
    tone_hz: float = 440.0


class _H264:
    def __init__(self, s: EmulatorSettings) -> None:
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height, ctx.pix_fmt = s.width, s.height, "yuv420p"
        ctx.time_base = Fraction(1, 90000)
        ctx.framerate = Fraction(s.fps).limit_denominator(1001)
        ctx.bit_rate = s.bitrate
        ctx.gop_size = max(1, int(s.fps * s.gop_s))
        ctx.max_b_frames = 0
        ctx.thread_count = 1
        ctx.profile = "Baseline"
        ctx.options = {"preset": "ultrafast", "tune": "zerolatency",
                       "x264-params": f"repeat-headers=1:sliced-threads=0:keyint={ctx.gop_size}:scenecut=0"}
        ctx.open()
        self.ctx = ctx

    def encode(self, image, pts: int) -> list[AccessUnit]:  # type: ignore[no-untyped-def]
        frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
        frame.pts = pts
        frame.time_base = Fraction(1, 90000)
        return [AccessUnit(bytes(p), pts, p.is_keyframe) for p in self.ctx.encode(frame)]


class CameraEmulator:
    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        self.settings = settings or EmulatorSettings()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._http: asyncio.Server | None = None
        self._http_tasks: set[asyncio.Task[None]] = set()
        self._rtsp: RtspServer | None = None
        self._jpeg: bytes | None = None
        self._jpeg_event = asyncio.Event()
        self._mjpeg_clients = 0
        self._header_nals: list[bytes] = []
        self._keyframe_wanted = threading.Event()
        self.picture: np.ndarray | None = None  # shown instead of the pattern (control)
        # Counts picture changes; a snapshot asked for after a change waits for a frame made after it.
        self._picture_generation = 0
        self._jpeg_generation = 0
        self.audio_on = True
        self._audio_config = b""
        if self.settings.audio:
            self._audio_config = AudioEncoder(self.settings.audio).config
        self.frames = 0
        self.http_port = 0
        self.rtsp_port = 0

    @property
    def mjpeg_url(self) -> str:
        return f"http://{self.settings.host}:{self.http_port}/video.mjpg"

    @property
    def snapshot_url(self) -> str:
        return f"http://{self.settings.host}:{self.http_port}/snapshot.jpg"

    @property
    def rtsp_url(self) -> str:
        return f"rtsp://{self.settings.host}:{self.rtsp_port}/stream"

    async def start(self) -> None:
        s = self.settings
        self._loop = asyncio.get_running_loop()
        self._jpeg_event = asyncio.Event()
        # SPS/PPS for the SDP come from one throw-away keyframe
        probe = _H264(s)
        units = probe.encode(render_pattern(s.width, s.height, time.time(), 0), 0)
        self._header_nals = [n for u in units for n in split_annexb(u.data)]
        self._http = await asyncio.start_server(self._serve_http, s.host, s.http_port)
        self.http_port = self._http.sockets[0].getsockname()[1]
        self._rtsp = RtspServer(self._sdp, on_client=self._keyframe_wanted.set)
        await self._rtsp.start(s.host, s.rtsp_port)
        self.rtsp_port = self._rtsp.port
        self._stop.clear()
        self._thread = threading.Thread(target=self._produce, name="camera-emulator", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)
            self._thread = None
        if self._rtsp is not None:
            await self._rtsp.stop()
            self._rtsp = None
        if self._http is not None:
            self._http.close()
            for task in list(self._http_tasks):
                task.cancel()
            if self._http_tasks:  # bounded: a swallowed cancellation must not hang the camera
                await asyncio.wait(set(self._http_tasks), timeout=5.0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._http.wait_closed(), 2.0)
            self._http = None

    # ---- capture thread ---------------------------------------------------
    def _produce(self) -> None:
        s = self.settings
        period = 1.0 / s.fps
        encoder: _H264 | None = None
        audio: AudioEncoder | None = None
        start = time.monotonic()
        next_due = start
        seq = 0
        while not self._stop.is_set():
            delay = next_due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_due += period
            seq += 1
            generation = self._picture_generation
            image = self._picture(seq)
            self.frames = seq
            if self._mjpeg_clients:
                ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, s.jpeg_quality])
                if ok:
                    self._to_loop(self._set_jpeg, (generation, jpeg.tobytes()))
            rtsp = self._rtsp
            if rtsp is not None and rtsp.client_count:
                if encoder is None:
                    encoder = _H264(s)
                pts = int((time.monotonic() - start) * 90000)
                if self._keyframe_wanted.is_set():
                    self._keyframe_wanted.clear()
                    image_frame_key = True
                else:
                    image_frame_key = False
                units = self._encode(encoder, image, pts, image_frame_key)
                for unit in units:
                    self._to_loop(rtsp.broadcast, unit)
                if s.audio:
                    if audio is None:
                        audio = AudioEncoder(s.audio, frequency=s.tone_hz)
                    audio.enabled = self.audio_on
                    send = functools.partial(rtsp.broadcast_audio, payload_type=audio.payload_type)
                    for au in audio.encode_until(time.monotonic() - start):
                        self._to_loop(send, au)
            else:
                encoder = None
                audio = None

    def _picture(self, seq: int) -> np.ndarray:
        s = self.settings
        still = self.picture
        if still is None:
            return render_pattern(s.width, s.height, time.time(), seq, s.label)
        image = still.copy()
        cv2.putText(image, time.strftime("%H:%M:%S"), (10, s.height - 12), cv2.FONT_HERSHEY_SIMPLEX,
                    0.6, (255, 255, 255), 1, cv2.LINE_AA)
        return image

    def show_picture(self, jpeg: bytes | None) -> None:
        """Show this JPEG (scaled to the camera's size) instead of the pattern; None: the pattern."""
        if jpeg is None:
            self.picture = None
            self._picture_generation += 1
            return
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError("the picture is not a JPEG")
        self.picture = cv2.resize(image, (self.settings.width, self.settings.height),
                                  interpolation=cv2.INTER_AREA)
        self._picture_generation += 1
        self._keyframe_wanted.set()

    @staticmethod
    def _encode(encoder: _H264, image, pts: int, key: bool) -> list[AccessUnit]:  # type: ignore[no-untyped-def]
        frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
        frame.pts, frame.time_base = pts, Fraction(1, 90000)
        frame.pict_type = av.video.frame.PictureType.I if key else av.video.frame.PictureType.NONE
        return [AccessUnit(bytes(p), pts, p.is_keyframe) for p in encoder.ctx.encode(frame)]

    def _to_loop(self, func, arg) -> None:  # type: ignore[no-untyped-def]
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(func, arg)

    def _set_jpeg(self, made: tuple[int, bytes]) -> None:
        self._jpeg_generation, self._jpeg = made
        self._jpeg_event.set()
        self._jpeg_event = asyncio.Event()

    # ---- RTSP -------------------------------------------------------------
    def _sdp(self, base: str) -> str:
        s = self.settings
        fmtp = "packetization-mode=1"
        pli = profile_level_id(self._header_nals)
        if pli:
            fmtp += f";profile-level-id={pli}"
        sprop = sprop_parameter_sets(self._header_nals)
        if sprop:
            fmtp += f";sprop-parameter-sets={sprop}"
        return "\r\n".join([
            "v=0", f"o=- 0 0 IN IP4 {s.host}", "s=branchlive camera emulator",
            f"c=IN IP4 {s.host}", "t=0 0", "a=control:*", "a=range:npt=0-",
            "m=video 0 RTP/AVP 96", "a=rtpmap:96 H264/90000", f"a=fmtp:96 {fmtp}",
            f"a=framerate:{s.fps:g}", "a=control:track1",
            *(sdp_lines(s.audio, 8000 if s.audio == "pcma" else 48000, self._audio_config)
              if s.audio else []), "",
        ])

    # ---- HTTP (MJPEG) -----------------------------------------------------
    async def _serve_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._http_tasks.add(task)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
            parts = head.split(b"\r\n", 1)[0].split(b" ")
            path = parts[1].decode("latin-1").split("?")[0] if len(parts) >= 2 else ""
            method = parts[0].decode("latin-1") if parts else ""
            if path.startswith("/control/"):
                await self._control(method, path, head, reader, writer)
            elif path in ("/video.mjpg", "/mjpeg"):
                await self._stream_mjpeg(writer)
            elif path == "/snapshot.jpg":
                jpeg = await self._next_jpeg()
                writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: image/jpeg\r\n"
                             + f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg)
                await writer.drain()
            else:
                writer.write(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            self._http_tasks.discard(task)

    async def _control(self, method: str, path: str, head: bytes, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        length = 0
        for line in head.decode("latin-1").split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-length":
                length = int(value.strip() or 0)
        body = await asyncio.wait_for(reader.readexactly(length), 10.0) if length else b""
        status = "204 No Content"
        try:
            if path == "/control/picture" and method == "PUT":
                self.show_picture(body)
            elif path == "/control/picture" and method == "DELETE":
                self.show_picture(None)
            elif path == "/control/audio" and method == "PUT":
                self.audio_on = b"0" not in body[:1]
            else:
                status = "404 Not Found"
        except ValueError:
            status = "400 Bad Request"
        writer.write(f"HTTP/1.0 {status}\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()

    async def _next_jpeg(self) -> bytes:
        wanted = self._picture_generation
        self._mjpeg_clients += 1
        try:
            async with asyncio.timeout(5.0):
                await self._jpeg_event.wait()
                while self._jpeg_generation < wanted:  # a frame made before the last picture change
                    await self._jpeg_event.wait()
            assert self._jpeg is not None
            return self._jpeg
        finally:
            self._mjpeg_clients -= 1

    async def _stream_mjpeg(self, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.0 200 OK\r\nCache-Control: no-cache\r\n"
                     + f"Content-Type: multipart/x-mixed-replace; boundary={BOUNDARY}\r\n\r\n".encode())
        self._mjpeg_clients += 1
        try:
            while True:
                await asyncio.wait_for(self._jpeg_event.wait(), 5.0)
                jpeg = self._jpeg
                assert jpeg is not None
                writer.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                             .encode() + jpeg + b"\r\n")
                async with asyncio.timeout(5.0):  # not wait_for: see rtsp.py's pump
                    await writer.drain()
        finally:
            self._mjpeg_clients -= 1
