"""Operator accounts: list, create, change role/area/name, deactivate,
reset a password (`/api/v1/operators`).

A county admin manages every account in its area; a township operator
manages the viewers of its own township. Every change is audited; a change
that alters what an account may do ends its sessions and closes its live
connections (wall sockets, live views)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import Ctx, CurrentOperator, SessionDep, client_address
from hub.audit import service as audit
from hub.auth import service
from hub.auth.principal import OperatorPrincipal
from hub.organisations.models import OrgUnit

router = APIRouter(tags=["operators"])  # included by hub/auth/views.py under /api/v1

OperatorId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ROLE_PATTERN = "^(county_admin|township_operator|viewer|branch_secretary)$"


class OperatorRead(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    scope_id: int
    scope_name: str = ""
    active: bool = True
    must_change_password: bool = False


class OperatorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    password: str = Field(min_length=8, max_length=200)
    role: str = Field(pattern=ROLE_PATTERN)
    scope_id: int = Field(ge=1, le=2**31 - 1)
    display_name: str = Field(default="", max_length=100)
    must_change_password: bool = Field(default=False, description="True: the new operator must pick a password at first sign-in")


class OperatorUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    role: str | None = Field(default=None, pattern=ROLE_PATTERN)
    scope_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    active: bool | None = None


class PasswordReset(BaseModel):
    operator: OperatorRead
    password: str = Field(description="Shown once; the operator must change it at the next sign-in")


def operator_read(session: SessionDep, p: OperatorPrincipal) -> OperatorRead:
    scope = session.get(OrgUnit, p.scope_id)
    return OperatorRead(id=p.id, username=p.username, display_name=p.display_name, role=p.role,
                        scope_id=p.scope_id, scope_name=scope.name if scope else "",
                        must_change_password=p.must_change_password)


def _read(o: Any, unit: OrgUnit | None) -> OperatorRead:
    return OperatorRead(id=o.id, username=o.username, display_name=o.display_name, role=o.role, scope_id=o.scope_id,
                        scope_name=unit.name if unit else "", active=o.active,
                        must_change_password=bool(o.must_change_password))


@router.get("/operators", response_model=list[OperatorRead])
def list_operators(session: SessionDep, op: CurrentOperator) -> list[OperatorRead]:
    op.require_write()
    return [_read(o, u) for o, u in service.visible_operators(session, op)]


@router.post("/operators", response_model=OperatorRead, status_code=201)
def create_operator(body: OperatorCreate, request: Request, session: SessionDep, op: CurrentOperator) -> OperatorRead:
    service.check_grant(session, op, role=body.role, scope_id=body.scope_id)
    new = service.create_operator(session, **body.model_dump())
    audit.record(session, actor=op.username, action="operator_created", target=f"operator:{new.username}",
                 address=client_address(request), detail={"role": body.role, "scope_id": body.scope_id})
    return _read(new, session.get(OrgUnit, new.scope_id))


@router.patch("/operators/{operator_id}", response_model=OperatorRead)
def update_operator(operator_id: OperatorId, body: OperatorUpdate, request: Request, session: SessionDep,
                    op: CurrentOperator, ctx: Ctx) -> OperatorRead:
    changes = body.model_dump(exclude_unset=True)
    changes = {k: v for k, v in changes.items() if v is not None}
    target = service.update_operator(session, op, operator_id, changes)
    action = "operator_deactivated" if changes.get("active") is False else "operator_updated"
    audit.record(session, actor=op.username, action=action, target=f"operator:{target.username}",
                 address=client_address(request), detail=changes)
    read = _read(target, session.get(OrgUnit, target.scope_id))
    session.commit()
    if {"role", "scope_id"} & changes.keys() or changes.get("active") is False:
        ctx.live.end(operator_id=target.id, reason=action)
    return read


@router.post("/operators/{operator_id}/password-reset", response_model=PasswordReset)
def reset_password(operator_id: OperatorId, request: Request, session: SessionDep, op: CurrentOperator,
                   ctx: Ctx) -> PasswordReset:
    """A new generated password, shown once; every session of the account
    ends, and the operator must pick a new password at the next sign-in."""
    target, password = service.reset_password(session, op, operator_id)
    audit.record(session, actor=op.username, action="operator_password_reset", target=f"operator:{target.username}",
                 address=client_address(request))
    read = _read(target, session.get(OrgUnit, target.scope_id))
    session.commit()
    ctx.live.end(operator_id=target.id, reason="password_reset")
    return PasswordReset(operator=read, password=password)
