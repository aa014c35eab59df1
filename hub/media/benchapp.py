"""A bare hub around the media plane for benchmarks (and the crash test).

Never part of a deployment: `BenchAuth` lets token `dev-<n>` publish branch
<n> and any `X-User` (or `user` cookie) watch. Run with

    MEDIA_BENCH_DATA=/tmp/x uvicorn --factory hub.media.benchapp:create_app --host 127.0.0.1
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, Request

from hub.db import Base, make_engine, make_session_factory
from hub.events import EventBus, MeetingStarted
from hub.media.config import MediaSettings
from hub.media.errors import MediaAuthError
from hub.media.plane import MediaPlane


class BenchAuth:
    async def device_for_token(self, token: str) -> tuple[int, int] | None:
        if token.startswith("dev-") and token[4:].isdigit():
            return int(token[4:]), int(token[4:])
        return None

    async def viewer_for_request(self, request: Request, branch_id: int) -> str:
        user = request.headers.get("x-user") or request.cookies.get("user")
        if not user:
            raise MediaAuthError(401, "send X-User (or a 'user' cookie)")
        return user

    async def audit(self, actor: str, action: str, branch_id: int, detail: str = "") -> None:
        pass


def create_app() -> FastAPI:
    data = Path(os.environ["MEDIA_BENCH_DATA"])
    settings = MediaSettings(**json.loads(os.environ.get("MEDIA_BENCH_SETTINGS", "{}")))
    engine = make_engine(f"sqlite:///{data / 'hub.db'}")
    Base.metadata.create_all(engine)
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
        try:
            yield
        finally:
            await plane.stop()
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(profile_path)

    app = FastAPI(lifespan=lifespan)
    app.include_router(plane.router)

    @app.post("/bench/meetings/{branch_id}/{meeting_id}")
    async def start_meeting(branch_id: int, meeting_id: str) -> dict[str, str]:
        bus.publish(MeetingStarted(branch_id=branch_id, meeting_id=meeting_id, meeting_type="bench",
                                   topic="bench", started_at=datetime.now(UTC)))
        return {"meeting_id": meeting_id}

    @app.get("/bench/stats")
    async def stats(reset_lag: bool = False) -> dict[str, object]:
        lag = max_lag[0] = max(max_lag[0], plane.loop_lag)
        if reset_lag:
            max_lag[0] = 0.0
        branches = list(plane.branches.values())
        return {
            "max_loop_lag": lag,
            "live": sum(1 for b in branches if b.state == "live"),
            "video_frames": sum(b.video_frames for b in branches),
            "recorded_frames": sum(b.recorder.frames for b in branches if b.recorder is not None),
            "recorded_segments": sum(b.recorded_segments for b in branches),
            "rtp_packets_lost": sum(b.publisher.video.loss_stats()[1] for b in branches
                                    if b.publisher is not None and b.publisher.video is not None),
            "frames_dropped_incomplete": sum(b.publisher.video._assembler.dropped for b in branches
                                             if b.publisher is not None and b.publisher.video is not None),
            "branches": {
                b.branch_id: {"state": b.state, "video_frames": b.video_frames,
                              "recorded_segments": b.recorded_segments}
                for b in branches
            },
        }

    return app
