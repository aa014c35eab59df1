"""Fixtures of the media-plane tests: a hub media plane on a bare FastAPI app
(auth faked: auth is the lead's; the media is real), clips, and a check
that no test leaves tasks running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from prometheus_client import make_asgi_app
from sqlalchemy.orm import Session, sessionmaker

from hub.api.deps import get_operator
from hub.auth.principal import OperatorPrincipal
from hub.db import make_engine, make_session_factory, migrate
from hub.errors import Unauthorized, install_handlers
from hub.events import Event, EventBus
from hub.media import MediaAuthError, MediaPlane, MediaSettings
from hub.media.auth import MediaViewer
from hub.recordings import views as recordings_views
from tests.hub.media.peers import Clip, make_clip

TOKENS = {"dev-1": (11, 1), "dev-1-spare": (12, 1), "dev-2": (21, 2),
          **{f"dev-{b}": (b * 10 + 1, b) for b in range(3, 9)}}
OPERATORS = {"alice": {1, 2}, "bob": {1, 2}, "carol": {2}, "victor": {1, 2}}
VIEWERS = {"victor"}  # may watch, never talk


def fake_viewer(request: Request) -> MediaViewer:
    user = request.headers.get("x-user")
    if not user or user not in OPERATORS:
        raise MediaAuthError(401, "log in first")
    return MediaViewer(user=user, operator_id=sorted(OPERATORS).index(user) + 1, can_act=user not in VIEWERS)


@dataclass
class FakeAuth:
    audits: list[tuple[str, str, int, str]] = field(default_factory=list)

    async def device_for_token(self, token: str) -> tuple[int, int] | None:
        return TOKENS.get(token)

    @property
    def identify(self) -> Callable[..., MediaViewer]:
        return fake_viewer

    async def may_view(self, viewer: MediaViewer, branch_id: int) -> None:
        if branch_id not in OPERATORS[viewer.user]:
            raise MediaAuthError(403, f"{viewer.user} may not watch branch {branch_id}")

    def watch(self, viewer: MediaViewer, close: Callable[[], None]) -> Callable[[], None]:
        return lambda: None

    async def audit(self, actor: str, action: str, branch_id: int, detail: str = "") -> None:
        self.audits.append((actor, action, branch_id, detail))


def fake_operator(request: Request) -> OperatorPrincipal:
    user = request.headers.get("x-user")
    if not user or user not in OPERATORS:
        raise Unauthorized("log in first")
    return OperatorPrincipal(id=1, username=user, display_name=user, role="county_admin", scope_id=1,
                             scope_path="/")


def mount_recordings(app: FastAPI, plane: MediaPlane,
                     audits: list[tuple[str, str, int, str]]) -> None:
    """The recordings domain's real routes, with the test's operators, scopes
    and device tokens in place of the hub's (dependency overrides)."""
    install_handlers(app)
    app.include_router(recordings_views.router)
    app.dependency_overrides[recordings_views.get_recordings] = lambda: plane.recordings
    app.dependency_overrides[get_operator] = fake_operator
    app.dependency_overrides[recordings_views.get_scope_check] = lambda: (
        lambda op, branch_id: branch_id in OPERATORS[op.username])
    app.dependency_overrides[recordings_views.get_device_auth] = lambda: TOKENS.get
    app.dependency_overrides[recordings_views.get_audit_log] = lambda: (
        lambda actor, action, branch_id, meeting_id: audits.append((actor, action, branch_id, meeting_id)))


@dataclass
class Hub:
    plane: MediaPlane
    client: httpx.AsyncClient
    bus: EventBus
    auth: FakeAuth
    events: list[Event]
    data_dir: Path
    session_factory: sessionmaker[Session]
    app: FastAPI


def make_session(data_dir: Path) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{data_dir / 'hub.db'}")
    migrate(engine)  # the real schema, every domain's tables
    return make_session_factory(engine)


@pytest.fixture(scope="session")
def h264_clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    return make_clip(tmp_path_factory.mktemp("clip-h264"), "h264")


@pytest.fixture(scope="session")
def vp8_clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    return make_clip(tmp_path_factory.mktemp("clip-vp8"), "vp8")


@pytest.fixture
def media_settings() -> MediaSettings:
    return MediaSettings(segment_seconds=1.0, min_free_bytes=0, stop_recording_free_bytes=0,
                         stall_seconds=1.5, offline_seconds=4.0)


@pytest.fixture
async def hub(tmp_path: Path, media_settings: MediaSettings) -> AsyncIterator[Hub]:
    bus = EventBus()
    bus.bind_loop(asyncio.get_running_loop())
    events: list[Event] = []
    bus.on(Event, events.append)
    auth = FakeAuth()
    factory = make_session(tmp_path)
    plane = MediaPlane(media_settings, tmp_path, bus, auth, factory)
    app = FastAPI()
    app.include_router(plane.router)
    mount_recordings(app, plane, auth.audits)
    app.mount("/metrics", make_asgi_app())
    await plane.start()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub")
    try:
        yield Hub(plane, client, bus, auth, events, tmp_path, factory, app)
    finally:
        await client.aclose()
        await plane.stop()


@pytest.fixture(autouse=True)
async def no_leftover_tasks() -> AsyncIterator[None]:
    before = set(asyncio.all_tasks())
    yield
    for _ in range(200):  # closing peers takes a moment on a busy machine
        left = [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task() and not t.done()]
        if not left:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"tasks left running: {left}")
