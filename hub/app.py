"""The hub's application factory.

`create_app(settings)` builds everything; the lifespan runs the init_* and
start_* steps in order and stops them in reverse. Tests build the app from
this factory with their own settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

from fastapi import Depends, FastAPI, WebSocket
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select

from hub import supervision
from hub.api.limits import UploadLimit, bound_parameters
from hub.attendance.views import router as attendance_router
from hub.audit.views import router as audit_router
from hub.auth import service as auth_service
from hub.auth.deps import viewers_only_read
from hub.auth.http import install_http_security
from hub.auth.models import Operator
from hub.auth.ratelimit import LoginLimiter
from hub.auth.views import router as auth_router
from hub.backup import schedule as backup_schedule
from hub.cluster.wiring import init_cluster
from hub.config import Settings
from hub.context import HubContext
from hub.db import check_connection, make_engine, make_session_factory, migrate
from hub.devices.fleet import router as fleet_router
from hub.devices.views import router as devices_router
from hub.edge.gateway import EdgeGateway
from hub.errors import Invalid, install_handlers
from hub.events import EventBus
from hub.fingerprints.views import router as fingerprints_router
from hub.meetings.views import router as meetings_router
from hub.members.views import router as members_router
from hub.organisations import service as org_service
from hub.organisations.views import router as org_router
from hub.supervision.config import settings_for
from hub.wall.state import WallState
from hub.wall.views import router as wall_router

log = logging.getLogger(__name__)
MAX_UPLOAD = 20 * 1024 * 1024  # the largest spreadsheet import; evidence has its own setting


def dashboard_dir() -> Path | None:
    """The operators' pages, installed as the `dashboard` package's data."""
    try:
        path = Path(str(resources.files("dashboard")))
    except ModuleNotFoundError:
        return None
    return path if (path / "index.html").is_file() else None


def init_database(settings: Settings) -> HubContext:
    engine = make_engine(settings.resolved_database_url)
    check_connection(engine)
    migrate(engine)
    return HubContext(settings=settings, engine=engine, session_factory=make_session_factory(engine), bus=EventBus(),
                      limiter=LoginLimiter.from_settings(settings, settings.login_attempts_per_minute),
                      enrol_limiter=LoginLimiter.from_settings(settings, settings.enrol_attempts_per_minute))


def init_first_admin(ctx: HubContext) -> None:
    """A brand-new hub gets a county root and one county admin, so someone can sign in."""
    with ctx.session_factory() as s:
        if s.scalar(select(Operator).limit(1)) is not None:
            return
        root = org_service.root(s) or org_service.create_unit(s, name="县委组织部", kind="county", parent_id=None)
        password = ctx.settings.admin_password or secrets.token_urlsafe(9)
        try:
            auth_service.create_operator(s, username=ctx.settings.admin_username, password=password,
                                         role="county_admin", scope_id=root.id, display_name="管理员",
                                         must_change_password=not ctx.settings.admin_password)
        except Invalid as exc:
            raise RuntimeError(f"BRANCHLIVE_ADMIN_PASSWORD (admin_password) is refused: {exc.detail} Set another "
                               "one, or leave it unset to get a one-time password in the log.") from exc
        s.commit()
        if not ctx.settings.admin_password:
            log.warning("first county admin created: user %r, password %r (to be changed at the first sign-in)",
                        ctx.settings.admin_username, password)


def init_recordings(ctx: HubContext, app: FastAPI) -> None:
    """Recordings are their own domain: served whether or not live media runs."""
    from hub.recordings.service import RecordingService
    from hub.recordings.views import router

    ctx.recordings = RecordingService(ctx.settings.media, ctx.settings.data_dir, ctx.session_factory,
                                                ctx.bus)
    app.include_router(router)


def init_media(ctx: HubContext, app: FastAPI) -> None:
    if not ctx.settings.media.enabled or not ctx.settings.cluster.serves_media:
        return
    try:
        from hub.media.plane import MediaPlane
    except ImportError:
        log.info("media plane not available in this build")
        return
    from hub.media_auth import HubMediaAuth

    ctx.media = MediaPlane(ctx.settings.media, ctx.settings.data_dir, ctx.bus, HubMediaAuth(ctx), ctx.session_factory,
                           recordings=ctx.recordings)
    app.include_router(ctx.media.router)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ctx = init_database(settings)
    init_first_admin(ctx)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx.bus.bind_loop(asyncio.get_running_loop())
        ctx.wall = WallState(ctx)
        await asyncio.to_thread(ctx.wall.load)
        ctx.wall.start()
        if cluster is not None:  # after the wall: what other nodes hold live reaches it
            await cluster.start()
        ctx.edge = EdgeGateway(ctx)
        await ctx.edge.start()
        if ctx.recordings is not None:
            await ctx.recordings.start()
        if ctx.media is not None:
            await ctx.media.start()
            # A restart in the middle of meetings: keep recording them.
            for tile in ctx.wall.tiles.values():
                if tile.meeting is not None:
                    ctx.media.open_meeting(tile.branch_id, tile.meeting["id"], tile.meeting["type"])
        ticker = asyncio.create_task(_tick(ctx))
        supervision_tasks = supervision.start(ctx)
        backups = backup_schedule.start(ctx)
        try:
            yield
        finally:
            await backup_schedule.stop(backups)
            ticker.cancel()
            await supervision.stop(supervision_tasks)
            if ctx.media is not None:
                await ctx.media.stop()
            if ctx.recordings is not None:
                await ctx.recordings.stop()
            await ctx.edge.stop()
            ctx.wall.stop()
            if cluster is not None:
                await cluster.stop()
            ctx.engine.dispose()

    app = FastAPI(title="branchlive hub", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None,  # behind sign-in: hub/auth/http.py
                  dependencies=[Depends(viewers_only_read)],
                  description="County hub: organisation, meetings, attendance, live wall, recordings.")
    app.state.ctx = ctx
    install_handlers(app)
    for router in (auth_router, org_router, members_router, devices_router, meetings_router, attendance_router,
                   audit_router, wall_router, fingerprints_router, fleet_router, *supervision.routers):
        app.include_router(router)
    app.add_api_websocket_route("/ws/edge", _edge_socket)
    init_recordings(ctx, app)
    init_media(ctx, app)
    cluster = ctx.cluster = init_cluster(settings, ctx.bus, app)
    bound_parameters(app)
    app.add_middleware(UploadLimit, max_bytes=max(MAX_UPLOAD, settings_for(ctx).evidence_max_bytes) + 1024 * 1024)
    pages = dashboard_dir()
    if pages is None:
        log.error("the operator pages (package `dashboard`) are not installed: /ui/ is missing; "
                  "reinstall with `pip install 'branchlive[hub]'` from the wheel, not a source copy")
    else:
        @app.get("/ui/supervision/", include_in_schema=False)
        @app.get("/ui/supervision", include_in_schema=False)
        def supervision_pages() -> RedirectResponse:
            return RedirectResponse("/ui/#/supervision")  # the pages live in the one dashboard shell now

        app.mount("/ui", StaticFiles(directory=pages, html=True), name="dashboard")

        @app.get("/", include_in_schema=False)
        def index() -> RedirectResponse:
            return RedirectResponse("/ui/")
    install_http_security(app, settings)
    return app


async def _edge_socket(websocket: WebSocket) -> None:
    await websocket.app.state.ctx.edge.endpoint(websocket)


async def _tick(ctx: HubContext) -> None:
    while True:
        await asyncio.sleep(30)
        if ctx.wall:
            ctx.wall.tick()
