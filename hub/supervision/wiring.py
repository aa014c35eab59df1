"""The supervision package's wiring: its routers and background tasks.
Kept out of __init__ so that hub.config can import
hub.supervision.config without pulling in the views (import cycle)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from fastapi import APIRouter

from hub.supervision import models as _models  # noqa: F401  (registers the tables)
from hub.supervision.compliance import scheduler
from hub.supervision.compliance.views import router as compliance_router
from hub.supervision.config import SupervisionSettings, settings_for
from hub.supervision.notices.views import router as notices_router
from hub.supervision.notifications.dispatcher import Dispatcher
from hub.supervision.notifications.views import router as notifications_router
from hub.supervision.plans.views import router as plans_router
from hub.supervision.rectification.views import router as rectification_router
from hub.supervision.reports.views import router as reports_router
from hub.supervision.scoresheets import service as scoresheets
from hub.supervision.scoresheets.views import router as scoresheets_router
from hub.supervision.spotchecks.views import router as spotchecks_router

if TYPE_CHECKING:
    from hub.context import HubContext

log = logging.getLogger(__name__)

routers: list[APIRouter] = [
    compliance_router, plans_router, rectification_router, notices_router, scoresheets_router, spotchecks_router,
    notifications_router, reports_router,
]

__all__ = ["routers", "start", "stop"]


def _install_defaults(ctx: HubContext) -> None:
    with ctx.session_factory() as session:
        scoresheets.ensure_default_template(session)
        session.commit()


async def _compliance_loop(ctx: HubContext, sup: SupervisionSettings) -> None:
    try:
        await asyncio.to_thread(_install_defaults, ctx)
    except Exception:
        log.exception("could not install the default score sheet")
    await scheduler.run_forever(ctx.session_factory, ctx.settings, sup, ctx.bus)


def start(ctx: HubContext) -> list[asyncio.Task[None]]:
    """Background work: the compliance scheduler (reminders, unmet alerts,
    headcount flags) and the SMS dispatcher. Call from the lifespan."""
    sup = settings_for(ctx)
    dispatcher = Dispatcher(ctx.session_factory, sup.sms)
    return [
        asyncio.create_task(_compliance_loop(ctx, sup), name="supervision-compliance"),
        asyncio.create_task(dispatcher.run_forever(), name="supervision-sms"),
    ]


async def stop(tasks: list[asyncio.Task[None]]) -> None:
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
