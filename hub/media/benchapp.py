"""A bare hub around the media plane for benchmarks (and the crash test).

Never part of a deployment: `BenchAuth` lets token `dev-<n>` publish branch
<n> and any `X-User` (or `user` cookie) watch. Run with

    MEDIA_BENCH_DATA=/tmp/x uvicorn --factory hub.media.benchapp:create_app --host 127.0.0.1
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, Request

from hub.auth.principal import OperatorPrincipal
from hub.db import make_engine, make_session_factory, migrate
from hub.errors import Unauthorized, install_handlers
from hub.events import EventBus, MeetingStarted
from hub.media.auth import MediaViewer
from hub.media.config import MediaSettings
from hub.media.errors import MediaAuthError
from hub.media.plane import MediaPlane
from hub.runtime import settle_after_startup


def _bench_viewer(request: Request) -> MediaViewer:
    user = request.headers.get("x-user") or request.cookies.get("user")
    if not user:
        raise MediaAuthError(401, "send X-User (or a 'user' cookie)")
    return MediaViewer(user=user, operator_id=0, can_act=True)


class BenchAuth:
    async def device_for_token(self, token: str) -> tuple[int, int] | None:
        if token.startswith("dev-") and token[4:].isdigit():
            return int(token[4:]), int(token[4:])
        return None

    @property
    def identify(self) -> Callable[..., MediaViewer]:
        return _bench_viewer

    async def may_view(self, viewer: MediaViewer, branch_id: int) -> None:
        return None

    def watch(self, viewer: MediaViewer, close: Callable[[], None]) -> Callable[[], None]:
        return lambda: None

    async def audit(self, actor: str, action: str, branch_id: int, detail: str = "") -> None:
        pass


def _bench_operator(request: Request) -> OperatorPrincipal:
    user = request.headers.get("x-user") or request.cookies.get("user")
    if not user:
        raise Unauthorized("send X-User (or a 'user' cookie)")
    return OperatorPrincipal(id=0, username=user, display_name=user, role="county_admin", scope_id=0,
                             scope_path="/")


def _mount_recordings(app: FastAPI, plane: MediaPlane) -> None:
    """The recordings domain's real routes with the bench's open auth."""
    from hub.api.deps import get_operator
    from hub.recordings import views

    install_handlers(app)
    app.include_router(views.router)
    app.dependency_overrides[views.get_recordings] = lambda: plane.recordings
    app.dependency_overrides[get_operator] = _bench_operator
    app.dependency_overrides[views.get_scope_check] = lambda: lambda op, branch_id: True
    app.dependency_overrides[views.get_device_auth] = lambda: lambda token: (
        (int(token[4:]), int(token[4:])) if token.startswith("dev-") and token[4:].isdigit() else None)
    app.dependency_overrides[views.get_audit_log] = lambda: lambda *args: None


def create_app() -> FastAPI:
    data = Path(os.environ["MEDIA_BENCH_DATA"])
    settings = MediaSettings(**json.loads(os.environ.get("MEDIA_BENCH_SETTINGS", "{}")))
    engine = make_engine(f"sqlite:///{data / 'hub.db'}")
    migrate(engine)  # the real schema, every domain's tables
    bus = EventBus()
    plane = MediaPlane(settings, data, bus, BenchAuth(), make_session_factory(engine))
    max_lag = [0.0]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        bus.bind_loop(asyncio.get_running_loop())
        profile_path = os.environ.get("MEDIA_BENCH_PROFILE")
        profiler = None
        if profile_path:  # cProfile of the event-loop thread, written at shutdown
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        await plane.start()
        settle_after_startup()  # as the hub and its media nodes do
        try:
            yield
        finally:
            await plane.stop()
            if profiler is not None and profile_path:
                profiler.disable()
                profiler.dump_stats(profile_path)

    app = FastAPI(lifespan=lifespan)
    app.include_router(plane.router)
    _mount_recordings(app, plane)

    @app.post("/bench/meetings/{branch_id}/{meeting_id}")
    async def start_meeting(branch_id: int, meeting_id: str) -> dict[str, str]:
        bus.publish(MeetingStarted(branch_id=branch_id, meeting_id=meeting_id, meeting_type="bench",
                                   topic="bench", started_at=datetime.now(UTC)))
        return {"meeting_id": meeting_id}

    if os.environ.get("MEDIA_BENCH_TRACEMALLOC"):  # memory per stream, by allocation site
        import tracemalloc

        tracemalloc.start(int(os.environ["MEDIA_BENCH_TRACEMALLOC"]))

        @app.get("/bench/memory")
        def memory(top: int = 40) -> list[str]:
            snapshot = tracemalloc.take_snapshot()
            total = sum(s.size for s in snapshot.statistics("filename"))
            stats = snapshot.statistics("traceback")
            return [f"traced {total / 2**20:.1f} MB"] + [
                f"{s.size / 2**20:8.2f} MB {s.count:8d} " + " <- ".join(
                    f"{f.filename.rsplit('site-packages/', 1)[-1]}:{f.lineno}"
                    for f in reversed(s.traceback[-4:]))  # most recent call first
                for s in stats[:top]]

    @app.get("/bench/stats")
    async def stats(reset_lag: bool = False) -> dict[str, object]:
        parts = await plane.counters()
        lag = max_lag[0] = max(max_lag[0], *(p["loop_lag"] for p in parts))
        if reset_lag:
            max_lag[0] = 0.0
        total: dict[str, object] = {"max_loop_lag": lag, "branches": {}}
        for part in parts:
            for key in ("live", "video_frames", "recorded_frames", "recorded_segments",
                        "rtp_packets_lost", "frames_dropped_incomplete"):
                total[key] = int(total.get(key, 0)) + part[key]  # type: ignore[call-overload]
            total["branches"].update(part["branches"])  # type: ignore[attr-defined]
        return total

    return app
