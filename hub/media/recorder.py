"""Recording of one branch's live stream during one meeting (loop side).

State machine: `waiting_keyframe` -> `writing` -> (`waiting_keyframe` after
a cut or a publisher change) ... -> `closed`. `disk_full` and `failed`
pause recording while the live relay goes on; both resume by themselves at
a keyframe once the disk has room again (checked at most once a second).

Frames arrive on the event loop and are batched; the blocking muxing and
fsync run as one ordered job chain per recorder on a shared thread pool
(`JobChain`), so hundreds of recorders cost a handful of threads, no
per-frame thread hand-off and no wake-up of the loop per batch. A finished segment goes to `on_finished` (the recordings domain
verifies and indexes it). Frames that cannot be decoded (empty, or an H.264
access unit without a start code: what reassembly after a loss can leave)
are dropped, never written. A segment is cut at the first keyframe after
`segment_seconds` (± 2 s, chosen by the keyframe's content: `cut_here`) of
stream time and never runs past MAX_SEGMENT_SECONDS:
with no keyframe in time it is closed and the next one starts at a keyframe.
A hole in the stream (over MAX_FRAME_GAP_SECONDS between two frames: a cut
link) ends the segment at its last frame, so coverage never spans a hole.
A segment is labelled with the capture time the hall wrote into its first
keyframe (an H.264 SEI message), so that it carries the same start time as
the hall's own copy; without one (VP8, an old agent), with the least-delayed
mapping of the stream clock to the hub's arrival time.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import shutil
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from hub.media.bitstream import (
    h264_capture_time,
    h264_dimensions,
    h264_parameter_sets,
    iter_nal_units,
    vp8_dimensions,
)
from hub.recordings.files import FinishedSegment, MediaPacket, SegmentSpec, SegmentWriter

log = logging.getLogger(__name__)
FLUSH_PACKETS = 48
MAX_SEGMENT_SECONDS = 10.0
# More stream time than this between two frames is a hole, not a slow frame:
# the segment ends before it (coverage is what the hub holds, not what it bridged).
MAX_FRAME_GAP_SECONDS = 1.0
RETRY_SECONDS = 1.0  # how often a paused recorder looks at the disk again
# A hall's capture time is believed when it lies within this of the hub's own
# mapping of the stream clock (a hall with a wrong clock gets the hub's labels).
CAPTURE_TRUST_S = 5.0


def free_bytes_at(directory: Path) -> int:
    """Free bytes on the disk that will hold `directory`, which may not exist yet
    (a branch's first meeting: neither it nor its parent does). 0 if unknown."""
    probe = directory
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return 0


# Shortest segment a content-defined cut makes: short, so that a recorder whose
# segment started off the common cut points (after a hole, a restart, a full
# disk) falls into step at the very next even keyframe, as the other side cuts
# there too; not zero, so that a burst of requested keyframes makes no
# one-frame segments.
MIN_CUT_S = 0.5


def cut_here(codec: str, keyframe: bytes, elapsed: float, target: float) -> bool:
    """Whether a segment ends before this keyframe, `elapsed` seconds (stream
    time) after the segment's first frame. Content-defined, so that the hub
    and the hall's own recorder (devices/media/recording.py, same rule) cut
    the same stream on the same keyframes without talking to each other, and
    find each other again after a loss or a late start: never before
    0.5 s, always from target + 3 s, in between at every keyframe whose first
    slice's CRC-32 is even (docs/protocols/segment-upload.md). A rule of the
    keyframe alone, not of the time since the last cut, is what lets two
    recorders that started apart (a hub resuming after a full disk, a restart)
    fall into step at the very next even keyframe."""
    if elapsed < MIN_CUT_S:
        return False
    if elapsed >= target + 3.0:
        return True
    return even_keyframe(codec, keyframe)


def even_keyframe(codec: str, keyframe: bytes) -> bool:
    """The content rule of `cut_here`: the first IDR slice's (H.264) or the
    frame's (VP8) CRC-32 is even."""
    payload = keyframe
    if codec == "h264":
        payload = next((nal for nal in iter_nal_units(keyframe) if nal[0] & 0x1F == 5), payload)
    return zlib.crc32(payload) & 1 == 0


def decodable(codec: str, data: bytes) -> bool:
    """Cheap check that a reassembled frame can be handed to a decoder."""
    if codec == "h264":
        return len(data) > 4 and (data.startswith(b"\x00\x00\x01") or data.startswith(b"\x00\x00\x00\x01"))
    return len(data) >= 3


class Recorder:
    def __init__(
        self,
        *,
        branch_id: int,
        meeting_id: str,
        directory: Path,
        segment_seconds: float,
        stop_free_bytes: int,
        executor: Executor,
        on_finished: Callable[[FinishedSegment], None],
        request_keyframe: Callable[[], None],
        alert: Callable[[str, str], None],
        on_incident: Callable[[str, str], None] | None = None,
        before_cut: Callable[[], None] | None = None,
    ) -> None:
        self.branch_id = branch_id
        self.meeting_id = meeting_id
        self.directory = directory
        self.segment_seconds = min(segment_seconds, MAX_SEGMENT_SECONDS - 1.0)
        self.stop_free_bytes = stop_free_bytes
        self._executor = executor
        self._on_finished = on_finished  # called in the writer thread
        self._on_incident = on_incident  # called in the writer thread
        # called on the loop before a segment ends: the receive path hands over the
        # sound it holds for a group (BranchMedia.flush_audio), which is this segment's
        self._before_cut = before_cut
        self._request_keyframe = request_keyframe
        self._alert = alert
        self.state = "waiting_keyframe"
        self._writer: _LazyWriter | None = None
        self._seg_wall = 0.0
        self._seg_start = 0.0
        self._seg_captured = False
        self._capture_offset: float | None = None  # hall capture clock - this publisher's mapping
        self._seg_in_step = False  # started at a content-defined cut (the hall cut there too)
        self._next_in_step = False
        self._seg_video_ts = 0
        self._last_video_ts = 0
        self._pending: list[MediaPacket] = []
        self._jobs = JobChain(executor, asyncio.get_running_loop(), self._job_failed)
        self._last_kf_request = 0.0
        self._paused_at = 0.0
        self._params = b""
        self._dims: tuple[bytes, tuple[int, int]] | None = None  # the last SPS read, and what it said
        self._seg_dims: tuple[int, int] | None = None  # the picture size of the segment being written
        self.frames = 0
        self.frames_dropped = 0
        self.segments = 0
        self.has_audio = True  # every segment carries audio (silence if the hall sends none)

    # -- loop side -----------------------------------------------------------
    def push_video(self, codec: str, data: bytes, ts: int, key: bool, wall: float) -> None:
        if self.state == "closed":
            return
        if not decodable(codec, data):
            self.frames_dropped += 1
            return
        if self.state in ("disk_full", "failed"):
            if not key or time.monotonic() - self._paused_at < RETRY_SECONDS:
                return
            self._paused_at = time.monotonic()
            self.state = "waiting_keyframe"  # look at the disk again at this keyframe
        new_params = False
        if key and codec == "h264":
            params = h264_parameter_sets(data)
            if params:
                new_params = params != self._params
                self._params = params
        writer = self._writer
        if writer is not None and new_params and self._size_changed():
            # a new picture size: a segment's file is of one size (its header), so
            # the next one starts here; the two meet. (Parameter sets also change
            # with an encoder's bitrate, in its HRD fields: no cut for that.)
            self._finish_segment(end_ts=ts - self._seg_video_ts)
            writer = None
        if writer is not None:
            elapsed = (ts - self._seg_video_ts) / 90_000
            step = max(ts - self._last_video_ts, 0) / 90_000
            if step > MAX_FRAME_GAP_SECONDS:
                # a hole in the stream (the link was down, the hall's loop stalled): the
                # segment ends at its last frame, so that the hub never claims to hold
                # the hole (the hall uploads its copy of it); the next one starts at a keyframe
                self._finish_segment()
                self.state = "waiting_keyframe"
                writer = None
                if not key:
                    self._ask_keyframe()
                    return
            elif key and (cut_here(codec, data, elapsed, self.segment_seconds) if self._seg_in_step
                          else elapsed >= MIN_CUT_S):
                # a segment that started off the common cut points (after a hole, a restart,
                # a full disk, a late keyframe) ends at the next keyframe, wherever the hall
                # cut, so that the hall's copy of the time around never overlaps it; it is
                # in step again from the next even keyframe on, where the hall cuts too
                self._next_in_step = self._seg_in_step or even_keyframe(codec, data)
                self._finish_segment(end_ts=ts - self._seg_video_ts)  # the segments meet
                writer = None
            elif elapsed + step > MAX_SEGMENT_SECONDS:
                # the stream's keyframe is late: close here, start again at the next one
                self._finish_segment()
                self.state = "waiting_keyframe"
                writer = None
                if not key:
                    self._ask_keyframe()
                    return
            elif elapsed >= self.segment_seconds + 3.0:
                self._ask_keyframe()
        if writer is None:
            if not key:
                self._ask_keyframe()
                return
            if not self._open_segment(codec, data, wall, ts):
                return
        if not self._seg_captured:
            # the segment's start as the best mapping of the stream clock seen so far has it
            # (the first frame may have arrived late: a link coming up, a queue draining)
            start = wall - (ts - self._seg_video_ts) / 90_000
            if start < self._seg_start:
                self._seg_start = start
        self._pending.append(("video", data, ts - self._seg_video_ts, key))
        self._last_video_ts = ts
        self.frames += 1
        if len(self._pending) >= FLUSH_PACKETS:
            self._flush()

    def push_audio(self, data: bytes, wall: float) -> None:
        if self._writer is None:
            return
        at = wall - self._seg_wall
        if at > (self._last_video_ts - self._seg_video_ts) / 90_000 + MAX_FRAME_GAP_SECONDS:
            # sound after a hole in the video (the link is back, the next keyframe is not
            # here yet): it belongs to the next segment; written here it would stretch
            # this one over the hole and claim it as recorded
            return
        self._pending.append(("audio", data, int(at * 48_000), True))

    def publisher_changed(self) -> None:
        """The stream restarts (new publisher): close the segment, wait for a keyframe."""
        if self._writer is not None:
            self._finish_segment()
        if self.state == "writing":
            self.state = "waiting_keyframe"
        self._capture_offset = None  # a new publisher: a new mapping of its stream clock
        self._incident("no_uplink", "the hall's stream stopped during the meeting")

    async def close(self) -> None:
        if self._writer is not None:
            self._finish_segment()
        self.state = "closed"
        await self._jobs.close()

    # -- internals -------------------------------------------------------------
    def _incident(self, kind: str, detail: str) -> None:
        report = self._on_incident
        if report is not None:
            self._jobs.put(lambda: report(kind, detail))

    def _ask_keyframe(self) -> None:
        now = time.monotonic()
        if now - self._last_kf_request >= 1.0:
            self._last_kf_request = now
            self._request_keyframe()

    def _pause(self, state: str, kind: str, message: str) -> None:
        first = self.state != state
        self.state = state
        self._paused_at = time.monotonic()
        self._writer = None
        self._pending = []
        self._next_in_step = False
        if first:
            self._alert(kind, message)
            self._incident("disk_full" if state == "disk_full" else "failed", message)

    def _size_changed(self) -> bool:
        try:
            dims = self._h264_dimensions(self._params)
        except ValueError:
            return False  # an unreadable SPS: the segment goes on (it is read again at the next)
        return dims is not None and dims != self._seg_dims

    def _h264_dimensions(self, params: bytes) -> tuple[int, int] | None:
        """h264_dimensions, read again only when the parameter sets change (the
        SPS is read bit by bit in Python; a hall sends the same one all meeting)."""
        cached = self._dims
        if cached is not None and cached[0] == params:
            return cached[1]
        dims = h264_dimensions(params)
        self._dims = (params, dims) if dims is not None else None
        return dims

    def _open_segment(self, codec: str, data: bytes, wall: float, ts: int) -> bool:
        free = free_bytes_at(self.directory)
        if free < self.stop_free_bytes:
            self._pause("disk_full", "recording_disk_full",
                        f"recording of branch {self.branch_id} paused: only {free // 2**20} MiB free; "
                        "it resumes by itself when space returns (free disk space or lower retention); "
                        "the hall keeps its own copy until the hub has the time range")
            return False
        try:
            dims = self._h264_dimensions(self._params or data) if codec == "h264" else vp8_dimensions(data)
        except ValueError as exc:
            log.warning("branch %s: keyframe header unreadable (%s); waiting", self.branch_id, exc)
            dims = None
        if dims is None:
            self._ask_keyframe()
            return False
        self._seg_dims = dims
        spec = SegmentSpec(
            segment_id=str(uuid.uuid4()),
            branch_id=self.branch_id,
            meeting_id=self.meeting_id,
            started_at=datetime.fromtimestamp(wall, UTC),
            video_codec=codec,
            width=dims[0],
            height=dims[1],
            extradata=self._params if codec == "h264" else b"",
            has_audio=self.has_audio,
        )
        self._seg_wall = self._seg_start = wall
        self._seg_in_step, self._next_in_step = self._next_in_step, False
        # the hall's capture time of this keyframe, when it sent one: the very label
        # of its own copy of this segment (devices/media/capturetime.py)
        captured = h264_capture_time(data) if codec == "h264" else None
        if captured is not None and abs(captured - wall) <= CAPTURE_TRUST_S:
            self._capture_offset = captured - wall
        elif self._capture_offset is not None:
            # a keyframe whose SEI was lost (its packet under loss): the same publisher's
            # stream clock maps to the hall's capture clock as it did at its last keyframe
            captured = wall + self._capture_offset
        else:
            captured = None
        self._seg_captured = captured is not None
        if captured is not None:
            self._seg_start = captured
        self._seg_video_ts = ts
        self._last_video_ts = ts
        if self.state != "writing":
            log.info("branch %s: recording segment from %s", self.branch_id, spec.started_at)
        self.state = "writing"
        writer = _LazyWriter()

        def open_job() -> None:
            writer.real = SegmentWriter(self.directory, spec)

        self._jobs.put(open_job)
        self._writer = writer
        return True

    def _flush(self) -> None:
        writer, packets = self._writer, self._pending
        self._pending = []
        if writer is None or not packets:
            return
        self._jobs.put(lambda: writer.write(packets))

    def _finish_segment(self, end_ts: int | None = None) -> None:
        if self._before_cut is not None and self._writer is not None:
            self._before_cut()
        self._flush()
        writer = self._writer
        self._writer = None
        if writer is None:
            return
        self.segments += 1
        started_at = datetime.fromtimestamp(self._seg_start, UTC)

        def finish_job() -> None:
            segment = writer.finish(end_ts)
            if segment is not None:
                self._on_finished(replace(segment, spec=replace(segment.spec, started_at=started_at)))

        self._jobs.put(finish_job)

    def _job_failed(self, exc: BaseException) -> None:
        """A write failure pauses recording, never the relay (on the loop)."""
        full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
        log.warning("branch %s: recording paused: %s", self.branch_id, exc)
        self._pause("disk_full" if full else "failed", "recording_failed",
                    f"recording of branch {self.branch_id} paused: {exc}. It resumes by itself "
                    "at the next keyframe the disk takes; check the hub's disk. Live video "
                    "continues.")


class JobChain:
    """One recorder's blocking jobs, run in order and one at a time on a
    shared executor.

    The loop appends a job to a deque; when the chain is idle it also hands
    the executor one `_drain`, which runs jobs until the deque is empty. The
    loop hears back only when a job fails (`on_error`, through
    call_soon_threadsafe) and when `close` waits for the last job. A job per
    batch through `run_in_executor` cost the loop two futures, a wake-up and
    a task switch each (hand-written: concurrent.futures has no serial
    executor over a shared pool)."""

    def __init__(self, executor: Executor, loop: asyncio.AbstractEventLoop,
                 on_error: Callable[[BaseException], None]) -> None:
        self._executor = executor
        self._loop = loop
        self._on_error = on_error
        self._jobs: deque[Callable[[], None]] = deque()
        self._lock = threading.Lock()
        self._draining = False  # a _drain is queued on, or running in, the executor

    def put(self, job: Callable[[], None]) -> bool:
        """Queue `job`; False (and `on_error`) when the pool is shut down."""
        with self._lock:
            self._jobs.append(job)
            if self._draining:
                return True
            self._draining = True
        try:
            self._executor.submit(self._drain)
        except RuntimeError as exc:  # the pool is shut down: the hub is stopping
            with self._lock:
                self._jobs.clear()
                self._draining = False
            self._on_error(exc)
            return False
        return True

    async def close(self) -> None:
        """Wait until every job put so far has run."""
        done = self._loop.create_future()

        def finished() -> None:
            if not done.done():  # close() may have been cancelled
                done.set_result(None)

        if self.put(lambda: self._tell(finished)):
            await done

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._jobs:
                    self._draining = False
                    return
                job = self._jobs.popleft()
            try:
                job()
            except Exception as exc:  # noqa: BLE001 - reported to the recorder, the chain goes on
                self._tell(self._on_error, exc)

    def _tell(self, fn: Callable[..., object], *args: object) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: nobody is left to tell
            pass


class _LazyWriter:
    """A SegmentWriter created by an earlier job of the same chain; after a
    failure it throws its file away and ignores the rest of its jobs."""

    def __init__(self) -> None:
        self.real: SegmentWriter | None = None
        self.broken = False

    def write(self, packets: list[MediaPacket]) -> None:
        if self.real is None or self.broken:
            return
        try:
            self.real.write(packets)
        except BaseException:
            self._break()
            raise

    def finish(self, end_ts: int | None = None) -> FinishedSegment | None:
        if self.real is None or self.broken:
            return None
        try:
            return self.real.finish(end_ts)
        except BaseException:
            self._break()
            raise

    def _break(self) -> None:
        self.broken = True
        if self.real is not None:
            self.real.abort()
