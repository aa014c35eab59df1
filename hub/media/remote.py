"""A media node in another process or on another machine, behind the
MediaNode interface: requests go over HTTP with the hub's shared secret
(hub/media/workerapp.py serves them), and the node's stream states,
keyframe requests, alerts, audits and metrics come back on one event
stream (`GET /internal/events`, JSON lines).

The object outlives the process behind it: the supervisor attaches it to
each new process (`attach`) and detaches it when the process dies
(`detach`), which marks every branch it held offline at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import httpx

from hub.events import AlertRaised, Event, EventBus, KeyframeRequested, StreamStateChanged
from hub.media import metrics
from hub.media.auth import MediaAuth, MediaViewer
from hub.media.branch import LIVE, OFFLINE
from hub.media.errors import MediaError, Unavailable

log = logging.getLogger(__name__)

INTERNAL = "x-branchlive-internal"
_EVENTS: dict[str, type[Event]] = {
    "StreamStateChanged": StreamStateChanged,
    "KeyframeRequested": KeyframeRequested,
    "AlertRaised": AlertRaised,
}


def rebuild_event(message: dict[str, Any]) -> Event | None:
    kind = _EVENTS.get(message.get("type", ""))
    if kind is None:
        return None
    return kind(**{k: v for k, v in message.items() if k != "type"})


def viewer_headers(viewer: MediaViewer) -> dict[str, str]:
    """The identity the hub vouches for to a media node."""
    return {"x-branchlive-user": viewer.user, "x-branchlive-operator": str(viewer.operator_id),
            "x-branchlive-act": "1" if viewer.can_act else "0"}


class RemoteNode:
    """A media node reached over HTTP (implements hub.media.node.MediaNode)."""

    def __init__(self, name: str, secret: str, bus: EventBus, auth: MediaAuth) -> None:
        self.name = name
        self._secret = secret
        self._bus = bus
        self._auth = auth
        self._client: httpx.AsyncClient | None = None
        self._pump: asyncio.Task[None] | None = None
        self._states: dict[int, str] = {}
        self._viewers: dict[int, int] = {}
        self._watches: dict[str, Callable[[], None]] = {}
        self._recorded: dict[int, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.base_url: str | None = None

    @property
    def up(self) -> bool:
        return self._client is not None and self._pump is not None and not self._pump.done()

    # -- lifecycle (driven by the supervisor) ----------------------------------------------
    async def start(self) -> None:
        """Nothing to do: the supervisor attaches the node to its process."""

    async def stop(self) -> None:
        await self.detach(died=False)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def attach(self, base_url: str, timeout: float = 60.0) -> None:
        """Connect to the node process at `base_url`; returns once its event
        stream answered (raises Unavailable otherwise)."""
        await self.detach(died=False)
        self.base_url = base_url
        self._client = httpx.AsyncClient(base_url=base_url, headers={INTERNAL: self._secret},
                                         timeout=httpx.Timeout(30.0, read=None))
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pump = asyncio.create_task(self._read_events(self._client, ready), name=f"node-{self.name}")
        try:
            await asyncio.wait_for(asyncio.shield(ready), timeout)
        except (TimeoutError, Exception) as exc:
            await self.detach(died=False)
            raise Unavailable(f"media node {self.name} did not answer at {base_url} ({exc!r})") from None

    async def detach(self, *, died: bool) -> None:
        """Forget the process. Every branch it showed as live or stalled is
        offline from now on (a dead node's halls are never shown live)."""
        pump, self._pump = self._pump, None
        client, self._client = self._client, None
        if pump is not None:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
        if client is not None:
            await client.aclose()
        for branch_id, state in sorted(self._states.items()):
            if state != OFFLINE:
                metrics.STATE.labels(str(branch_id)).set(0)
                self._bus.publish(StreamStateChanged(branch_id=branch_id, state=OFFLINE))
        self._states.clear()
        self._viewers.clear()
        self._recorded.clear()
        for unwatch in self._watches.values():
            unwatch()
        self._watches.clear()
        if died:
            log.warning("media node %s died; its halls are offline until they publish again", self.name)

    async def _read_events(self, client: httpx.AsyncClient, ready: asyncio.Future[None]) -> None:
        try:
            async with client.stream("GET", "/internal/events") as response:
                response.raise_for_status()
                async for line in response.aiter_lines():
                    message = json.loads(line)
                    if message["type"] == "hello":
                        if not ready.done():
                            ready.set_result(None)
                        continue
                    self._on_message(message)
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
                return
            log.info("event stream of media node %s ended: %r", self.name, exc)
        if not ready.done():
            ready.set_exception(Unavailable("the event stream ended before it began"))

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "audit":
            self._spawn(self._auth.audit(message["actor"], message["action"], message["branch_id"],
                                         message.get("detail", "")))
        elif kind == "metrics":
            report = message["report"]
            metrics.apply_report(report, forwarded=self._recorded)
            self._viewers = {int(k): v["viewers"] for k, v in report.get("branches", {}).items()}
        else:
            event = rebuild_event(message)
            if isinstance(event, StreamStateChanged):
                self._states[event.branch_id] = event.state
                metrics.STATE.labels(str(event.branch_id)).set(1 if event.state == LIVE else 0)
            if event is not None:
                self._bus.publish(event)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- requests ------------------------------------------------------------------------------
    async def _request(self, method: str, path: str, *, body: bytes = b"",
                       headers: dict[str, str] | None = None) -> httpx.Response:
        client = self._client
        if client is None:
            raise Unavailable(f"media node {self.name} is restarting; retry in a few seconds")
        try:
            response = await client.request(method, path, content=body, headers=headers or {})
        except httpx.TransportError as exc:
            raise Unavailable(f"media node {self.name} is not reachable ({exc!r}); retry in a few "
                              "seconds, and check the hub log") from None
        if response.status_code >= 400:
            try:
                problem = response.json()
                raise MediaError(problem["detail"], status=response.status_code)
            except (ValueError, KeyError):
                raise MediaError(response.text or f"media node {self.name} error",
                                 status=response.status_code) from None
        return response

    def _device_token(self, device_id: int, branch_id: int) -> str:
        return f"internal:{self._secret}:{device_id}:{branch_id}"

    async def publish(self, branch_id: int, device_id: int, offer: str) -> tuple[str, str]:
        r = await self._request("POST", f"/whip/{branch_id}", body=offer.encode(), headers={
            "authorization": f"Bearer {self._device_token(device_id, branch_id)}",
            "content-type": "application/sdp"})
        return r.headers["location"].rsplit("/", 1)[1], r.text

    async def unpublish(self, branch_id: int, device_id: int, session_id: str) -> None:
        await self._request("DELETE", f"/whip/{branch_id}/{session_id}", headers={
            "authorization": f"Bearer {self._device_token(device_id, branch_id)}"})

    async def view(self, who: MediaViewer, branch_id: int, offer: str) -> tuple[str, str]:
        r = await self._request("POST", f"/whep/{branch_id}", body=offer.encode(), headers={
            **viewer_headers(who), "content-type": "application/sdp"})
        session_id = r.headers["location"].rsplit("/", 1)[1]
        # logout, expiry or deactivation of the operator ends the view
        self._watches[session_id] = self._auth.watch(
            who, lambda: self._spawn(self._end_view(who, branch_id, session_id)))
        return session_id, r.text

    async def _end_view(self, who: MediaViewer, branch_id: int, session_id: str) -> None:
        try:
            await self.unview(who, branch_id, session_id)
        except MediaError as exc:  # the view may have ended on its own
            log.info("closing WHEP session %s on node %s: %s", session_id, self.name, exc)

    async def unview(self, who: MediaViewer, branch_id: int, session_id: str) -> None:
        unwatch = self._watches.pop(session_id, None)
        if unwatch is not None:
            unwatch()
        await self._request("DELETE", f"/whep/{branch_id}/{session_id}", headers=viewer_headers(who))

    def request_keyframe(self, branch_id: int) -> None:
        async def send() -> None:
            try:
                await self._request("POST", f"/internal/keyframe/{branch_id}")
            except MediaError as exc:
                log.info("keyframe request for branch %s on node %s: %s", branch_id, self.name, exc)

        self._spawn(send())

    async def open_meeting(self, branch_id: int, meeting_id: str, meeting_type: str) -> None:
        await self._meeting(branch_id, {"open": True, "meeting_id": meeting_id, "meeting_type": meeting_type})

    async def close_meeting(self, branch_id: int, meeting_id: str, *, end: bool = True) -> None:
        await self._meeting(branch_id, {"open": False, "meeting_id": meeting_id, "end": end})

    async def _meeting(self, branch_id: int, body: dict[str, Any]) -> None:
        await self._request("POST", f"/internal/meetings/{branch_id}", body=json.dumps(body).encode(),
                            headers={"content-type": "application/json"})

    # -- state ---------------------------------------------------------------------------------
    def stream_state(self, branch_id: int) -> str:
        return self._states.get(branch_id, OFFLINE)

    def viewers(self, branch_id: int) -> int:
        return self._viewers.get(branch_id, 0)

    def held_branches(self) -> set[int]:
        return {b for b, state in self._states.items() if state != OFFLINE}

    async def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = (await self._request("GET", "/internal/counters")).json()
        return result
