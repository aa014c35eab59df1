from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.audit.models import AuditEntry


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str = "",
    branch_id: int | None = None,
    address: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(actor=actor, action=action, target=target, branch_id=branch_id, address=address, detail=detail or {})
    session.add(entry)
    return entry


def list_entries(session: Session, *, limit: int = 200, action: str | None = None) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return list(session.scalars(stmt))
