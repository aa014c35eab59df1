"""FastAPI dependencies as `Annotated` aliases. Tests override these, never
module globals. The operator identity lives in hub/auth/deps.py (one for
every route); it is re-exported here for the domain views."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from hub.auth.deps import (
    SESSION_COOKIE,
    CountyAdmin,
    CurrentOperator,
    OperatorRole,
    SignedInOperator,
    bearer_or_cookie,
    client_address,
    get_operator,
    get_signed_in,
    require_county_admin,
    require_operator_role,
)
from hub.context import HubContext
from hub.db import READ_ONLY, session_scope

READS = ("GET", "HEAD")

__all__ = [
    "SESSION_COOKIE", "CountyAdmin", "CurrentOperator", "Ctx", "OperatorRole", "SessionDep", "SignedInOperator",
    "bearer_or_cookie", "client_address", "get_ctx", "get_operator", "get_session", "get_signed_in",
    "require_county_admin", "require_operator_role",
]


def get_ctx(request: Request) -> HubContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


def get_session(request: Request) -> Iterator[Session]:
    with session_scope(get_ctx(request).session_factory) as session:
        if request.method in READS:
            # On SQLite a GET reads a snapshot without the write lock, so it
            # never queues behind an import (hub.db: read-only sessions).
            session.connection(execution_options={READ_ONLY: True})
        yield session


Ctx = Annotated[HubContext, Depends(get_ctx)]
# scope="function": the session commits (or rolls back) when the route
# returns, before the response is sent, so a client that reads its own
# write right after always finds it.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
