"""Adapts the hub's devices, operators and audit trail to the media plane's
MediaAuth protocol (the media plane knows none of them)."""

from __future__ import annotations

import asyncio

from fastapi import Request

from hub.api.deps import bearer_or_cookie
from hub.audit import service as audit
from hub.auth import service as auth_service
from hub.context import HubContext
from hub.devices import service as devices
from hub.organisations.models import OrgUnit


class HubMediaAuth:
    def __init__(self, ctx: HubContext) -> None:
        self.ctx = ctx

    async def device_for_token(self, token: str) -> tuple[int, int] | None:
        def work() -> tuple[int, int] | None:
            with self.ctx.session_factory() as s:
                device = devices.authenticate(s, token)
                return (device.id, device.branch_id) if device else None

        return await asyncio.to_thread(work)

    async def viewer_for_request(self, request: Request, branch_id: int) -> str:
        from hub.media.plane import MediaAuthError

        token = bearer_or_cookie(request.headers, request.cookies)

        def work() -> str:
            with self.ctx.session_factory() as s:
                op = auth_service.resolve(s, token) if token else None
                if op is None:
                    raise MediaAuthError(401, "Sign in to the hub before opening a live view.")
                branch = s.get(OrgUnit, branch_id)
                if branch is None or not op.can_see(branch.path):
                    raise MediaAuthError(403, "This branch is outside your area.")
                return op.username

        return await asyncio.to_thread(work)

    async def audit(self, actor: str, action: str, branch_id: int, detail: str = "") -> None:
        def work() -> None:
            with self.ctx.session_factory() as s:
                audit.record(s, actor=actor, action=action, target=f"branch:{branch_id}", branch_id=branch_id,
                             detail={"detail": detail} if detail else {})
                s.commit()

        await asyncio.to_thread(work)
