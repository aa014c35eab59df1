"""Local recording of a meeting on the hall PC, for the hub's archive to have no hole.

Choice: record locally *always* while a meeting is open, and keep every
segment until the hub has confirmed it holds that time range. Recording
always is the simplest safe rule: no recorder has to start at the very
moment the link fails (the publisher only notices a dead link after its
media timeout, and the hub loses its open segment when it dies), and it
costs one stream copy of frames that are encoded anyway.

Whether the hub has a moment is the hub's word, not a guess from RTCP
receiver reports (those arrive while the hub writes undecodable frames, or
none at all on a full disk): every finished segment is *held*, and the
backfill (devices/agent/backfill.py) asks the hub which time ranges of the
meeting it stored and verified (docs/protocols/segment-upload.md,
"Coverage"). A held segment inside them is deleted; one the hub lacks
becomes *pending* and is uploaded, and deleted only on the hub's 201/200.

Segments follow docs/protocols/segment-upload.md: fMP4 for H.264, WebM for
VP8, each starting at a keyframe chosen by the content-defined rule the hub
applies too (`cut_here`: the same moments in the same segments), at most
`max_s` (10 s) long, timestamps from 0, a UUID each, the wall clock of the
first frame as its label (monotonic time for every interval). Every segment
has an Opus audio track (silence here; the hub's live segments carry the
hall's sound), the same track layout as the hub's, so a player and an export
can mix both. The disk budget covers every segment kept here; when it is
full of unconfirmed segments the recorder stops (DISK_FULL, reported) and
resumes when uploads free room. Muxing, hashing and file work run in one
writer thread.

State machine (`SegmentRecorder.state`):

    IDLE --start--> WAITING_KEYFRAME --keyframe--> RECORDING --cut--> WAITING_KEYFRAME ...
                          ^   |                        | budget/disk full, write error
                          |   +------------------------+--> DISK_FULL / FAILED --room again--+
                          +---------------------------------------------------------------+
    any --stop--> STOPPED
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import hashlib
import json
import logging
import os
import shutil
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from .feed import EncodedFrame, VideoFeed

log = logging.getLogger(__name__)

VIDEO_TB = Fraction(1, 90_000)
AUDIO_TB = Fraction(1, 48_000)
OPUS_SILENCE = b"\xfc\xff\xfe"  # one 20 ms Opus frame of stereo silence (RFC 6716 3.1)
OPUS_SILENCE_120MS = b"\xff\x06" + b"\xff\xfe" * 6  # six of them in one code-3 packet (3.2.5)


def opus_head(channels: int = 2, pre_skip: int = 312, rate: int = 48_000) -> bytes:
    """The OpusHead header (RFC 7845 5.1) the MP4/WebM muxers want as extradata."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, rate, 0, 0)
CONTAINERS = {"h264": ("mp4", "video/mp4"), "vp8": ("webm", "video/webm")}
PART = ".part"


def rfc3339(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def annexb_parameter_sets(data: bytes) -> bytes:
    """SPS and PPS NAL units of an Annex-B access unit, with start codes (empty if none)."""
    out = []
    for nal in _split_annexb(data):
        if nal and nal[0] & 0x1F in (7, 8):
            out.append(b"\x00\x00\x00\x01" + nal)
    return b"".join(out)


# Shortest segment a content-defined cut makes: short, so that a recorder whose
# segment started off the common cut points (after a hole, a restart, a full
# disk) falls into step at the very next even keyframe, as the other side cuts
# there too; not zero, so that a burst of requested keyframes makes no
# one-frame segments.
MIN_CUT_S = 0.5


def cut_here(codec: str, keyframe: bytes, elapsed: float, target: float) -> bool:
    """Whether a segment ends before this keyframe, `elapsed` seconds after the
    segment's first frame. The hub's recorder (hub/media/recorder.py) applies
    the same content-defined rule to the same stream, so both cut on the same
    keyframes and hold the same moments in the same segments
    (docs/protocols/segment-upload.md, "Segment boundaries"): never before
    0.5 s, always from target + 3 s, in between at every keyframe whose first
    slice's CRC-32 is even."""
    if elapsed < MIN_CUT_S:
        return False
    if elapsed >= target + 3.0:
        return True
    payload = keyframe
    if codec == "h264":
        payload = next((nal for nal in _split_annexb(keyframe) if nal and nal[0] & 0x1F == 5), payload)
    return zlib.crc32(payload) & 1 == 0


def _split_annexb(data: bytes) -> list[bytes]:
    nals, i, start = [], 0, -1
    n = len(data)
    while i + 3 <= n:
        if data[i] == 0 and data[i + 1] == 0 and data[i + 2] == 1:
            if start >= 0:
                nals.append(data[start:i].rstrip(b"\x00"))
            i += 3
            start = i
        else:
            i += 1
    if start >= 0:
        nals.append(data[start:])
    return nals


# ---- the local index: one JSON sidecar per segment file -------------------------------
@dataclass(frozen=True)
class LocalSegment:
    id: str
    meeting_id: str
    started_at: str  # RFC 3339, wall clock of the first frame
    duration: float
    size: int
    sha256: str
    container: str
    content_type: str
    file: str
    state: str = "held"  # held | pending | rejected
    error: str = ""


class SegmentStore:
    """Segment files and their sidecars under one directory. Blocking: call from threads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._index: dict[str, LocalSegment] = {}
        self._lock = threading.RLock()  # the recorder's writer thread and the uploader share it

    def open(self) -> None:
        """Load the index; drop half-written files. Held segments stay held: the
        backfill asks the hub about them like about any other."""
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            for path in self.root.iterdir():
                if path.name.endswith(PART) or path.name.endswith(".tmp"):
                    path.unlink(missing_ok=True)
            for path in sorted(self.root.glob("*.json")):
                try:
                    seg = LocalSegment(**json.loads(path.read_text()))
                except (ValueError, TypeError) as exc:
                    log.warning("ignoring unreadable segment index %s: %s", path.name, exc)
                    continue
                if not (self.root / seg.file).exists():
                    path.unlink(missing_ok=True)
                    continue
                self._index[seg.id] = seg

    def _write_sidecar(self, seg: LocalSegment) -> None:
        tmp = self.root / f"{seg.id}.json.tmp"
        with open(tmp, "w") as f:
            json.dump(asdict(seg), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.root / f"{seg.id}.json")
        _fsync_dir(self.root)

    def add(self, seg: LocalSegment) -> None:
        with self._lock:
            self._write_sidecar(seg)
            self._index[seg.id] = seg

    def get(self, segment_id: str) -> LocalSegment | None:
        with self._lock:
            return self._index.get(segment_id)

    def mark(self, segment_id: str, state: str, error: str = "") -> LocalSegment:
        with self._lock:
            seg = replace(self._index[segment_id], state=state, error=error)
            self._write_sidecar(seg)
            self._index[segment_id] = seg
            return seg

    def new_id(self, segment_id: str) -> LocalSegment:
        """The hub holds another file under this id (409): same file, a fresh UUID."""
        with self._lock:
            old = self._index.pop(segment_id)
            seg = replace(old, id=str(uuid.uuid4()))
            self._write_sidecar(seg)
            (self.root / f"{segment_id}.json").unlink(missing_ok=True)
            self._index[seg.id] = seg
            return seg

    def delete(self, segment_id: str) -> None:
        with self._lock:
            seg = self._index.pop(segment_id, None)
            if seg is None:
                return
            (self.root / f"{segment_id}.json").unlink(missing_ok=True)
            (self.root / seg.file).unlink(missing_ok=True)
            _fsync_dir(self.root)

    def pending(self) -> list[LocalSegment]:
        return self.in_state("pending")

    def held(self) -> list[LocalSegment]:
        return self.in_state("held")

    def in_state(self, state: str) -> list[LocalSegment]:
        with self._lock:
            return sorted((s for s in self._index.values() if s.state == state),
                          key=lambda s: s.started_at)

    def used_bytes(self) -> int:
        with self._lock:
            return sum(s.size for s in self._index.values())

    def pending_bytes(self) -> int:
        with self._lock:
            return sum(s.size for s in self._index.values() if s.state in ("pending", "held"))

    def counts(self) -> dict[str, int]:
        with self._lock:
            out: dict[str, int] = {}
            for s in self._index.values():
                out[s.state] = out.get(s.state, 0) + 1
            return out

    def path(self, seg: LocalSegment) -> Path:
        return self.root / seg.file


def _keep_extradata(stream: Any, extradata: bytes) -> None:
    """Keep `extradata` (the stream's own SPS/PPS) in the file header of a
    stream copy: PyAV opens an encoder for each stream added by codec name
    when it writes the header, and libx264's own High-profile SPS/PPS would
    replace it; a player then misreads every frame of a segment whose first
    keyframe has no in-band SPS/PPS (an IP camera that sends them once).
    Opened here, the encoder is left alone at the header."""
    ctx = stream.codec_context
    ctx.open()
    ctx.extradata = extradata or None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- one segment file being written (writer thread only) ------------------------------
class _SegmentFile:
    def __init__(self, store: SegmentStore, meeting_id: str, first: EncodedFrame,
                 width: int, height: int) -> None:
        self.id = str(uuid.uuid4())
        self.meeting_id = meeting_id
        self.codec = first.codec
        self.container, self.content_type = CONTAINERS[first.codec]
        self.started_wall = first.wall
        self.first_pts = first.pts
        self.last_pts = first.pts
        self.frames = 0
        self.name = f"{int(first.wall * 1000)}-{self.id}.{self.container}"
        self.tmp = store.root / (self.name + PART)
        self.store = store
        options = {"movflags": "frag_keyframe+empty_moov+default_base_moof"} if self.container == "mp4" else {}
        self._out = av.open(str(self.tmp), "w", format=self.container, options=options)
        stream: Any = self._out.add_stream(self.codec, rate=15)
        stream.width, stream.height = width, height
        stream.time_base = VIDEO_TB
        _keep_extradata(stream, annexb_parameter_sets(first.data) if self.codec == "h264" else b"")
        self._stream = stream
        audio: Any = self._out.add_stream("opus", rate=48_000)
        audio.time_base = AUDIO_TB
        _keep_extradata(audio, opus_head())
        self._audio = audio
        self._audio_end = 0

    def write(self, frame: EncodedFrame) -> None:
        if not frame.data:
            return  # an empty frame is never written (decoders refuse the file)
        pts = frame.pts - self.first_pts
        if self.frames and pts <= self.last_pts - self.first_pts:
            return  # muxers refuse non-increasing timestamps
        self._silence_until(pts * 48 // 90)
        self._mux(self._stream, frame.data, pts, VIDEO_TB, frame.keyframe)
        self.last_pts = frame.pts
        self.frames += 1

    def _mux(self, stream: Any, data: bytes, pts: int, tb: Fraction, key: bool) -> None:
        packet = av.Packet(data)
        packet.stream = stream
        packet.pts = packet.dts = pts
        packet.time_base = tb
        packet.is_keyframe = key
        self._out.mux(packet)

    def _silence_until(self, end: int) -> None:
        while self._audio_end + 5760 <= end:
            self._mux(self._audio, OPUS_SILENCE_120MS, self._audio_end, AUDIO_TB, True)
            self._audio_end += 5760
        while self._audio_end + 960 <= end:
            self._mux(self._audio, OPUS_SILENCE, self._audio_end, AUDIO_TB, True)
            self._audio_end += 960

    @property
    def size(self) -> int:
        with contextlib.suppress(OSError):
            return self.tmp.stat().st_size
        return 0

    def finish(self, frame_step: int) -> LocalSegment:
        self._silence_until((self.last_pts - self.first_pts + frame_step) * 48 // 90)
        self._out.close()
        digest = hashlib.sha256()
        with open(self.tmp, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
            os.fsync(f.fileno())
        final = self.store.root / self.name
        os.replace(self.tmp, final)
        seg = LocalSegment(
            id=self.id, meeting_id=self.meeting_id, started_at=rfc3339(self.started_wall),
            duration=round((self.last_pts - self.first_pts + frame_step) / 90_000, 3),
            size=final.stat().st_size, sha256=digest.hexdigest(), container=self.container,
            content_type=self.content_type, file=self.name)
        self.store.add(seg)
        return seg

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._out.close()
        self.tmp.unlink(missing_ok=True)


# ---- the recorder --------------------------------------------------------------------
class RecorderState(enum.StrEnum):
    IDLE = "idle"
    WAITING_KEYFRAME = "waiting_keyframe"
    RECORDING = "recording"
    DISK_FULL = "disk_full"
    FAILED = "failed"
    STOPPED = "stopped"


class SegmentRecorder:
    def __init__(
        self,
        feed: VideoFeed,
        store: SegmentStore,
        *,
        meeting_id: str,
        width: int,
        height: int,
        budget_bytes: int,
        hub_receiving: Callable[[], bool] | None = None,
        on_pending: Callable[[], None] | None = None,
        target_s: float = 6.0,
        max_s: float = 10.0,
        margin_s: float | None = None,
        min_free_bytes: int = 64 * 1024 * 1024,
        pool: concurrent.futures.ThreadPoolExecutor | None = None,
    ) -> None:
        if not 0 < target_s < max_s <= 10:
            raise ValueError("segments need 0 < target_s < max_s <= 10 seconds")
        self.feed = feed
        self.store = store
        self.meeting_id = meeting_id
        self.width, self.height = width, height
        self.budget_bytes = budget_bytes
        self.min_free_bytes = min_free_bytes
        # hub_receiving and margin_s are accepted for older callers and unused:
        # what the hub holds is asked of the hub (see the module docstring)
        self.target_s, self.max_s = target_s, max_s
        self._on_pending = on_pending
        self._pool = pool or concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="recorder")
        self._own_pool = pool is None
        self._task: asyncio.Task[None] | None = None
        self._sub: Any = None
        self._stopping = False
        self._current: _SegmentFile | None = None
        self._current_start_mono = 0.0
        self._asked_keyframe = False
        self.state = RecorderState.IDLE
        self.since = time.monotonic()
        self.last_error = ""
        self.segments_written = 0
        self.frames_dropped = 0

    def _set(self, state: RecorderState, error: str | None = None) -> None:
        if error is not None:
            self.last_error = error
        if state != self.state:
            log.info("recorder %s -> %s %s", self.state, state, self.last_error)
            self.state, self.since = state, time.monotonic()

    def status(self) -> dict[str, Any]:
        return {"state": str(self.state), "meeting_id": self.meeting_id, "error": self.last_error,
                "segments_written": self.segments_written,
                "frames_dropped": self.frames_dropped}

    async def _blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.run_in_executor(self._pool, fn, *args), 60)

    async def start(self) -> None:
        if self._task is None:
            self._set(RecorderState.WAITING_KEYFRAME)
            self._task = asyncio.create_task(self._run(), name="segment-recorder")

    async def stop(self) -> None:
        task, self._task = self._task, None
        # A flag and a closed subscription, not only a cancel: Python 3.11's
        # wait_for can swallow a cancellation that races a finishing await
        # (15 of them a second here), and the recorder would run on.
        self._stopping = True
        if self._sub is not None:
            self._sub.close()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 30)
        await self._close_segment()
        self._set(RecorderState.STOPPED)
        if self._own_pool:
            self._pool.shutdown(wait=False)

    # ---- main loop -------------------------------------------------------------------
    async def _run(self) -> None:
        sub = self._sub = self.feed.subscribe(maxsize=300)
        self.feed.request_keyframe()
        step = int(90_000 / self.feed.fps)
        try:
            while not self._stopping:
                try:
                    frame = await sub.get(timeout=1.0)
                except TimeoutError:
                    frame = None
                except EOFError:
                    return
                if sub.dropped != self.frames_dropped:  # the disk lagged: restart at a keyframe
                    self.frames_dropped = sub.dropped
                    await self._close_segment()
                if frame is not None:
                    await self._take(frame, step)
        finally:
            sub.close()

    async def _take(self, frame: EncodedFrame, step: int) -> None:
        cur = self._current
        if cur is not None:
            elapsed = (frame.pts - cur.first_pts) / 90_000
            if frame.codec != cur.codec or (
                    frame.keyframe and cut_here(frame.codec, frame.data, elapsed, self.target_s)):
                await self._close_segment()
            elif elapsed + step / 90_000 > self.max_s:
                # no keyframe in time (an RTSP camera's long GOP): close, reopen at the next one
                await self._close_segment()
                self._set(RecorderState.WAITING_KEYFRAME)
                return
            elif elapsed >= self.target_s + 3.0 and not self._asked_keyframe:
                self._asked_keyframe = True
                self.feed.request_keyframe()
        if self._current is None:
            if not frame.keyframe:
                if not self._asked_keyframe:
                    self._asked_keyframe = True
                    self.feed.request_keyframe()
                return
            if not await self._room():
                return
            try:
                self._current = await self._blocking(
                    _SegmentFile, self.store, self.meeting_id, frame, self.width, self.height)
            except (OSError, av.FFmpegError) as exc:
                self._write_failed(exc)
                return
            self._current_start_mono = frame.mono
            self._asked_keyframe = False
            self._set(RecorderState.RECORDING, error="")
        cur = self._current
        assert cur is not None
        try:
            await self._blocking(cur.write, frame)
        except (OSError, av.FFmpegError) as exc:
            await self._abort_segment()
            self._write_failed(exc)

    def _write_failed(self, exc: Exception) -> None:
        full = isinstance(exc, OSError) and exc.errno == 28
        self._set(RecorderState.DISK_FULL if full else RecorderState.FAILED,
                  error=f"writing the local recording failed: {exc}")
        self._asked_keyframe = False

    async def _room(self) -> bool:
        """Is there room for one more segment? (never makes room by deleting)"""
        used = self.store.used_bytes()
        if used >= self.budget_bytes:
            self._set(RecorderState.DISK_FULL, error=(
                f"local recording stopped: the disk budget ({self.budget_bytes // 2**20} MB) is full "
                "of segments the hub has not confirmed; they upload when the link is back"))
            return False
        try:
            free = shutil.disk_usage(self.store.root).free
        except OSError:
            free = self.min_free_bytes
        if free < self.min_free_bytes:
            self._set(RecorderState.DISK_FULL, error=(
                f"local recording stopped: only {free // 2**20} MB free on the disk; free space "
                "or lower other use"))
            return False
        return True

    async def _close_segment(self) -> None:
        cur, self._current = self._current, None
        if cur is None:
            return
        if self.state == RecorderState.RECORDING:
            self._set(RecorderState.WAITING_KEYFRAME)
        step = int(90_000 / self.feed.fps)
        try:
            seg = await self._blocking(cur.finish, step)
        except (OSError, av.FFmpegError) as exc:
            await self._blocking(cur.abort)
            self._write_failed(exc)
            return
        self.segments_written += 1
        log.debug("segment %s held until the hub confirms %s + %.1f s", seg.id, seg.started_at,
                  seg.duration)
        if self._on_pending is not None:
            self._on_pending()  # the backfill asks the hub about it in due time
        if self.store.used_bytes() >= self.budget_bytes:
            await self._room()

    async def _abort_segment(self) -> None:
        cur, self._current = self._current, None
        if cur is not None:
            with contextlib.suppress(Exception):
                await self._blocking(cur.abort)
