"""The one operator identity of every route: REST, media and sockets.

`CurrentOperator` resolves the session (bearer token or cookie) into an
`OperatorPrincipal` carrying role and scope; it answers 401 before a route
looks anything up, and 403 `password_change_required` while a generated or
reset password is unchanged (`SignedInOperator` lets that case through, for
change-password, me and logout). `OperatorRole` and `CountyAdmin` add the
role checks. Tests override these dependencies, never module globals.

The dependencies open their own short read transaction: on SQLite every
transaction holds the write lock, and a route may open its own session on
a worker thread."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from hub.auth import service
from hub.auth.principal import OperatorPrincipal
from hub.errors import Forbidden, Unauthorized

SESSION_COOKIE = "bl_session"


def bearer_or_cookie(headers: Mapping[str, str], cookies: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return str(auth[7:].strip()) or None
    return cookies.get(SESSION_COOKIE) or None


def client_address(conn: HTTPConnection) -> str:
    """The caller's address. X-Forwarded-For counts only from the
    `trusted_proxies` (hub/auth/http.py installs that middleware)."""
    return conn.client.host if conn.client else "unknown"


def _resolve(conn: HTTPConnection) -> OperatorPrincipal:
    token = bearer_or_cookie(conn.headers, conn.cookies)
    if not token:
        raise Unauthorized("Sign in first (POST /api/v1/auth/login), or your session has expired.")
    ctx = conn.app.state.ctx
    with ctx.session_factory() as session:
        principal = service.resolve(session, token)
    if principal is None:
        raise Unauthorized("Your session has ended or expired; sign in again.")
    return principal


def get_signed_in(request: Request) -> OperatorPrincipal:
    return _resolve(request)


def get_operator(request: Request) -> OperatorPrincipal:
    principal = _resolve(request)
    if principal.must_change_password:
        raise Forbidden("Choose your own password first (POST /api/v1/auth/password); the one you were given "
                        "works only for that.", code="password_change_required")
    return principal


CurrentOperator = Annotated[OperatorPrincipal, Depends(get_operator)]
SignedInOperator = Annotated[OperatorPrincipal, Depends(get_signed_in)]


def require_operator_role(op: CurrentOperator) -> OperatorPrincipal:
    """County admin or township operator: acts (writes, talkback, flags), not just views."""
    op.require_write()
    return op


def require_county_admin(op: CurrentOperator) -> OperatorPrincipal:
    op.require_admin()
    return op


OperatorRole = Annotated[OperatorPrincipal, Depends(require_operator_role)]
CountyAdmin = Annotated[OperatorPrincipal, Depends(require_county_admin)]


def socket_operator(conn: HTTPConnection) -> OperatorPrincipal:
    """The operator behind a WebSocket handshake. Browsers bring a one-time `?ticket=` (POST
    /api/v1/auth/socket-ticket); other clients an Authorization header.
    Session tokens in the URL are not accepted: URLs end up in logs."""
    ctx = conn.app.state.ctx
    ticket = conn.query_params.get("ticket")
    auth = conn.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    with ctx.session_factory() as session:
        principal: OperatorPrincipal | None = None
        if ticket:
            session_id = ctx.live.redeem_ticket(ticket)
            principal = service.resolve_session(session, session_id) if session_id is not None else None
        elif token:
            principal = service.resolve(session, token)
        if principal is None:
            raise Unauthorized("Sign in, then open the wall again (the socket takes a one-time ticket from "
                               "POST /api/v1/auth/socket-ticket).")
    if principal.must_change_password:
        raise Forbidden("Choose your own password first.", code="password_change_required")
    return principal
