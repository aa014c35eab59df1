"""FastAPI dependencies as `Annotated` aliases. Tests override these, never
module globals."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated

from fastapi import Depends, Request, WebSocket
from sqlalchemy.orm import Session

from hub.auth import service as auth_service
from hub.auth.principal import OperatorPrincipal
from hub.context import HubContext
from hub.db import READ_ONLY, read_session, session_scope
from hub.errors import Unauthorized

SESSION_COOKIE = "bl_session"
READS = ("GET", "HEAD")


def get_ctx(request: Request) -> HubContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


def get_session(request: Request) -> Iterator[Session]:
    with session_scope(get_ctx(request).session_factory) as session:
        if request.method in READS:
            # On SQLite a GET reads a snapshot without the write lock, so it
            # never queues behind an import (hub.db: read-only sessions).
            session.connection(execution_options={READ_ONLY: True})
        yield session


def bearer_or_cookie(headers: Mapping[str, str], cookies: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return str(auth[7:].strip())
    return cookies.get(SESSION_COOKIE)


def get_operator(request: Request) -> OperatorPrincipal:
    token = bearer_or_cookie(request.headers, request.cookies)
    principal = None
    if token:
        # A read-only session of its own: on SQLite it takes no write lock, so
        # signing in never waits for an import or upload to commit.
        with read_session(get_ctx(request).session_factory) as session:
            principal = auth_service.resolve(session, token)
    if principal is None:
        raise Unauthorized("Sign in first (POST /api/v1/auth/login), or your session has expired.")
    return principal


def operator_for_websocket(ctx: HubContext, websocket: WebSocket) -> OperatorPrincipal | None:
    token = bearer_or_cookie(websocket.headers, websocket.cookies) or websocket.query_params.get("token")
    if not token:
        return None
    with ctx.session_factory() as session:
        return auth_service.resolve(session, token)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


Ctx = Annotated[HubContext, Depends(get_ctx)]
# scope="function": the session commits (or rolls back) when the route
# returns, before the response is sent, so a client that reads its own
# write right after always finds it.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
CurrentOperator = Annotated[OperatorPrincipal, Depends(get_operator)]
