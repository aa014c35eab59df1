"""The edge agent's WebSocket link to the hub (`WS /ws/edge`).

One visible state machine:

    OFFLINE --> ENROLLING --> CONNECTING --> HANDSHAKE --> ONLINE
       ^          |  (4xx)         | (401)       |            |
       |          v                v             |            |
       |   ENROLMENT_FAILED   AUTH_FAILED        |            |
       +------ (backoff) <------(error/close) ---+------------+
    any --stop--> STOPPED

While ONLINE three tasks share the socket: the receiver (acks, roster,
commands), the sender (drains the outbox in order with a bounded window of
unacknowledged messages) and the heartbeat (health with rtt, and the
watchdog that drops a link whose acks stopped coming). A refused token
(HTTP 401) is retried only every `auth_retry_s`; other failures follow the
`Backoff` policy. Every await has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from devices.agent import protocol
from devices.agent.backoff import Backoff
from devices.agent.enrol import EnrolmentRefused, enrol, read_token, write_token
from devices.agent.errors import EnrolmentError, ProtocolError, StoreError, UplinkError
from devices.agent.outbox import AckOutcome, Outbox
from devices.agent.roster import RosterCache

log = logging.getLogger(__name__)

def _release() -> str:
    try:
        return version("branchlive")
    except PackageNotFoundError:
        return "0.0.0+source"


AGENT_VERSION = _release()  # the installed release, reported in hello (hub's fleet view)


class UplinkState(StrEnum):
    OFFLINE = "offline"
    ENROLLING = "enrolling"
    ENROLMENT_FAILED = "enrolment_failed"
    CONNECTING = "connecting"
    HANDSHAKE = "handshake"
    ONLINE = "online"
    AUTH_FAILED = "auth_failed"
    STOPPED = "stopped"


@dataclass
class UplinkConfig:
    ws_url: str
    enrol_url: str
    token_path: Path
    token: str | None = None
    enrolment_code: str | None = None
    heartbeat_s: float = 10.0
    connect_timeout_s: float = 10.0
    auth_retry_s: float = 300.0
    send_timeout_s: float = 10.0
    window: int = 32
    # WebSocket pings: a silently cut link (no FIN, no RST) is noticed
    # within ping_interval_s + ping_timeout_s.
    ping_interval_s: float = 2.0
    ping_timeout_s: float = 4.0
    close_timeout_s: float = 2.0  # a dead link never answers our close frame
    agent_version: str = AGENT_VERSION
    settings_digest: str | None = None
    backoff: Backoff = field(default_factory=Backoff)

    @property
    def ack_timeout_s(self) -> float:
        """An ack older than this means the link is dead even if TCP says not."""
        return max(3 * self.heartbeat_s, 2 * self.send_timeout_s)


HealthFn = Callable[[], dict[str, Any]]
Callback = Callable[..., Any]


async def _call(fn: Callback | None, *args: Any, timeout: float = 10.0) -> None:
    """Call a sync or async callback; never let it break the link."""
    if fn is None:
        return
    try:
        result = fn(*args)
        if inspect.isawaitable(result):
            await asyncio.wait_for(result, timeout)
    except Exception:  # a broken callback must not drop the uplink
        log.exception("uplink callback %r failed", fn)


class Uplink:
    def __init__(
        self,
        config: UplinkConfig,
        outbox: Outbox,
        roster: RosterCache,
        *,
        health: HealthFn | None = None,
        on_keyframe: Callback | None = None,
        on_ack: Callable[[AckOutcome], Awaitable[None] | None] | None = None,
        on_welcome: Callable[[protocol.Welcome], Any] | None = None,
        on_branch_state: Callable[[protocol.BranchState], Any] | None = None,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.roster = roster
        self.health = health or (lambda: {})
        self.on_keyframe = on_keyframe
        # Further hub commands by name (e.g. "sync_fingerprints"), wired by the app.
        self.command_handlers: dict[str, Callback] = {}
        self.on_ack = on_ack
        self.on_welcome = on_welcome
        self.on_branch_state = on_branch_state
        self.state = UplinkState.OFFLINE
        self.last_error: str | None = None
        self.rtt_ms: float | None = None
        self.welcome: protocol.Welcome | None = None
        self._listeners: list[Callable[[UplinkState], None]] = []
        self._wake = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._sent_at: dict[str, float] = {}
        self._inflight: set[str] = set()
        outbox.on_change(self._wake.set)

    # -- state ------------------------------------------------------------
    def on_state(self, fn: Callable[[UplinkState], None]) -> None:
        self._listeners.append(fn)

    def _set(self, state: UplinkState, error: str | None = None) -> None:
        if error is not None or state is UplinkState.ONLINE:
            self.last_error = error
        if state is self.state:
            return
        log.info("uplink %s -> %s%s", self.state, state, f" ({error})" if error else "")
        self.state = state
        for fn in list(self._listeners):
            fn(state)

    async def wait_state(self, state: UplinkState, timeout: float = 10.0) -> None:
        """Wait until the uplink is in `state` (for tests and the CLI)."""
        if self.state is state:
            return
        reached = asyncio.Event()
        self.on_state(lambda s: reached.set() if s is state else None)
        await asyncio.wait_for(reached.wait(), timeout)

    # -- main loop ----------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Keep the link up until `stop` is set."""
        try:
            while not stop.is_set():
                delay = await self._attempt(stop)
                if delay is None:
                    continue
                if await _sleep_or_stop(stop, delay):
                    break
        finally:
            self._set(UplinkState.STOPPED)

    async def _attempt(self, stop: asyncio.Event) -> float | None:
        """One try at getting online; returns the delay before the next one."""
        backoff = self.config.backoff
        token = await self._token()
        if token is None:
            if self.state is UplinkState.ENROLMENT_FAILED:
                return self.config.auth_retry_s
            return backoff.next_delay()
        try:
            await self._session(token, stop)
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 401:
                self._set(UplinkState.AUTH_FAILED, "hub refused the device token (HTTP 401)")
                return self.config.auth_retry_s
            self._set(UplinkState.OFFLINE, f"hub answered HTTP {status} to the handshake")
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            if code == 4401:
                self._set(UplinkState.AUTH_FAILED, "hub revoked the device token (close 4401)")
                return self.config.auth_retry_s
            if code == 4000:
                self._set(UplinkState.OFFLINE, "replaced by another agent using the same token")
            else:
                self._set(UplinkState.OFFLINE, f"link to the hub lost: {exc!r}")
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            self._set(UplinkState.OFFLINE, f"link to the hub lost: {exc!r}")
        except (UplinkError, StoreError) as exc:
            self._set(UplinkState.OFFLINE, str(exc))
        if stop.is_set():
            return None
        return backoff.next_delay()

    async def _token(self) -> str | None:
        cfg = self.config
        if cfg.token:
            return cfg.token
        token = await read_token(cfg.token_path)
        if token:
            return token
        if not cfg.enrolment_code:
            self._set(
                UplinkState.ENROLMENT_FAILED,
                "no device token and no enrolment code: set BRANCHLIVE_EDGE_ENROLMENT_CODE",
            )
            return None
        self._set(UplinkState.ENROLLING)
        try:
            result = await enrol(cfg.enrol_url, cfg.enrolment_code, timeout=cfg.connect_timeout_s)
        except EnrolmentRefused as exc:
            self._set(UplinkState.ENROLMENT_FAILED, str(exc))
            return None
        except EnrolmentError as exc:
            self._set(UplinkState.OFFLINE, str(exc))
            return None
        await write_token(cfg.token_path, result.token)
        log.info("enrolled as device %s of branch %s", result.device_id, result.branch_id)
        return result.token

    async def _session(self, token: str, stop: asyncio.Event) -> None:
        cfg = self.config
        self._set(UplinkState.CONNECTING)
        ws = await asyncio.wait_for(
            connect(
                cfg.ws_url,
                additional_headers={"Authorization": f"Bearer {token}"},
                open_timeout=cfg.connect_timeout_s,
                ping_interval=cfg.ping_interval_s,
                ping_timeout=cfg.ping_timeout_s,
                close_timeout=cfg.close_timeout_s,
                proxy=None,
                max_size=4 * 1024 * 1024,
            ),
            cfg.connect_timeout_s + 1,
        )
        self._sent_at.clear()
        self._inflight.clear()
        try:
            self._set(UplinkState.HANDSHAKE)
            await self._send(
                ws, protocol.hello(cfg.agent_version, self.roster.version, cfg.settings_digest), acked=False
            )
            await self._await_welcome(ws)
            self._ws = ws
            cfg.backoff.reset()
            self._set(UplinkState.ONLINE)
            await self._online(ws, stop)
        finally:
            self._ws = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), self.config.close_timeout_s + 1)

    async def _await_welcome(self, ws: ClientConnection) -> None:
        deadline = time.monotonic() + self.config.connect_timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise UplinkError("hub did not answer hello with welcome in time")
            frame = await asyncio.wait_for(ws.recv(), left)
            if isinstance(frame, bytes):
                continue
            message = protocol.parse_hub_message(frame)
            if isinstance(message, protocol.Welcome):
                self.welcome = message
                await _call(self.on_welcome, message)
                return
            await self._handle(ws, message)

    async def _online(self, ws: ClientConnection, stop: asyncio.Event) -> None:
        tasks = [
            asyncio.create_task(self._receiver(ws), name="uplink-receiver"),
            asyncio.create_task(self._sender(ws), name="uplink-sender"),
            asyncio.create_task(self._heartbeat(ws), name="uplink-heartbeat"),
            asyncio.create_task(stop.wait(), name="uplink-stop"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_all(tasks)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    # -- the three online tasks ---------------------------------------------
    async def _send(
        self, ws: ClientConnection, message: dict[str, Any], *, acked: bool = True
    ) -> None:
        """Send one message; `acked` ones are timed for rtt and the watchdog."""
        if acked:
            self._sent_at[message["id"]] = time.monotonic()
        await asyncio.wait_for(ws.send(protocol.dumps(message)), self.config.send_timeout_s)

    async def _receiver(self, ws: ClientConnection) -> None:
        while True:
            frame = await asyncio.wait_for(ws.recv(), self.config.ack_timeout_s + 5)
            if isinstance(frame, bytes):
                continue  # the hub sends no binary frames today
            try:
                message = protocol.parse_hub_message(frame)
            except ProtocolError as exc:
                log.warning("ignoring a bad message from the hub: %s", exc)
                continue
            await self._handle(ws, message)

    async def _handle(self, ws: ClientConnection, message: protocol.HubMessage) -> None:
        if isinstance(message, protocol.Ack):
            sent = self._sent_at.pop(message.id, None)
            if sent is not None:
                self.rtt_ms = round((time.monotonic() - sent) * 1000, 1)
            if message.id in self._inflight:
                self._inflight.discard(message.id)
                outcome = await self.outbox.ack(
                    message.id, ok=message.ok, duplicate=message.duplicate,
                    result=message.result, error=message.error,
                )
                if outcome.message is not None:
                    await _call(self.on_ack, outcome)
        elif isinstance(message, protocol.Roster):
            await self.roster.replace(message)
        elif isinstance(message, protocol.BranchState):
            await _call(self.on_branch_state, message)
        elif isinstance(message, protocol.Command):
            if message.name == "keyframe":
                await _call(self.on_keyframe)
            elif message.name == "sync_roster":
                # Ask again as if we had no roster: the hub answers with one.
                await self._send(
                    ws, protocol.hello(self.config.agent_version, None, self.config.settings_digest), acked=False
                )
            elif message.name in self.command_handlers:
                await _call(self.command_handlers[message.name])
            else:
                log.warning("ignoring unknown hub command %r", message.name)

    async def _sender(self, ws: ClientConnection) -> None:
        last_seq = 0
        while True:
            room = self.config.window - len(self._inflight)
            self._wake.clear()
            batch = await self.outbox.pending(after_seq=last_seq, limit=room) if room > 0 else []
            if not batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.config.heartbeat_s)
                continue
            for message in batch:
                self._inflight.add(message.id)
                await self._send(ws, message.to_wire())
                last_seq = message.seq
            await self.outbox.mark_sent([m.id for m in batch])

    async def _heartbeat(self, ws: ClientConnection) -> None:
        while True:
            oldest = min(self._sent_at.values(), default=None)
            if oldest is not None and time.monotonic() - oldest > self.config.ack_timeout_s:
                raise UplinkError(
                    f"hub sent no ack for {self.config.ack_timeout_s:.0f} s; reconnecting"
                )
            health = dict(self.health())
            health["rtt_ms"] = self.rtt_ms
            health["outbox_pending"] = await self.outbox.count_pending()
            await self._send(ws, protocol.heartbeat(health))
            await asyncio.sleep(self.config.heartbeat_s)

    # -- thumbnails -----------------------------------------------------------
    async def send_thumbnail(self, jpeg: bytes, taken_at: float) -> bool:
        """Send one thumbnail if online; dropped otherwise (the next replaces it)."""
        ws = self._ws
        if ws is None or self.state is not UplinkState.ONLINE:
            return False
        try:
            frame = bytes(protocol.Thumbnail.new(jpeg, taken_at))
        except ValueError as exc:
            log.warning("thumbnail not sent: %s", exc)
            return False
        try:
            await asyncio.wait_for(ws.send(frame), self.config.send_timeout_s)
        except (ConnectionClosed, TimeoutError, OSError):
            return False
        return True


async def cancel_all(tasks: list[asyncio.Task[Any]], *, rounds: int = 10) -> None:
    """Cancel tasks and wait for them, cancelling again if one swallowed it
    (Python 3.11's `wait_for` can lose a cancel that races its inner await)."""
    pending = {t for t in tasks if not t.done()}
    for _ in range(rounds):
        if not pending:
            return
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
    if pending:
        log.error("tasks still running after cancel: %s", [t.get_name() for t in pending])


async def _sleep_or_stop(stop: asyncio.Event, delay: float) -> bool:
    """Sleep `delay` s; True if `stop` was set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), delay)
    except TimeoutError:
        return False
    return True
