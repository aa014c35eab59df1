from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlalchemy import or_, select

from hub.api.deps import CurrentOperator, SessionDep
from hub.audit.models import AuditEntry
from hub.organisations.models import OrgUnit

router = APIRouter(prefix="/api/v1", tags=["audit"])


class AuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    branch_id: int | None
    address: str | None
    detail: dict


@router.get("/audit", response_model=list[AuditRead])
def list_audit(session: SessionDep, op: CurrentOperator, action: str | None = None, limit: int = 200) -> list:
    """The audit trail: admins see everything in their area; others see the
    entries about units in their area."""
    stmt = (select(AuditEntry).outerjoin(OrgUnit, OrgUnit.id == AuditEntry.branch_id)
            .order_by(AuditEntry.id.desc()).limit(min(limit, 2000)))
    if op.is_admin and op.scope_path.count("/") == 2:
        stmt = stmt.where(or_(OrgUnit.id.is_(None), OrgUnit.path.startswith(op.scope_path)))
    else:
        stmt = stmt.where(OrgUnit.path.startswith(op.scope_path))
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return list(session.scalars(stmt))
