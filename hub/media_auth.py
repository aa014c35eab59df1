"""Adapts the hub's auth, devices and audit trail to the media plane's
MediaAuth protocol (hub/media/auth.py; the media plane knows none of them).

Operators are identified by the same dependency as every REST route
(`CurrentOperator`): same 401s, same `password_change_required`, role and
scope carried along."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hub.api.deps import CurrentOperator
from hub.audit import service as audit
from hub.context import HubContext
from hub.devices import service as devices
from hub.media.auth import MediaViewer
from hub.media.errors import MediaAuthError
from hub.organisations.models import OrgUnit


def identify(op: CurrentOperator) -> MediaViewer:
    op.require_watch()  # a branch secretary watches no live media (hub/auth/deps.py refuses it first)
    return MediaViewer(user=op.username, operator_id=op.id, can_act=op.can_talk, scope_path=op.scope_path,
                       session_id=op.session_id, expires_at=op.session_expires_at)


class HubMediaAuth:
    def __init__(self, ctx: HubContext) -> None:
        self.ctx = ctx

    @property
    def identify(self) -> Callable[..., MediaViewer]:
        return identify

    async def device_for_token(self, token: str) -> tuple[int, int] | None:
        def work() -> tuple[int, int] | None:
            with self.ctx.session_factory() as s:
                device = devices.authenticate(s, token)
                return (device.id, device.branch_id) if device else None

        return await asyncio.to_thread(work)

    async def may_view(self, viewer: MediaViewer, branch_id: int) -> None:
        def work() -> str | None:
            with self.ctx.session_factory() as s:
                branch = s.get(OrgUnit, branch_id)
                return branch.path if branch is not None else None

        path = await asyncio.to_thread(work)
        if path is None or not viewer.scope_path or not path.startswith(viewer.scope_path):
            raise MediaAuthError(403, "This branch is outside your area.")

    def watch(self, viewer: MediaViewer, close: Callable[[], None]) -> Callable[[], None]:
        handle = self.ctx.live.attach(operator_id=viewer.operator_id, session_id=viewer.session_id,
                                      expires_at=viewer.expires_at, close=lambda reason: close())
        return lambda: self.ctx.live.detach(handle)

    async def audit(self, actor: str, action: str, branch_id: int, detail: str = "") -> None:
        def work() -> None:
            with self.ctx.session_factory() as s:
                audit.record(s, actor=actor, action=action, target=f"branch:{branch_id}", branch_id=branch_id,
                             detail={"detail": detail} if detail else {})
                s.commit()

        await asyncio.to_thread(work)
