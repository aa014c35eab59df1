"""A bare hub app around the media plane, run by uvicorn in a subprocess for
the crash test and the benchmark (auth faked: it is the lead's concern).

    MEDIA_TEST_DATA=/tmp/x uvicorn --factory tests.hub.media.hubapp:create_app
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
from hub.media import MediaAuthError, MediaPlane, MediaSettings


class OpenAuth:
    """Device token 'dev-<branch>' publishes branch <branch>; any X-User views."""

    async def device_for_token(self, token: str) -> tuple[int, int] | None:
        if token.startswith("dev-") and token[4:].isdigit():
            return int(token[4:]), int(token[4:])
        return None

    async def viewer_for_request(self, request: Request, branch_id: int) -> str:
        user = request.headers.get("x-user")
        if not user:
            raise MediaAuthError(401, "log in first")
        return user

    async def audit(self, actor: str, action: str, branch_id: int, detail: str = "") -> None:
        pass


def create_app() -> FastAPI:
    data = Path(os.environ["MEDIA_TEST_DATA"])
    settings = MediaSettings(**json.loads(os.environ.get("MEDIA_TEST_SETTINGS", "{}")))
    engine = make_engine(f"sqlite:///{data / 'hub.db'}")
    Base.metadata.create_all(engine)
    bus = EventBus()
    plane = MediaPlane(settings, data, bus, OpenAuth(), make_session_factory(engine))

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

    @app.post("/test/meetings/{branch_id}/{meeting_id}")
    async def start_meeting(branch_id: int, meeting_id: str) -> dict[str, str]:
        bus.publish(MeetingStarted(branch_id=branch_id, meeting_id=meeting_id, meeting_type="branch",
                                   topic="test", started_at=datetime.now(UTC)))
        return {"ok": meeting_id}

    @app.get("/test/stats")
    async def stats() -> dict[str, object]:
        return {
            "lag": plane.loop_lag,
            "branches": {
                b.branch_id: {"state": b.state, "video_frames": b.video_frames,
                              "recorded_frames": (b.recorder.frames if b.recorder else 0),
                              "recorded_segments": b.recorded_segments}
                for b in plane.branches.values()
            },
        }

    return app
