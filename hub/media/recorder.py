"""Recording of one branch's live stream during one meeting (loop side).

State machine: `waiting_keyframe` -> `writing` -> (`waiting_keyframe` after
the publisher changes) ... -> `closed`; `disk_full` and `failed` stop
recording while the live relay goes on. Frames arrive on the event loop and
are batched; the blocking muxing, fsync and indexing run as one ordered job
chain per recorder on a shared thread pool, so hundreds of recorders cost a
handful of threads and no per-frame thread hand-off.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from pathlib import Path

from hub.media.bitstream import h264_dimensions, h264_parameter_sets, vp8_dimensions
from hub.media.segments import FinishedSegment, MediaPacket, SegmentSpec, SegmentWriter

log = logging.getLogger(__name__)
FLUSH_PACKETS = 48
MAX_SEGMENT_SECONDS = 10.0


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
    ) -> None:
        self.branch_id = branch_id
        self.meeting_id = meeting_id
        self.directory = directory
        self.segment_seconds = segment_seconds
        self._overdue = min(segment_seconds + 1.0, MAX_SEGMENT_SECONDS - 1.0)
        self.stop_free_bytes = stop_free_bytes
        self._executor = executor
        self._on_finished = on_finished  # called in the writer thread
        self._request_keyframe = request_keyframe
        self._alert = alert
        self.state = "waiting_keyframe"
        self._writer: SegmentWriter | None = None
        self._seg_wall = 0.0
        self._seg_video_ts = 0
        self._pending: list[MediaPacket] = []
        self._jobs: asyncio.Queue[Callable[[], None] | None] = asyncio.Queue()
        self._runner = asyncio.ensure_future(self._run_jobs())
        self._last_kf_request = 0.0
        self._params = b""
        self.frames = 0
        self.segments = 0
        self.has_audio = True

    # -- loop side -----------------------------------------------------------
    def push_video(self, codec: str, data: bytes, ts: int, key: bool, wall: float) -> None:
        if self.state in ("closed", "disk_full", "failed"):
            return
        if key and codec == "h264":
            params = h264_parameter_sets(data)
            if params:
                self._params = params
        writer = self._writer
        if writer is not None:
            elapsed = wall - self._seg_wall
            if key and elapsed >= self.segment_seconds:
                self._finish_segment()
                writer = None
            elif elapsed >= self._overdue:
                # the stream's own keyframe is late: ask, so segments stay <= 10 s
                self._ask_keyframe()
        if writer is None:
            if not key:
                self._ask_keyframe()
                return
            if not self._open_segment(codec, data, wall, ts):
                return
        self._pending.append(("video", data, ts - self._seg_video_ts, key))
        self.frames += 1
        if len(self._pending) >= FLUSH_PACKETS:
            self._flush()

    def push_audio(self, data: bytes, wall: float) -> None:
        if self._writer is None:
            return
        self._pending.append(("audio", data, int((wall - self._seg_wall) * 48_000), True))

    def publisher_changed(self) -> None:
        """The stream restarts (new publisher): close the segment, wait for a keyframe."""
        if self._writer is not None:
            self._finish_segment()
        if self.state == "writing":
            self.state = "waiting_keyframe"

    async def close(self) -> None:
        if self._writer is not None:
            self._finish_segment()
        if self.state not in ("disk_full", "failed"):
            self.state = "closed"
        self._jobs.put_nowait(None)
        await self._runner

    # -- internals -------------------------------------------------------------
    def _ask_keyframe(self) -> None:
        now = time.monotonic()
        if now - self._last_kf_request >= 1.0:
            self._last_kf_request = now
            self._request_keyframe()

    def _open_segment(self, codec: str, data: bytes, wall: float, ts: int) -> bool:
        free = free_bytes_at(self.directory)
        if free < self.stop_free_bytes:
            self.state = "disk_full"
            self._alert("recording_disk_full", f"recording of branch {self.branch_id} stopped: "
                        f"only {free // 2**20} MiB free; free disk space or lower retention")
            return False
        try:
            dims = h264_dimensions(self._params or data) if codec == "h264" else vp8_dimensions(data)
        except ValueError as exc:
            log.warning("branch %s: keyframe header unreadable (%s); waiting", self.branch_id, exc)
            dims = None
        if dims is None:
            self._ask_keyframe()
            return False
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
        self._seg_wall = wall
        self._seg_video_ts = ts
        self.state = "writing"
        holder: list[SegmentWriter] = []

        def open_job() -> None:
            holder.append(SegmentWriter(self.directory, spec))

        self._jobs.put_nowait(open_job)
        self._writer = _LazyWriter(holder)  # type: ignore[assignment]
        return True

    def _flush(self) -> None:
        writer, packets = self._writer, self._pending
        self._pending = []
        if writer is None or not packets:
            return
        self._jobs.put_nowait(lambda: writer.write(packets))

    def _finish_segment(self) -> None:
        self._flush()
        writer = self._writer
        self._writer = None
        if writer is None:
            return
        self.segments += 1

        def finish_job() -> None:
            self._on_finished(writer.finish())

        self._jobs.put_nowait(finish_job)

    async def _run_jobs(self) -> None:
        loop = asyncio.get_running_loop()
        broken = False
        while True:
            job = await self._jobs.get()
            if job is None:
                return
            if broken:
                continue
            try:
                await loop.run_in_executor(self._executor, job)
            except Exception as exc:  # noqa: BLE001 - any write failure stops recording
                broken = True
                self._writer = None
                self._pending = []
                self.state = "disk_full" if isinstance(exc, OSError) and exc.errno == 28 else "failed"
                log.exception("branch %s: recording failed", self.branch_id)
                self._alert(
                    "recording_failed",
                    f"recording of branch {self.branch_id} stopped: {exc}. "
                    "Check the disk of the hub; live video continues.",
                )


class _LazyWriter:
    """Proxy to a SegmentWriter created by an earlier job of the same chain."""

    def __init__(self, holder: list[SegmentWriter]) -> None:
        self._holder = holder

    def write(self, packets: list[MediaPacket]) -> None:
        self._holder[0].write(packets)

    def finish(self) -> FinishedSegment:
        return self._holder[0].finish()
