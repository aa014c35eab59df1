"""A media worker process: one MediaPlane owning a share of the branches.

Started by `MediaWorkers` (main process) with multiprocessing's spawn
context; serves the live routes on 127.0.0.1 only, for the main process to
proxy to. Authentication and auditing stay in the main process: it
authenticates each request, then forwards it with the shared secret and
the result (`X-Branchlive-Internal`, `X-Branchlive-Device`,
`X-Branchlive-User`); audits, bus events and metrics flow back as JSON
lines on `GET /internal/events`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from hub.events import AlertRaised, EventBus, KeyframeRequested, StreamStateChanged
from hub.media.auth import MediaViewer
from hub.media.config import MediaSettings
from hub.media.errors import MediaAuthError

INTERNAL = "x-branchlive-internal"
FORWARDED_EVENTS = (StreamStateChanged, KeyframeRequested, AlertRaised)


class TrustedAuth:
    """Accepts what the main process vouches for with the shared secret."""

    def __init__(self, secret: str, outbox: asyncio.Queue[dict[str, Any]]) -> None:
        self._secret = secret
        self._outbox = outbox

    async def device_for_token(self, token: str) -> tuple[int, int] | None:
        # the main process rewrites the bearer token to internal:<secret>:<device>:<branch>
        parts = token.split(":")
        if len(parts) != 4 or parts[0] != "internal" or not secrets.compare_digest(parts[1], self._secret):
            return None
        return int(parts[2]), int(parts[3])

    @property
    def identify(self) -> Callable[..., MediaViewer]:
        secret = self._secret

        def vouched(request: Request) -> MediaViewer:
            if not secrets.compare_digest(request.headers.get(INTERNAL, ""), secret):
                raise MediaAuthError(401, "media workers only take requests from the hub")
            h = request.headers
            return MediaViewer(user=h.get("x-branchlive-user", ""), operator_id=int(h.get("x-branchlive-operator") or 0),
                               can_act=h.get("x-branchlive-act") == "1")

        return vouched

    async def may_view(self, viewer: MediaViewer, branch_id: int) -> None:
        return None  # the main process checked the scope

    def watch(self, viewer: MediaViewer, close: Callable[[], None]) -> Callable[[], None]:
        return lambda: None  # the main process ends the view when the session ends

    async def audit(self, actor: str, action: str, branch_id: int, detail: str = "") -> None:
        self._outbox.put_nowait({"type": "audit", "actor": actor, "action": action,
                                 "branch_id": branch_id, "detail": detail})


def create_worker_app(index: int, settings: MediaSettings, data_dir: Path, database_url: str,
                      secret: str) -> FastAPI:
    from hub.db import make_engine, make_session_factory
    from hub.media.plane import MediaPlane

    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    bus = EventBus()
    factory = make_session_factory(make_engine(database_url))
    plane = MediaPlane(settings.model_copy(update={"workers": 1}), data_dir, bus,
                       TrustedAuth(secret, outbox), factory, worker_index=index)

    def forward(event: Any) -> None:
        outbox.put_nowait({"type": type(event).__name__, **dataclasses.asdict(event)})

    for kind in FORWARDED_EVENTS:
        bus.on(kind, forward)

    async def metrics_loop() -> None:
        from hub.media.metrics import CpuMeter

        cpu = CpuMeter()
        last: dict[int, tuple[int, int]] = {}
        then = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            dt, then = now - then, now
            branches = {}
            for b in list(plane.branches.values()):
                frames0, bytes0 = last.get(b.branch_id, (b.video_frames, b.bytes_in))
                last[b.branch_id] = (b.video_frames, b.bytes_in)
                loss = 0.0
                if b.publisher is not None and b.publisher.video is not None:
                    expected, lost = b.publisher.video.loss_stats()
                    loss = lost / expected if expected else 0.0
                branches[b.branch_id] = {
                    "fps": (b.video_frames - frames0) / dt, "bps": 8 * (b.bytes_in - bytes0) / dt,
                    "loss": loss, "viewers": len(b.viewers), "recorded_bytes": b.recorded_bytes}
            outbox.put_nowait({"type": "metrics", "worker": index, "loop_lag": plane.loop_lag,
                               "cpu": cpu.percent(), "branches": branches})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        bus.bind_loop(asyncio.get_running_loop())
        await plane.start()
        task = asyncio.create_task(metrics_loop())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await plane.stop()

    app = FastAPI(lifespan=lifespan)
    app.include_router(plane.router)

    def check(request: Request) -> None:
        if not secrets.compare_digest(request.headers.get(INTERNAL, ""), secret):
            raise MediaAuthError(401, "media workers only take requests from the hub")

    @app.get("/internal/events")
    async def events(request: Request) -> StreamingResponse:
        check(request)

        async def lines() -> AsyncIterator[bytes]:
            yield b'{"type": "hello"}\n'
            while True:
                item = await outbox.get()
                yield json.dumps(item, default=str).encode() + b"\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.get("/internal/counters")
    async def counters(request: Request) -> dict[str, Any]:
        check(request)
        return plane.counters()

    @app.post("/internal/meetings/{branch_id}")
    async def meeting(branch_id: int, request: Request) -> dict[str, str]:
        check(request)
        body = await request.json()
        if body.get("open"):
            plane.open_meeting(branch_id, body["meeting_id"], body.get("meeting_type", "default"))
        else:
            plane.close_meeting(branch_id, body["meeting_id"])
        return {"ok": "yes"}

    return app


def run_worker(index: int, port: int, settings_json: str, data_dir: str, database_url: str,
               secret: str) -> None:
    """Process entry point (multiprocessing spawn target)."""
    import uvicorn

    app = create_worker_app(index, MediaSettings.model_validate_json(settings_json), Path(data_dir),
                            database_url, secret)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
