"""The in-process media node: the aiortc engine that carries halls' live
media in this process (WHIP publishers, WHEP viewers with talkback, the
recorders, the stream state machine and the one monitor loop).

Callers have authenticated (hub/media/plane.py is the front); this module
takes device ids and `MediaViewer`s. It is the default node (small setups,
the demo, every test) and the engine inside every node process
(hub/media/workerapp.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hub.db import utcnow
from hub.events import AlertRaised, EventBus, KeyframeRequested, StreamStateChanged
from hub.media import fastpath, metrics
from hub.media.auth import MediaAuth, MediaViewer
from hub.media.branch import LIVE, OFFLINE, BranchMedia, PublisherSession, ViewerSession
from hub.media.config import MediaSettings
from hub.media.errors import Conflict, MediaAuthError, NotFound, Unavailable
from hub.media.ice import close_peer
from hub.media.live import open_publisher, open_viewer
from hub.media.recorder import Recorder
from hub.media.sdp import check_view_offer
from hub.recordings.files import FinishedSegment
from hub.recordings.service import RecordingService

log = logging.getLogger(__name__)


class InProcessNode:
    """A media node in this process (implements hub.media.node.MediaNode)."""

    def __init__(self, settings: MediaSettings, data_dir: Path, bus: EventBus, auth: MediaAuth,
                 recordings: RecordingService, *, name: str = "local") -> None:
        self.name = name
        self.settings = settings
        self.recordings_dir = data_dir / "recordings"
        self.bus = bus
        self.auth = auth
        self.recordings = recordings
        self.branches: dict[int, BranchMedia] = {}
        self.executor = ThreadPoolExecutor(settings.writer_threads, thread_name_prefix="media-writer")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._monitor: asyncio.Task[None] | None = None
        self._kf_requested: dict[int, float] = {}
        self._cpu = metrics.CpuMeter()
        self.loop_lag = 0.0
        self.running = False
        self._indexing = False  # a flush of the segment index is under way
        # the monitor's periodic report (a node process forwards it to the hub)
        self.on_report: Callable[[dict[str, Any]], None] = lambda report: metrics.apply_report(report)

    @property
    def up(self) -> bool:
        return self.running

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.recordings_dir.mkdir(parents=True, exist_ok=True)
        self._monitor = asyncio.create_task(self._monitor_loop(), name=f"media-monitor-{self.name}")
        self.running = True

    async def stop(self) -> None:
        """Close every peer, flush every open segment, stop every task."""
        self.running = False
        if self._monitor is not None:
            self._monitor.cancel()
            await asyncio.gather(self._monitor, return_exceptions=True)
        for branch in list(self.branches.values()):
            for viewer in list(branch.viewers.values()):
                await self._close_viewer(branch, viewer)
            if branch.publisher is not None:
                await self._close_publisher(branch, branch.publisher)
            await self._stop_recorder(branch)
            self._set_state(branch, OFFLINE)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self.executor.shutdown(wait=True)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run `coro` in the background; a failure is logged, never swallowed."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("media task failed", exc_info=task.exception())

    async def run_blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def _call_threadsafe(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)

    # -- state ------------------------------------------------------------------------
    def stream_state(self, branch_id: int) -> str:
        branch = self.branches.get(branch_id)
        return branch.state if branch is not None else OFFLINE

    def viewers(self, branch_id: int) -> int:
        branch = self.branches.get(branch_id)
        return len(branch.viewers) if branch is not None else 0

    def held_branches(self) -> set[int]:
        return {b.branch_id for b in list(self.branches.values()) if b.publisher is not None}

    async def counters(self) -> dict[str, Any]:
        """Totals over this node's branches (benchmarks, diagnostics)."""
        branches = list(self.branches.values())
        videos = [b.publisher.video for b in branches
                  if b.publisher is not None and b.publisher.video is not None]
        return {
            "loop_lag": self.loop_lag,
            "live": sum(1 for b in branches if b.state == LIVE),
            "video_frames": sum(b.video_frames for b in branches),
            "recorded_frames": sum(b.recorder.frames for b in branches if b.recorder is not None),
            "recorded_segments": sum(b.recorded_segments for b in branches),
            "rtp_packets_lost": sum(v.loss_stats()[1] for v in videos),
            "frames_dropped_incomplete": sum(v.frames_dropped() for v in videos),
            "branches": {b.branch_id: {"state": b.state, "video_frames": b.video_frames,
                                       "recorded_segments": b.recorded_segments} for b in branches},
        }

    def branch(self, branch_id: int) -> BranchMedia:
        branch = self.branches.get(branch_id)
        if branch is None:
            branch = self.branches[branch_id] = BranchMedia(branch_id)
        return branch

    # -- events -------------------------------------------------------------------------
    def alert(self, branch_id: int | None, kind: str, message: str) -> None:
        log.warning("alert %s (branch %s): %s", kind, branch_id, message)
        self.bus.publish(AlertRaised(branch_id=branch_id, kind=kind, message=message))

    def request_keyframe(self, branch_id: int) -> None:
        """Ask the hall for a keyframe: over RTCP (PLI) and on the bus (the
        edge gateway forwards it). Rate-limited to one per second."""
        now = time.monotonic()
        if now - self._kf_requested.get(branch_id, 0.0) < 1.0:
            return
        self._kf_requested[branch_id] = now
        branch = self.branches.get(branch_id)
        if branch is not None and branch.publisher is not None and branch.publisher.video is not None:
            branch.publisher.video.request_keyframe()
        self.bus.publish(KeyframeRequested(branch_id=branch_id))

    def _set_state(self, branch: BranchMedia, state: str) -> None:
        if branch.state != state:
            branch.state = state
            metrics.STATE.labels(str(branch.branch_id)).set(1 if state == LIVE else 0)
            self.bus.publish(StreamStateChanged(branch_id=branch.branch_id, state=state))

    # -- recording ------------------------------------------------------------------------
    async def open_meeting(self, branch_id: int, meeting_id: str, meeting_type: str = "default") -> None:
        """Start recording `branch_id` into `meeting_id` (also after a restart
        or a move to this node mid-meeting). Raises when the meeting could not
        be indexed: the caller alerts and retries."""
        branch = self.branch(branch_id)
        if branch.meeting == (meeting_id, meeting_type) and branch.recorder is not None:
            return
        branch.meeting = (meeting_id, meeting_type)
        started = utcnow()
        await self._stop_recorder(branch)
        try:
            await self.run_blocking(lambda: self.recordings.open_meeting(
                meeting_id=meeting_id, branch_id=branch_id, meeting_type=meeting_type, started_at=started))
        except BaseException:
            if branch.meeting == (meeting_id, meeting_type):
                branch.meeting = None
            raise
        if branch.meeting == (meeting_id, meeting_type) and branch.recorder is None:
            branch.recorder = self._make_recorder(branch, meeting_id, meeting_type)
            if branch.publisher is not None:
                self.request_keyframe(branch_id)

    async def close_meeting(self, branch_id: int, meeting_id: str, *, end: bool = True) -> None:
        branch = self.branch(branch_id)
        if branch.meeting is None or branch.meeting[0] != meeting_id:
            return
        branch.meeting = None
        ended = utcnow()
        await self._stop_recorder(branch)
        if end:
            await self.run_blocking(lambda: self.recordings.end_meeting(meeting_id=meeting_id, ended_at=ended))

    def recording_now(self) -> set[str]:
        return {b.meeting[0] for b in list(self.branches.values()) if b.meeting is not None}

    def _make_recorder(self, branch: BranchMedia, meeting_id: str, meeting_type: str) -> Recorder:
        branch_id = branch.branch_id

        def finished(seg: FinishedSegment) -> None:  # writer thread; indexed by _flush_index
            if self.recordings.queue_live_segment(meeting_id=meeting_id, branch_id=branch_id,
                                                  meeting_type=meeting_type, segment=seg):
                self._call_threadsafe(self._segment_done, branch, seg.size)

        def incident(kind: str, detail: str) -> None:  # writer thread
            self.recordings.incident(meeting_id=meeting_id, branch_id=branch_id, kind=kind,
                                     detail=detail)

        return Recorder(
            branch_id=branch_id,
            meeting_id=meeting_id,
            directory=self.recordings_dir / str(branch_id) / meeting_id,
            segment_seconds=self.settings.segment_seconds,
            stop_free_bytes=self.settings.stop_recording_free_bytes,
            executor=self.executor,
            on_finished=finished,
            on_incident=incident,
            request_keyframe=lambda: self.request_keyframe(branch_id),
            alert=lambda kind, msg: self.alert(branch_id, kind, msg),
            before_cut=branch.flush_audio,
        )

    def _segment_done(self, branch: BranchMedia, size: int) -> None:
        branch.recorded_bytes += size
        branch.recorded_segments += 1
        metrics.RECORDED_BYTES.labels(str(branch.branch_id)).inc(size)

    async def _stop_recorder(self, branch: BranchMedia) -> None:
        branch.flush_audio()  # the sound held for a group is the meeting's last
        recorder, branch.recorder = branch.recorder, None
        if recorder is not None:
            await recorder.close()
            await self._flush_index()  # the meeting's last segments are findable when this returns

    async def _flush_index(self) -> None:
        """Commit the index rows of the segments finished since the last flush
        (once a monitor tick, and when a recorder stops): one commit for all
        halls. A failure is logged; the rows stay queued for the next one."""
        if not self.recordings.live_segments_queued():
            return
        try:
            await self.run_blocking(self.recordings.flush_live_segments)
        except Exception:  # noqa: BLE001 - retried at the next tick
            log.exception("recorded segments could not be indexed; retrying")

    # -- WHIP ---------------------------------------------------------------------------------
    async def publish(self, branch_id: int, device_id: int, offer: str) -> tuple[str, str]:
        if not self.running:
            raise Unavailable("the media node is not running; retry in a few seconds")
        branch = self.branch(branch_id)
        old = branch.publisher
        publishers = sum(1 for b in self.branches.values() if b.publisher is not None)
        if old is None and publishers >= self.settings.max_publishers_per_process:
            raise Unavailable(f"this media node already carries {publishers} halls; retry later "
                              "(operators: raise media.workers or media.max_publishers_per_process)")
        if old is not None and old.device_id != device_id:
            raise Conflict(f"branch {branch_id} is already published by device {old.device_id}; "
                           "stop that publisher first")
        pub, answer = await open_publisher(self.settings, branch, device_id, offer)
        old = branch.publisher
        if old is not None:
            if old.device_id != device_id:
                await close_peer(pub.pc)
                raise Conflict(f"branch {branch_id} is already published by device {old.device_id}")
            log.info("branch %s: publisher %s replaced by %s", branch_id, old.session_id, pub.session_id)
            await self._close_publisher(branch, old)
        branch.publisher = pub
        branch.audience_changed()
        for viewer in branch.viewers.values():
            if viewer.video is not None:
                viewer.video.restart()
        if branch.viewers or branch.recorder is not None:
            self._kf_requested.pop(branch_id, None)
            self.spawn(self._keyframe_soon(branch_id))
        self._watch_publisher(branch, pub)
        self._set_state(branch, branch.compute_state(time.monotonic(), self.settings.stall_seconds))
        return pub.session_id, answer

    async def _keyframe_soon(self, branch_id: int) -> None:
        # the PLI needs the media SSRC, known from the first packet on
        branch = self.branch(branch_id)
        for _ in range(50):
            pub = branch.publisher
            if pub is None or (pub.video is not None and pub.video.media_ssrc is not None):
                break
            await asyncio.sleep(0.1)
        self.request_keyframe(branch_id)

    def _watch_publisher(self, branch: BranchMedia, pub: PublisherSession) -> None:
        @pub.pc.on("connectionstatechange")
        def on_state() -> None:
            if pub.pc.connectionState in ("failed", "closed") and not pub.closing:
                self.alert(branch.branch_id, "publisher_lost",
                           f"branch {branch.branch_id}: the hall's stream dropped "
                           f"({pub.pc.connectionState}); check the hall's network")
                self.spawn(self._drop_publisher(branch, pub))

    async def _drop_publisher(self, branch: BranchMedia, pub: PublisherSession) -> None:
        await self._close_publisher(branch, pub)
        if branch.publisher is None:
            self._set_state(branch, OFFLINE)

    async def _close_publisher(self, branch: BranchMedia, pub: PublisherSession) -> None:
        if pub.closing:
            return
        pub.closing = True
        if branch.publisher is pub:
            branch.flush_audio()  # the sound held for a group is the segment's last
            branch.publisher = None
            if branch.recorder is not None:
                branch.recorder.publisher_changed()
        if pub.talkback is not None:
            pub.talkback.stop()
        await close_peer(pub.pc)

    async def unpublish(self, branch_id: int, device_id: int, session_id: str) -> None:
        branch = self.branches.get(branch_id)
        pub = branch.publisher if branch is not None else None
        if branch is None or pub is None or pub.session_id != session_id:
            raise NotFound(f"no WHIP session {session_id} on branch {branch_id}; it has ended")
        if device_id != pub.device_id:
            raise MediaAuthError(403, "this session belongs to another device")
        await self._close_publisher(branch, pub)
        self._set_state(branch, OFFLINE)

    # -- WHEP ----------------------------------------------------------------------------------
    async def view(self, who: MediaViewer, branch_id: int, offer: str) -> tuple[str, str]:
        """A WHEP session for `who`; talkback (sendrecv audio) only when
        `who.can_act`, otherwise the hall's audio is receive-only."""
        if not self.running:
            raise Unavailable("the media node is not running; retry in a few seconds")
        branch = self.branch(branch_id)
        if branch.publisher is None:
            raise Conflict(f"branch {branch_id} is not publishing; watch it once it is live")
        if len(branch.viewers) >= self.settings.max_viewers_per_branch:
            raise Unavailable(f"branch {branch_id} already has {len(branch.viewers)} viewers; "
                              "try again later or watch the recording")
        codec = branch.publisher.video_codec
        check_view_offer(offer, codec)
        viewer, answer = await open_viewer(
            self.settings, branch, who.user, offer, codec,
            on_overflow=lambda: self.request_keyframe(branch_id),
            on_talk=lambda v, data, ts: self._on_talk(branch, v, data, ts),
            talk=who.can_act,
        )
        viewer.operator_id = who.operator_id
        branch.viewers[viewer.session_id] = viewer
        branch.audience_changed()
        # Logout, expiry or deactivation of the operator ends the view.
        viewer.unwatch = self.auth.watch(who, lambda: self.spawn(self._close_viewer(branch, viewer)))

        @viewer.pc.on("connectionstatechange")
        def on_state() -> None:
            if viewer.pc.connectionState == "connected":  # DTLS done: its SRTP sessions exist
                for transceiver in viewer.pc.getTransceivers():
                    fastpath.compile_srtp(transceiver.sender.transport)
            if viewer.pc.connectionState in ("failed", "closed") and not viewer.closing:
                self.spawn(self._close_viewer(branch, viewer))

        metrics.VIEWERS.labels(str(branch_id)).set(len(branch.viewers))
        self.spawn(self.auth.audit(who.user, "media.watch.start", branch_id, viewer.session_id))
        self.request_keyframe(branch_id)
        return viewer.session_id, answer

    def _on_talk(self, branch: BranchMedia, viewer: ViewerSession, data: bytes, ts: int) -> None:
        if viewer.closing or not viewer.can_talk:
            return
        if branch.on_talkback(viewer, data, ts):
            self.spawn(self.auth.audit(viewer.user, "media.talkback.start", branch.branch_id,
                                       viewer.session_id))

    def _end_talk(self, branch: BranchMedia, viewer: ViewerSession) -> None:
        if branch.talker is viewer:
            branch.talker = None
            self.spawn(self.auth.audit(viewer.user, "media.talkback.stop", branch.branch_id,
                                       viewer.session_id))

    async def _close_viewer(self, branch: BranchMedia, viewer: ViewerSession) -> None:
        if viewer.closing:
            return
        viewer.closing = True
        if viewer.unwatch is not None:
            viewer.unwatch()
        branch.viewers.pop(viewer.session_id, None)
        branch.audience_changed()
        self._end_talk(branch, viewer)
        metrics.VIEWERS.labels(str(branch.branch_id)).set(len(branch.viewers))
        for track in (viewer.video, viewer.audio):
            if track is not None:
                track.stop()
        await close_peer(viewer.pc)
        self.spawn(self.auth.audit(viewer.user, "media.watch.stop", branch.branch_id, viewer.session_id))

    async def unview(self, who: MediaViewer, branch_id: int, session_id: str) -> None:
        branch = self.branches.get(branch_id)
        viewer = branch.viewers.get(session_id) if branch is not None else None
        if branch is None or viewer is None:
            raise NotFound(f"no WHEP session {session_id} on branch {branch_id}; it has ended")
        if viewer.user != who.user:
            raise MediaAuthError(403, "this viewing session belongs to another operator")
        await self._close_viewer(branch, viewer)

    # -- the one monitor loop --------------------------------------------------------------------
    async def _monitor_loop(self) -> None:
        interval = min(1.0, self.settings.stall_seconds / 4)
        last = time.monotonic()
        snapshot: dict[int, tuple[int, int]] = {}
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            self.loop_lag = max(0.0, now - last - interval)
            dt = now - last
            last = now
            report: dict[str, Any] = {"node": self.name, "loop_lag": self.loop_lag,
                                      "cpu": self._cpu.percent(), "branches": {}}
            for branch in list(self.branches.values()):
                report["branches"][branch.branch_id] = self._tick_branch(branch, now, dt, snapshot)
            if not self._indexing:
                self._indexing = True
                self.spawn(self._index_tick())
            try:
                self.on_report(report)
            except Exception:  # noqa: BLE001 - metrics never stop the monitor
                log.exception("media metrics report failed")

    async def _index_tick(self) -> None:
        try:
            await self._flush_index()
        finally:
            self._indexing = False

    def _tick_branch(self, branch: BranchMedia, now: float, dt: float,
                     snapshot: dict[int, tuple[int, int]]) -> dict[str, Any]:
        s = self.settings
        pub = branch.publisher
        if pub is not None and not pub.closing:
            silent_for = now - (pub.last_media if pub.last_media is not None else pub.created)
            if silent_for > s.offline_seconds:
                self.alert(branch.branch_id, "publisher_lost",
                           f"branch {branch.branch_id}: no media for {silent_for:.0f} s; "
                           "the publisher was dropped; check the hall's encoder and network")
                self.spawn(self._drop_publisher(branch, pub))
        talker = branch.talker
        if talker is not None and now - talker.last_talk > 2.0:
            self._end_talk(branch, talker)
        self._set_state(branch, branch.compute_state(now, s.stall_seconds))
        frames0, bytes0 = snapshot.get(branch.branch_id, (branch.video_frames, branch.bytes_in))
        snapshot[branch.branch_id] = (branch.video_frames, branch.bytes_in)
        loss = 0.0
        if pub is not None and pub.video is not None:
            expected, lost = pub.video.loss_stats()
            loss = lost / expected if expected else 0.0
        return {"fps": (branch.video_frames - frames0) / dt, "bps": 8 * (branch.bytes_in - bytes0) / dt,
                "loss": loss, "viewers": len(branch.viewers), "recorded_bytes": branch.recorded_bytes}
