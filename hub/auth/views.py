"""Sign-in, sign-out, one's own password, socket tickets (`/api/v1/auth/*`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import (
    SESSION_COOKIE,
    Ctx,
    CurrentOperator,
    SessionDep,
    SignedInOperator,
    client_address,
)
from hub.audit import service as audit
from hub.auth import service
from hub.auth.live import TICKET_SECONDS
from hub.auth.operators import OperatorRead, operator_read
from hub.auth.operators import router as operators_router
from hub.errors import Unauthorized

router = APIRouter(prefix="/api/v1", tags=["auth"])


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class LoginResponse(BaseModel):
    token: str
    operator: OperatorRead


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=8, max_length=200)


class SocketTicket(BaseModel):
    ticket: str = Field(description="Open /ws/wall?ticket=<this> within the lifetime; it works once")
    expires_in: float


def _secure(request: Request, ctx: Ctx) -> bool:
    """Secure cookies whenever the hub is reached over HTTPS (directly, or
    through a trusted proxy that says so, or by its configured public URL)."""
    public = ctx.settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


@router.post("/auth/login", response_model=LoginResponse)
def login(body: LoginRequest, request: Request, response: Response, session: SessionDep, ctx: Ctx) -> LoginResponse:
    token, principal = service.login(
        session, username=body.username, password=body.password, address=client_address(request),
        limiter=ctx.limiter, hours=ctx.settings.session_hours)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request, ctx),
                        max_age=int(ctx.settings.session_hours * 3600))
    return LoginResponse(token=token, operator=operator_read(session, principal))


@router.post("/auth/logout", status_code=204)
def logout(request: Request, session: SessionDep, op: SignedInOperator, ctx: Ctx) -> Response:
    audit.record(session, actor=op.username, action="logout", address=client_address(request))
    if op.session_id is not None:
        service.revoke_session_id(session, op.session_id)
    session.commit()
    # After the commit: a wall that reconnects at once finds the session gone.
    ctx.live.end(session_id=op.session_id, reason="logged_out")
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/auth/me", response_model=OperatorRead)
def me(session: SessionDep, op: SignedInOperator) -> OperatorRead:
    return operator_read(session, op)


@router.post("/auth/password", status_code=204, summary="Change one's own password")
def change_password(body: PasswordChange, request: Request, session: SessionDep, op: SignedInOperator,
                    ctx: Ctx) -> Response:
    """Also the way out of `password_change_required`. Every other session
    of the operator ends (and its sockets close); this one stays."""
    service.change_password(session, op, current=body.current_password, new=body.new_password)
    audit.record(session, actor=op.username, action="password_changed", target=f"operator:{op.username}",
                 address=client_address(request))
    session.commit()
    ctx.live.end(operator_id=op.id, keep_session=op.session_id, reason="password_changed")
    return Response(status_code=204)


@router.post("/auth/socket-ticket", response_model=SocketTicket, summary="A one-time ticket for /ws/wall")
def socket_ticket(op: CurrentOperator, ctx: Ctx) -> SocketTicket:
    """Browsers cannot set headers on a WebSocket; a ticket keeps the
    session token out of the URL (and out of every access log)."""
    if op.session_id is None:
        raise Unauthorized("Sign in again to open the wall.")
    return SocketTicket(ticket=ctx.live.issue_ticket(operator_id=op.id, session_id=op.session_id),
                        expires_in=TICKET_SECONDS)


router.include_router(operators_router)
