"""A media node process: one in-process node (hub/media/engine.py) behind
the media plane's own routes, for the hub to reach as a `RemoteNode`.

Started by the supervisor (hub/media/supervisor.py) with multiprocessing's
spawn context; binds 127.0.0.1 port 0 itself and reports the port on the
pipe it was given. Authentication and auditing stay in the hub: it
authenticates each request, then forwards it with the shared secret and
the result (`X-Branchlive-Internal`, `X-Branchlive-User`, the internal
device token); audits, bus events and the monitor's reports flow back as
JSON lines on `GET /internal/events`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import StreamingResponse

from hub.events import AlertRaised, EventBus, KeyframeRequested, StreamStateChanged
from hub.media.auth import MediaViewer
from hub.media.config import MediaSettings
from hub.media.errors import MediaAuthError, Unavailable
from hub.media.remote import INTERNAL
from hub.media.views import MediaRoute
from hub.runtime import settle_after_startup

log = logging.getLogger(__name__)

FORWARDED_EVENTS = (StreamStateChanged, KeyframeRequested, AlertRaised)
OUTBOX_LIMIT = 10_000  # the hub reads continuously; past this it is gone and we are dying anyway


class TrustedAuth:
    """Accepts what the hub vouches for with the shared secret."""

    def __init__(self, secret: str, outbox: asyncio.Queue[dict[str, Any]]) -> None:
        self._secret = secret
        self._outbox = outbox

    async def device_for_token(self, token: str) -> tuple[int, int] | None:
        # the hub rewrites the bearer token to internal:<secret>:<device>:<branch>
        parts = token.split(":")
        if len(parts) != 4 or parts[0] != "internal" or not secrets.compare_digest(parts[1], self._secret):
            return None
        return int(parts[2]), int(parts[3])

    @property
    def identify(self) -> Callable[..., MediaViewer]:
        secret = self._secret

        def vouched(request: Request) -> MediaViewer:
            if not secrets.compare_digest(request.headers.get(INTERNAL, ""), secret):
                raise MediaAuthError(401, "media nodes only take requests from the hub")
            h = request.headers
            return MediaViewer(user=h.get("x-branchlive-user", ""),
                               operator_id=int(h.get("x-branchlive-operator") or 0),
                               can_act=h.get("x-branchlive-act") == "1")

        return vouched

    async def may_view(self, viewer: MediaViewer, branch_id: int) -> None:
        return None  # the hub checked the scope

    def watch(self, viewer: MediaViewer, close: Callable[[], None]) -> Callable[[], None]:
        return lambda: None  # the hub ends the view when the session ends

    async def audit(self, actor: str, action: str, branch_id: int, detail: str = "") -> None:
        _put(self._outbox, {"type": "audit", "actor": actor, "action": action,
                            "branch_id": branch_id, "detail": detail})


def _put(outbox: asyncio.Queue[dict[str, Any]], item: dict[str, Any]) -> None:
    try:
        outbox.put_nowait(item)
    except asyncio.QueueFull:
        pass


def create_node_app(name: str, settings: MediaSettings, data_dir: Path, database_url: str,
                    secret: str) -> FastAPI:
    from hub.db import make_engine, make_session_factory
    from hub.media.plane import MediaPlane

    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(OUTBOX_LIMIT)
    bus = EventBus()
    factory = make_session_factory(make_engine(database_url))
    plane = MediaPlane(settings.model_copy(update={"workers": 1}), data_dir, bus,
                       TrustedAuth(secret, outbox), factory, node_name=name, run_recordings=False)
    engine = plane.engine
    assert engine is not None

    def forward(event: Any) -> None:
        _put(outbox, {"type": type(event).__name__, **dataclasses.asdict(event)})

    for kind in FORWARDED_EVENTS:
        bus.on(kind, forward)
    engine.on_report = lambda report: _put(outbox, {"type": "metrics", "report": report})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        bus.bind_loop(asyncio.get_running_loop())
        await plane.start()
        try:
            yield
        finally:
            await plane.stop()

    app = FastAPI(lifespan=lifespan)
    app.include_router(plane.router)
    internal = APIRouter(route_class=MediaRoute)

    def check(request: Request) -> None:
        if not secrets.compare_digest(request.headers.get(INTERNAL, ""), secret):
            raise MediaAuthError(401, "media nodes only take requests from the hub")

    @internal.get("/internal/events")
    async def events(request: Request) -> StreamingResponse:
        check(request)

        async def lines() -> AsyncIterator[bytes]:
            yield b'{"type": "hello"}\n'
            while True:
                item = await outbox.get()
                yield json.dumps(item, default=str).encode() + b"\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @internal.get("/internal/counters")
    async def counters(request: Request) -> dict[str, Any]:
        check(request)
        return await engine.counters()

    @internal.post("/internal/keyframe/{branch_id}")
    async def keyframe(branch_id: int, request: Request) -> dict[str, str]:
        check(request)
        engine.request_keyframe(branch_id)
        return {"ok": "yes"}

    @internal.post("/internal/meetings/{branch_id}")
    async def meeting(branch_id: int, request: Request) -> dict[str, str]:
        check(request)
        body = await request.json()
        try:
            if body.get("open"):
                await engine.open_meeting(branch_id, body["meeting_id"], body.get("meeting_type", "default"))
            else:
                await engine.close_meeting(branch_id, body["meeting_id"], end=body.get("end", True) is not False)
        except Exception as exc:  # noqa: BLE001 - the hub alerts and retries
            raise Unavailable(f"media node {name}: the meeting could not be "
                              f"{'opened' if body.get('open') else 'closed'} ({exc!r})") from None
        return {"ok": "yes"}

    app.include_router(internal)
    return app


def run_node(name: str, settings_json: str, data_dir: str, database_url: str, secret: str,
             report_port: Connection) -> None:
    """Process entry point (multiprocessing spawn target): bind port 0, tell
    the hub which port it got, serve."""
    import uvicorn

    # its own session: a terminal's Ctrl-C reaches the hub alone, which stops its
    # nodes in order (flushing their segments) instead of every node at once
    os.setsid()
    exit_with_parent(os.getppid())
    app = create_node_app(name, MediaSettings.model_validate_json(settings_json), Path(data_dir),
                          database_url, secret)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)  # the hub may connect at once: it waits in the backlog until we serve
    report_port.send(sock.getsockname()[1])
    report_port.close()
    settle_after_startup()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    asyncio.run(server.serve(sockets=[sock]))


def exit_with_parent(parent: int, *, poll_s: float = 1.0, grace_s: float = 30.0) -> threading.Thread:
    """Stop this node when the hub that started it is gone (killed with
    SIGKILL: it could not stop its nodes). An orphaned node would go on
    answering its halls' WHIP sessions and recording where the restarted hub
    cannot see it. SIGTERM first (uvicorn runs the engine's stop: open
    segments are flushed), then exit after `grace_s`. Written by hand: the
    kernel's PR_SET_PDEATHSIG is not in the standard library and fires when
    the spawning thread ends, not the process."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        log.warning("media node: the hub (pid %s) is gone; stopping", parent)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_s)
        os._exit(1)

    thread = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    thread.start()
    return thread
