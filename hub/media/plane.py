"""The media plane's front and composition root.

`MediaPlane` builds the media nodes (hub/media/node.py) and stands in front
of them: it authenticates halls and operators, checks offers, chooses the
node that carries each hall (the one holding it, else rendezvous hashing
over the nodes that are up), keeps the meetings the nodes record (opened
again on whichever node a hall moves to; a failed start raises an alert
and is retried), and gives the routes (hub/media/views.py) to mount.

With `media.workers <= 1` there is one node, in this process
(`InProcessNode`); with more, local node processes started and restarted
by the supervisor (hub/media/supervisor.py), each reached as a
`RemoteNode`. Finished segments go to the recordings domain
(hub/recordings), which owns them from then on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session, sessionmaker

from hub.db import utcnow
from hub.events import AlertRaised, EventBus, MeetingEnded, MeetingStarted
from hub.media.auth import MediaAuth, MediaViewer
from hub.media.branch import OFFLINE
from hub.media.config import MediaSettings
from hub.media.engine import InProcessNode
from hub.media.errors import MediaAuthError, NotFound, Unavailable
from hub.media.node import MediaNode, rendezvous
from hub.media.sdp import check_publish_offer, check_transport, decode_offer
from hub.media.supervisor import LocalNodes, local_node_count
from hub.recordings.service import RecordingService

log = logging.getLogger(__name__)

__all__ = ["MediaAuth", "MediaPlane", "MediaViewer"]

RETRY_FIRST, RETRY_MAX = 0.5, 30.0


class MediaPlane:
    def __init__(
        self,
        settings: MediaSettings,
        data_dir: Path,
        bus: EventBus,
        auth: MediaAuth,
        session_factory: sessionmaker[Session],
        *,
        recordings: RecordingService | None = None,
        node_name: str = "local",
        run_recordings: bool = True,
    ) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.bus = bus
        self.auth = auth
        self.session_factory = session_factory
        # the recordings domain the nodes hand their segments to; a plane built
        # without one (benchmarks, node processes) makes its own, and runs its
        # background work unless it is a node process (the hub does that)
        self._run_recordings = recordings is None and run_recordings
        self.recordings = recordings or RecordingService(settings, data_dir, session_factory, bus)
        self.recordings.recording_now = self._recording_now
        self.engine: InProcessNode | None = None
        self.local_nodes: LocalNodes | None = None
        count = local_node_count(settings)
        self.nodes: list[MediaNode]
        if count:
            url = session_factory.kw["bind"].url.render_as_string(hide_password=False)
            self.local_nodes = LocalNodes(count, settings, data_dir, url, bus, auth)
            self.local_nodes.on_death = self._node_died
            self.nodes = list(self.local_nodes.nodes)
        else:
            self.engine = InProcessNode(settings, data_dir, bus, auth, self.recordings, name=node_name)
            self.nodes = [self.engine]
        self._holder: dict[int, MediaNode] = {}  # branch -> the node carrying it
        self._meetings: dict[int, tuple[str, str]] = {}  # branch -> (meeting id, type) being recorded
        self._recording_on: dict[int, tuple[MediaNode, tuple[str, str]]] = {}
        self._ops: dict[int, asyncio.Task[Any]] = {}  # per branch: the last meeting operation
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: list[Callable[[], None]] = []
        self.running = False
        self._stopping = asyncio.Event()
        from hub.media.views import build_router

        self.router: APIRouter = build_router(self)

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        (self.data_dir / "recordings").mkdir(parents=True, exist_ok=True)
        if self._run_recordings:
            await self.recordings.start()
        self.running = True
        self._stopping.clear()
        if self.local_nodes is not None:
            try:
                await self.local_nodes.start()
            except BaseException:
                await self.local_nodes.stop()
                raise
        else:
            for node in self.nodes:
                await node.start()
        self._unsubscribe = [
            self.bus.on(MeetingStarted, lambda e: self.open_meeting(e.branch_id, e.meeting_id, e.meeting_type)),
            self.bus.on(MeetingEnded, lambda e: self.close_meeting(e.branch_id, e.meeting_id)),
        ]

    async def stop(self) -> None:
        """Stop every node (closing peers, flushing open segments) and task."""
        self.running = False
        self._stopping.set()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self.local_nodes is not None:
            await self.local_nodes.stop()
        else:
            for node in self.nodes:
                await node.stop()
        if self._run_recordings:
            await self.recordings.stop()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run `coro` in the background; a failure is logged, never swallowed."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("media plane task failed", exc_info=task.exception())

    def alert(self, branch_id: int | None, kind: str, message: str) -> None:
        log.warning("alert %s (branch %s): %s", kind, branch_id, message)
        self.bus.publish(AlertRaised(branch_id=branch_id, kind=kind, message=message))

    # -- routing ----------------------------------------------------------------------------------
    def node_for(self, branch_id: int) -> MediaNode:
        """The node holding `branch_id` while it is up and can carry it, else
        the rendezvous choice among the nodes that are up and have room for
        another hall (and from then on the one holding it). A hall held by a
        node that filled up while it was away (its own node died and came
        back) goes where there is room, instead of being refused there."""
        node = self._holder.get(branch_id)
        if node is not None and node.up and (branch_id in node.held_branches() or self._has_room(node)):
            return node
        up = [n for n in self.nodes if n.up]
        if not up:
            raise Unavailable("no media node is up (they are restarting); retry in a few seconds")
        roomy = [n for n in up if self._has_room(n)]
        node = self._holder[branch_id] = rendezvous(branch_id, roomy or up)
        return node

    def _has_room(self, node: MediaNode) -> bool:
        return len(node.held_branches()) < self.settings.max_publishers_per_process

    def _holding(self, branch_id: int) -> MediaNode | None:
        node = self._holder.get(branch_id)
        return node if node is not None and node.up else None

    def _node_died(self, node: MediaNode) -> None:
        """A node's process died (its halls are already shown offline): its
        halls will publish again; their meetings are opened on their next node."""
        for branch_id, holder in list(self._holder.items()):
            if holder is node:
                del self._holder[branch_id]
        for branch_id, (on, _) in list(self._recording_on.items()):
            if on is node:
                del self._recording_on[branch_id]
                self._serial(branch_id, self._keep_meeting)

    # -- state for the wall --------------------------------------------------------------------
    def stream_state(self, branch_id: int) -> str:
        for node in self.nodes:
            state = node.stream_state(branch_id)
            if state != OFFLINE:
                return state
        return OFFLINE

    def viewers(self, branch_id: int) -> int:
        return sum(node.viewers(branch_id) for node in self.nodes)

    async def counters(self) -> list[dict[str, Any]]:
        """Each node's counters (benchmarks, diagnostics); a node that is
        down is left out."""
        return [await node.counters() for node in self.nodes if node.up]

    def node_status(self) -> list[dict[str, Any]]:
        """Each node, its supervision state (local node processes) and the
        branches it carries: for operators and diagnostics."""
        out: list[dict[str, Any]] = []
        for i, node in enumerate(self.nodes):
            row: dict[str, Any] = {"name": node.name, "up": node.up, "branches": sorted(node.held_branches())}
            if self.local_nodes is not None:
                sup = self.local_nodes.supervision[i]
                proc = self.local_nodes.processes[i]
                row.update(state=str(sup.state), restarts=sup.restarts, failures=sup.failures,
                           pid=proc.pid if proc is not None else None)
            else:
                row.update(state="up" if node.up else "stopped", restarts=0, failures=0, pid=None)
            out.append(row)
        return out

    def request_keyframe(self, branch_id: int) -> None:
        node = self._holding(branch_id)
        if node is not None:
            node.request_keyframe(branch_id)

    # -- meetings ----------------------------------------------------------------------------------
    def _recording_now(self) -> set[str]:
        return {meeting[0] for meeting in list(self._meetings.values())}

    def open_meeting(self, branch_id: int, meeting_id: str, meeting_type: str = "default") -> None:
        """Record `branch_id` into `meeting_id` (also after a restart mid-meeting:
        the control plane calls this for every open meeting)."""
        current = self._meetings.get(branch_id)
        if current is not None and current[0] == meeting_id:
            return
        self._meetings[branch_id] = (meeting_id, meeting_type)
        self._serial(branch_id, self._keep_meeting)

    def close_meeting(self, branch_id: int, meeting_id: str) -> None:
        current = self._meetings.get(branch_id)
        if current is None or current[0] != meeting_id:
            return
        del self._meetings[branch_id]
        self._serial(branch_id, lambda b: self._close_meeting(b, meeting_id))

    def _serial(self, branch_id: int, op: Callable[[int], Coroutine[Any, Any, None]]) -> None:
        """Run the meeting operations of one branch one after the other."""
        previous = self._ops.get(branch_id)

        async def run() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            await op(branch_id)

        task = self._ops[branch_id] = self.spawn(run())
        task.add_done_callback(lambda t: self._ops.pop(branch_id, None) if self._ops.get(branch_id) is t
                               else None)

    async def _keep_meeting(self, branch_id: int) -> None:
        """Open the branch's meeting on the node that carries it, until it is
        open there; each failure is an alert, then a retry with backoff."""
        delay, failures = RETRY_FIRST, 0
        while self.running:
            meeting = self._meetings.get(branch_id)
            if meeting is None:
                return
            try:
                node = self.node_for(branch_id)
                before = self._recording_on.get(branch_id)
                if before == (node, meeting):
                    return
                if before is not None and before[0] is not node and before[0].up:
                    # the hall moved to another node while both are up: the old one
                    # lets the meeting go without ending it (it goes on here)
                    await before[0].close_meeting(branch_id, before[1][0], end=False)
                    del self._recording_on[branch_id]
                await node.open_meeting(branch_id, *meeting)
                self._recording_on[branch_id] = (node, meeting)
                if failures:
                    log.info("branch %s: recording of meeting %s started after %d failures",
                             branch_id, meeting[0], failures)
                continue  # the meeting or the node may have changed meanwhile
            except Exception as exc:  # noqa: BLE001 - alerted and retried, never dropped
                failures += 1
                message = (f"branch {branch_id}: recording of meeting {meeting[0]} could not start "
                           f"({exc}); retrying in {delay:g} s. If this persists, check the database "
                           "and the recordings disk")
                if failures == 1:
                    self.alert(branch_id, "recording_start_failed", message)
                else:
                    log.warning(message)
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
                return
            except TimeoutError:
                delay = min(RETRY_MAX, delay * 2)

    async def _close_meeting(self, branch_id: int, meeting_id: str) -> None:
        entry = self._recording_on.pop(branch_id, None)
        if entry is None:
            return
        ended = utcnow()
        try:
            if entry[0].up:
                await entry[0].close_meeting(branch_id, meeting_id)
            else:  # its node is gone: only the index is left to close
                await asyncio.to_thread(lambda: self.recordings.end_meeting(meeting_id=meeting_id,
                                                                            ended_at=ended))
        except Exception as exc:  # noqa: BLE001 - alerted: the end time may be missing
            self.alert(branch_id, "recording_stop_failed",
                       f"branch {branch_id}: ending the recording of meeting {meeting_id} failed "
                       f"({exc}); the recording index may lack its end time")

    # -- WHIP ------------------------------------------------------------------------------------
    async def _device(self, token: str, branch_id: int) -> int:
        device = await self.auth.device_for_token(token)
        if device is None:
            raise MediaAuthError(401, "unknown device token; re-enrol the edge device")
        device_id, device_branch = device
        if device_branch != branch_id:
            raise MediaAuthError(403, f"this device belongs to branch {device_branch}; "
                                      f"publish to /whip/{device_branch}")
        return device_id

    async def publish(self, branch_id: int, token: str, body: bytes) -> tuple[str, str]:
        if not self.running:
            raise Unavailable("the media plane is not running; retry in a few seconds")
        device_id = await self._device(token, branch_id)
        sdp = decode_offer(body, self.settings.max_sdp_bytes)
        check_publish_offer(sdp)
        check_transport(sdp)
        node = self.node_for(branch_id)
        meeting = self._meetings.get(branch_id)
        if meeting is not None and self._recording_on.get(branch_id) != (node, meeting):
            # a hall that moved to this node mid-meeting: recording is ready for its first frame
            self._serial(branch_id, self._keep_meeting)
            op = self._ops.get(branch_id)
            if op is not None:
                await asyncio.wait([op], timeout=5)
        return await node.publish(branch_id, device_id, sdp)

    async def unpublish(self, branch_id: int, session_id: str, token: str) -> None:
        device = await self.auth.device_for_token(token)
        if device is None:
            raise MediaAuthError(401, "unknown device token; re-enrol the edge device")
        node = self._holding(branch_id)
        if node is None:
            raise NotFound(f"no WHIP session {session_id} on branch {branch_id}; it has ended")
        if device[1] != branch_id:
            raise MediaAuthError(403, "this session belongs to another device")
        await node.unpublish(branch_id, device[0], session_id)

    # -- WHEP --------------------------------------------------------------------------------------
    async def view(self, who: MediaViewer, branch_id: int, body: bytes) -> tuple[str, str]:
        """A WHEP session for `who` on the node carrying the branch; talkback
        only when `who.can_act`."""
        if not self.running:
            raise Unavailable("the media plane is not running; retry in a few seconds")
        await self.auth.may_view(who, branch_id)
        sdp = decode_offer(body, self.settings.max_sdp_bytes)
        check_transport(sdp)
        return await self.node_for(branch_id).view(who, branch_id, sdp)

    async def unview(self, who: MediaViewer, branch_id: int, session_id: str) -> None:
        node = self._holding(branch_id)
        if node is None:
            raise NotFound(f"no WHEP session {session_id} on branch {branch_id}; it has ended")
        await node.unview(who, branch_id, session_id)
