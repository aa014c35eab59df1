from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hub.api.deps import (
    SESSION_COOKIE,
    Ctx,
    CurrentOperator,
    SessionDep,
    bearer_or_cookie,
    client_address,
)
from hub.audit import service as audit
from hub.auth import service
from hub.auth.models import Operator
from hub.organisations.models import OrgUnit
from hub.organisations.service import get_visible

router = APIRouter(prefix="/api/v1", tags=["auth"])


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class OperatorRead(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    scope_id: int
    scope_name: str = ""


class LoginResponse(BaseModel):
    token: str
    operator: OperatorRead


class OperatorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    password: str = Field(min_length=8, max_length=200)
    role: str = Field(pattern="^(county_admin|township_operator|viewer)$")
    scope_id: int
    display_name: str = ""


def _read(session: SessionDep, p: object) -> OperatorRead:
    scope = session.get(OrgUnit, p.scope_id)  # type: ignore[attr-defined]
    return OperatorRead(id=p.id, username=p.username, display_name=p.display_name, role=p.role,  # type: ignore[attr-defined]
                        scope_id=p.scope_id, scope_name=scope.name if scope else "")  # type: ignore[attr-defined]


@router.post("/auth/login", response_model=LoginResponse)
def login(body: LoginRequest, request: Request, response: Response, session: SessionDep, ctx: Ctx) -> LoginResponse:
    token, principal = service.login(
        session, username=body.username, password=body.password, address=client_address(request),
        limiter=ctx.limiter, hours=ctx.settings.session_hours)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", max_age=int(ctx.settings.session_hours * 3600))
    return LoginResponse(token=token, operator=_read(session, principal))


@router.post("/auth/logout", status_code=204)
def logout(request: Request, response: Response, session: SessionDep, op: CurrentOperator) -> Response:
    token = bearer_or_cookie(request.headers, request.cookies)
    if token:
        service.logout(session, token)
    audit.record(session, actor=op.username, action="logout", address=client_address(request))
    response.delete_cookie(SESSION_COOKIE)
    response.status_code = 204
    return response


@router.get("/auth/me", response_model=OperatorRead)
def me(session: SessionDep, op: CurrentOperator) -> OperatorRead:
    return _read(session, op)


@router.get("/operators", response_model=list[OperatorRead])
def list_operators(session: SessionDep, op: CurrentOperator) -> list[OperatorRead]:
    op.require_admin()
    rows = session.execute(select(Operator, OrgUnit).join(OrgUnit, OrgUnit.id == Operator.scope_id)
                           .where(OrgUnit.path.startswith(op.scope_path)).order_by(Operator.username))
    return [OperatorRead(id=o.id, username=o.username, display_name=o.display_name, role=o.role, scope_id=o.scope_id, scope_name=u.name)
            for o, u in rows]


@router.post("/operators", response_model=OperatorRead, status_code=201)
def create_operator(body: OperatorCreate, session: SessionDep, op: CurrentOperator) -> OperatorRead:
    op.require_admin()
    get_visible(session, op, body.scope_id)
    new = service.create_operator(session, **body.model_dump())
    audit.record(session, actor=op.username, action="operator_created", target=f"operator:{new.username}",
                 detail={"role": body.role, "scope_id": body.scope_id})
    return _read(session, service.principal_for(session, new))
