"""What the media plane needs from the hub's auth, as a protocol (the plane
knows no operators, devices or audit trail; hub/media_auth.py adapts them).

`identify` is a FastAPI dependency: the media routes declare it, so a
caller with no session gets 401 before the route looks anything up, and the
identity carries what the caller may do (`can_act`: talk into a hall, flag
recordings; viewers only watch)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class MediaViewer:
    user: str                       # audit trail and session ownership
    operator_id: int
    can_act: bool                   # talkback and flagging: operator roles only
    scope_path: str = ""            # the organisation subtree the viewer may see
    session_id: int | None = None   # the sign-in session (its end closes the view)
    expires_at: datetime | None = None


class MediaAuth(Protocol):
    @property
    def identify(self) -> Callable[..., MediaViewer]:
        """A FastAPI dependency answering who asks (401: nobody signed in)."""
        ...

    async def device_for_token(self, token: str) -> tuple[int, int] | None: ...

    async def may_view(self, viewer: MediaViewer, branch_id: int) -> None:
        """Raise MediaAuthError (or the hub's own 403/404) outside the viewer's area."""
        ...

    def watch(self, viewer: MediaViewer, close: Callable[[], None]) -> Callable[[], None]:
        """Call `close` when the viewer's sign-in session ends; returns the
        function that stops watching."""
        ...

    async def audit(self, actor: str, action: str, branch_id: int, detail: str = "") -> None: ...
