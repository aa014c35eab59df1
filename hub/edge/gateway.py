"""`WS /ws/edge`: one connection per hall agent (docs/protocols/edge-ws.md).

Owns the live connections, the latest health and thumbnail of each hall,
and pushes rosters and commands down. Durable work goes to EdgeWriter."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from sqlalchemy import or_, update
from starlette.websockets import WebSocketState

from hub.context import HubContext
from hub.db import session_scope, utcnow
from hub.devices import service as devices
from hub.devices.models import Device
from hub.edge import branch_state
from hub.edge import protocol as p
from hub.edge.writer import EdgeWriter
from hub.errors import problem
from hub.events import (
    CheckInRecorded,
    DeviceConnected,
    DeviceDisconnected,
    DeviceHealthReported,
    KeyframeRequested,
    LeaveFiled,
    MeetingEnded,
    MeetingScheduled,
    MeetingStarted,
    RosterChanged,
    ThumbnailUpdated,
)
from hub.members import service as members
from hub.organisations.models import OrgUnit

log = logging.getLogger(__name__)
SEND_TIMEOUT = 10.0
BRANCH_STATE_EVENTS = (MeetingScheduled, MeetingStarted, MeetingEnded, CheckInRecorded, LeaveFiled, RosterChanged)
BRANCH_STATE_DELAY = 0.1  # coalesce a burst of check-ins into one push per branch
# How often a connected hall's last-heard time is written to the database
# (devices.last_seen_at); the API reads the live value of a connected hall.
LAST_SEEN_WRITE_EVERY = 60.0


@dataclass
class EdgeConnection:
    websocket: WebSocket
    device_id: int
    branch_id: int
    branch_name: str
    last_seen: float  # monotonic: for the silence watchdog
    lock: asyncio.Lock
    last_heard_at: datetime | None = None  # wall clock of the last frame: 最后在线
    last_written: float = 0.0  # monotonic time last_heard_at was last written to the database

    async def send(self, message: dict[str, Any]) -> None:
        async with self.lock:
            await asyncio.wait_for(self.websocket.send_text(json.dumps(message, ensure_ascii=False)), SEND_TIMEOUT)


class EdgeGateway:
    def __init__(self, ctx: HubContext) -> None:
        self.ctx = ctx
        self.writer = EdgeWriter(ctx)
        self.connections: dict[int, EdgeConnection] = {}
        self.health: dict[int, dict[str, Any]] = {}
        self.thumbnails: dict[int, tuple[bytes, datetime]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: list[Any] = []
        self._watchdog: asyncio.Task[None] | None = None
        self._state_due: set[int] = set()  # branches whose branch_state push is scheduled
        self.clock = utcnow  # wall clock of "last heard from" (tests set their own)

    # ---- lifecycle -------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.writer.start()
        bus = self.ctx.bus
        self._unsubscribe = [
            bus.on(KeyframeRequested, lambda e: self._spawn(self.command(e.branch_id, "keyframe"))),
            bus.on(RosterChanged, lambda e: self._spawn(self.push_roster(e.branch_id))),
            *[bus.on(kind, self._on_branch_event) for kind in BRANCH_STATE_EVENTS],
        ]
        self._watchdog = asyncio.create_task(self._watch_silence(), name="edge-watchdog")

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        if self._watchdog:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
        for conn in list(self.connections.values()):
            with contextlib.suppress(Exception):
                await conn.websocket.close(1001, "hub shutting down")
        await self.writer.stop()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def online_branches(self) -> set[int]:
        return {c.branch_id for c in self.connections.values()}

    def disconnect_device_threadsafe(self, device_id: int) -> None:
        conn = self.connections.get(device_id)
        if conn is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._spawn, conn.websocket.close(4401, "device token revoked"))

    # ---- down-link -------------------------------------------------------
    async def command(self, branch_id: int, name: str) -> None:
        for conn in list(self.connections.values()):
            if conn.branch_id == branch_id:
                with contextlib.suppress(Exception):
                    await conn.send({"type": "command", "id": f"cmd-{time.time_ns()}", "ts": time.time(), "name": name})

    def _note_agent(self, device_id: int, hello: p.Hello) -> None:
        """Keep what the agent says it runs, for the fleet view (best effort:
        a database hiccup must not cost the hall its roster)."""
        try:
            with session_scope(self.ctx.session_factory) as s:
                device = s.get(Device, device_id)
                if device is not None:
                    device.agent_version = hello.agent_version or None
                    device.settings_digest = hello.settings_digest
        except Exception as exc:
            log.warning("could not note device %s's agent version: %s", device_id, exc)

    def _roster_message(self, branch_id: int) -> dict[str, Any]:
        with self.ctx.session_factory() as s:
            rows = members.roster(s, branch_id)
            version = members.roster_version(s, branch_id)
        return {"type": "roster", "id": f"roster-{time.time_ns()}", "ts": time.time(), "version": version,
                "members": [{"id": m.id, "member_no": m.member_no, "name": m.name, "status": m.status,
                             "excused": m.excused, "committee": m.committee} for m in rows]}

    async def push_roster(self, branch_id: int) -> None:
        conns = [c for c in self.connections.values() if c.branch_id == branch_id]
        if not conns:
            return
        message = await asyncio.to_thread(self._roster_message, branch_id)
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.send(message)

    def _on_branch_event(self, event: Any) -> None:
        self._branch_changed(int(event.branch_id))

    def _branch_changed(self, branch_id: int) -> None:
        if branch_id in self._state_due or not any(c.branch_id == branch_id for c in self.connections.values()):
            return
        self._state_due.add(branch_id)
        asyncio.get_running_loop().call_later(BRANCH_STATE_DELAY, lambda: self._spawn(self.push_branch_state(branch_id)))

    def _branch_state(self, branch_id: int) -> dict[str, Any]:
        with self.ctx.session_factory() as s:
            return branch_state.build(s, self.ctx.settings, branch_id)

    async def push_branch_state(self, branch_id: int, only: EdgeConnection | None = None) -> None:
        """The branch's open meeting, schedule and attendance numbers to its devices."""
        if only is None:
            self._state_due.discard(branch_id)
        conns = [only] if only is not None else [c for c in self.connections.values() if c.branch_id == branch_id]
        if not conns:
            return
        message = await asyncio.to_thread(self._branch_state, branch_id)
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.send(message)

    # ---- the socket ------------------------------------------------------
    def _authenticate(self, token: str) -> tuple[Device, str] | None:
        with self.ctx.session_factory() as s:
            device = devices.authenticate(s, token)
            if device is None:
                return None
            device.last_seen_at = self.clock()
            branch = s.get(OrgUnit, device.branch_id)
            s.commit()
            return device, branch.name if branch else ""

    async def endpoint(self, websocket: WebSocket) -> None:
        auth = websocket.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        found = await asyncio.to_thread(self._authenticate, token) if token else None
        if found is None:
            await websocket.send_denial_response(problem(
                401, "Device not authorised",
                "The device token is missing, wrong or revoked. Enrol the agent again with a new code from the county.",
                "unauthorized"))
            return
        device, branch_name = found
        await websocket.accept()
        conn = EdgeConnection(websocket, device.id, device.branch_id, branch_name, time.monotonic(), asyncio.Lock(),
                              last_heard_at=device.last_seen_at, last_written=time.monotonic())
        old = self.connections.get(device.id)
        self.connections[device.id] = conn
        if old is not None:
            with contextlib.suppress(Exception):
                await old.websocket.close(4000, "replaced by a newer connection")
        self.ctx.bus.publish(DeviceConnected(device.branch_id, device.id))
        try:
            await self._serve(conn)
        except WebSocketDisconnect:
            pass
        except Exception:
            log.exception("edge connection of device %s failed", device.id)
        finally:
            if self.connections.get(device.id) is conn:
                del self.connections[device.id]
                self.ctx.bus.publish(DeviceDisconnected(device.branch_id, device.id))
            # A task of its own: the endpoint may be being cancelled.
            self._spawn(asyncio.to_thread(self._write_last_seen, conn.device_id, conn.last_heard_at))
            if websocket.client_state != WebSocketState.DISCONNECTED:
                with contextlib.suppress(Exception):
                    await websocket.close()

    async def _serve(self, conn: EdgeConnection) -> None:
        while True:
            frame = await conn.websocket.receive()
            if frame["type"] == "websocket.disconnect":
                return
            conn.last_seen = time.monotonic()
            conn.last_heard_at = self.clock()
            if conn.last_seen - conn.last_written >= LAST_SEEN_WRITE_EVERY:
                conn.last_written = conn.last_seen
                self._spawn(asyncio.to_thread(self._write_last_seen, conn.device_id, conn.last_heard_at))
            if frame.get("bytes") is not None:
                self._thumbnail(conn, frame["bytes"])
                continue
            try:
                msg = p.parse_text(frame.get("text") or "")
            except p.ProtocolError as exc:
                if exc.message_id:
                    await conn.send(p.ack(exc.message_id, ok=False, error={"code": "bad_message", "detail": exc.detail}))
                else:
                    log.warning("device %s sent an unreadable message: %s", conn.device_id, exc.detail)
                    await conn.send(p.error("bad_message", exc.detail))
                continue
            if msg.type in p.STORED:
                # Queued here, synchronously, so a hall's messages are applied
                # in the order it sent them (a check-in never overtakes the
                # meeting.start before it); the ack is sent when committed.
                self._spawn(self._ack_when_stored(conn, msg, self.writer.enqueue(conn.device_id, conn.branch_id, msg)))
            else:
                self._spawn(self._handle(conn, msg))

    async def _ack_when_stored(self, conn: EdgeConnection, msg: p.Envelope, stored: asyncio.Future[Any]) -> None:
        try:
            answer, duplicate = await stored
        except Exception as exc:  # database trouble: no ack, the edge keeps it and resends
            log.error("could not store %s %s from device %s: %s", msg.type, msg.id, conn.device_id, exc)
            return
        await conn.send({**answer, "duplicate": duplicate})

    async def _handle(self, conn: EdgeConnection, msg: p.Envelope) -> None:
        if isinstance(msg, p.Hello):
            await conn.send({"type": "welcome", "id": f"welcome-{msg.id}", "ts": time.time(), "device_id": conn.device_id,
                             "branch_id": conn.branch_id, "branch_name": conn.branch_name, "server_ts": time.time()})
            await asyncio.to_thread(self._note_agent, conn.device_id, msg)
            roster = await asyncio.to_thread(self._roster_message, conn.branch_id)
            if roster["version"] != msg.roster_version:
                await conn.send(roster)
            await self.push_branch_state(conn.branch_id, only=conn)
            return
        if isinstance(msg, p.Heartbeat):
            self.health[conn.branch_id] = {**msg.health, "at": time.time()}
            self.ctx.bus.publish(DeviceHealthReported(conn.branch_id, conn.device_id, dict(msg.health)))
            await conn.send(p.ack(msg.id, ok=True))

    def last_heard(self, device_id: int) -> datetime | None:
        """When a connected hall last sent anything (None if not connected)."""
        conn = self.connections.get(device_id)
        return None if conn is None else conn.last_heard_at

    def _write_last_seen(self, device_id: int, at: datetime | None) -> None:
        if at is None:
            return
        with session_scope(self.ctx.session_factory) as s:
            s.execute(update(Device).where(Device.id == device_id,
                                           or_(Device.last_seen_at.is_(None), Device.last_seen_at < at))
                      .values(last_seen_at=at))

    def _thumbnail(self, conn: EdgeConnection, data: bytes) -> None:
        try:
            header, jpeg = p.parse_thumbnail(data)
        except p.ProtocolError as exc:
            log.warning("device %s sent a bad thumbnail: %s", conn.device_id, exc.detail)
            return
        taken = header.get("taken_at")
        taken_at = datetime.fromtimestamp(float(taken), UTC) if isinstance(taken, int | float) else utcnow()
        self.thumbnails[conn.branch_id] = (jpeg, taken_at)
        self.ctx.bus.publish(ThumbnailUpdated(conn.branch_id, taken_at, len(jpeg)))

    async def _watch_silence(self) -> None:
        """A socket can stay open while the hall is gone (a pulled cable
        with no FIN): close connections silent for too long."""
        limit = self.ctx.settings.device_offline_seconds
        while True:
            await asyncio.sleep(min(5.0, limit / 3))
            now = time.monotonic()
            for conn in list(self.connections.values()):
                if now - conn.last_seen > limit:
                    log.info("device %s silent for %.0f s: closing", conn.device_id, now - conn.last_seen)
                    with contextlib.suppress(Exception):
                        await conn.websocket.close(4408, "silent too long")
