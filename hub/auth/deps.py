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
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from hub.auth import service
from hub.auth.principal import OperatorPrincipal
from hub.db import read_session
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


def _lookup(conn: HTTPConnection, token: str) -> OperatorPrincipal | None:
    """One lookup per request, shared by the role policy and the route."""
    cached = getattr(conn.state, "operator", None)
    if cached is not None and cached[0] == token:
        return cached[1]  # type: ignore[no-any-return]
    ctx = conn.app.state.ctx
    # A read-only session of its own: on SQLite it takes no write lock, so
    # signing in never waits for an import or upload to commit.
    with read_session(ctx.session_factory) as session:
        principal = service.resolve(session, token)
    conn.state.operator = (token, principal)
    return principal


def _resolve(conn: HTTPConnection) -> OperatorPrincipal:
    token = bearer_or_cookie(conn.headers, conn.cookies)
    if not token:
        raise Unauthorized("Sign in first (POST /api/v1/auth/login), or your session has expired.")
    principal = _lookup(conn, token)
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
    principal.require_watch()
    return principal


# The writes a viewer may make: its own session, password and inbox, and
# watching (a viewer's live view carries no talkback: hub/media/live.py).
VIEWER_WRITES = frozenset({
    ("POST", "/api/v1/auth/login"), ("POST", "/api/v1/devices/enrol"),  # public: any caller
    ("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/auth/password"), ("POST", "/api/v1/auth/socket-ticket"),
    ("POST", "/api/v1/supervision/notifications/{notification_id}/read"),
    ("POST", "/whep/{branch_id}"), ("DELETE", "/whep/{branch_id}/{session_id}"),
    ("PATCH", "/whep/{branch_id}/{session_id}"),
})
# A branch secretary's writes: its own session and password, and its
# branch's paperwork. Each route checks the branch scope itself.
SECRETARY_WRITES = frozenset({
    ("POST", "/api/v1/auth/login"), ("POST", "/api/v1/devices/enrol"),
    ("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/auth/password"),
    ("POST", "/api/v1/supervision/notifications/{notification_id}/read"),
    ("POST", "/api/v1/supervision/plans"), ("PUT", "/api/v1/supervision/plans/{plan_id}/items"),
    ("POST", "/api/v1/rectifications/{item_id}/evidence"),
    ("POST", "/api/v1/meetings/{meeting_id}/leave-requests"),
})
# What a secretary may not even read: the wall and live media (the hall's
# picture included). The WebSocket refuses it in `socket_operator`.
SECRETARY_NO_WATCH = ("/api/v1/wall/", "/whep/", "/api/v1/branches/{branch_id}/thumbnail.jpg")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def viewers_only_read(conn: HTTPConnection) -> None:
    """App-wide policy: a viewer's session changes nothing, on every route
    (REST and media alike), answered 403 before the body is even parsed; a
    branch secretary's changes only its branch's paperwork and it does not
    watch. The routes' own role and scope checks stay, as a second line."""
    if conn.scope["type"] != "http":
        return
    method = conn.scope.get("method")
    template = getattr(conn.scope.get("route"), "path", "")
    watching = template.startswith(SECRETARY_NO_WATCH)
    if method in SAFE_METHODS and not watching:
        return
    if (method, template) in VIEWER_WRITES and not watching and (method, template) in SECRETARY_WRITES:
        return
    token = bearer_or_cookie(conn.headers, conn.cookies)
    if not token:
        return  # the route answers 401 itself (or takes a device token)
    principal = await run_in_threadpool(_lookup, conn, token)
    if principal is None:
        return
    if principal.is_branch_secretary:
        if watching:
            principal.require_watch()
        if method not in SAFE_METHODS and (method, template) not in SECRETARY_WRITES:
            raise Forbidden("A branch secretary files its branch's plans, leave and rectification evidence; this "
                            "change is for the township or county operators.", code="branch_secretary_role")
        return
    if method in SAFE_METHODS or (method, template) in VIEWER_WRITES:
        return
    if not principal.can_write:
        raise Forbidden("Your account can only view. Ask a county administrator for an operator role.",
                        code="operator_role_required")
