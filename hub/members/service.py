from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.errors import Conflict, Invalid, NotFound
from hub.members.models import STATUSES, Member
from hub.organisations.models import OrgUnit


def validate_fields(fields: dict[str, Any]) -> None:
    if "status" in fields and fields["status"] not in STATUSES:
        raise Invalid("status must be 'full' (正式) or 'probationary' (预备).")
    if fields.get("excused") and not (fields.get("excused_reason") or "").strip():
        raise Invalid("An excused member needs the reason (e.g. 长期卧床, 出国半年以上).", code="excused_reason_missing")
    if "name" in fields and not (fields["name"] or "").strip():
        raise Invalid("The member's name is empty.")


def create_member(session: Session, *, branch: OrgUnit, **fields: Any) -> Member:
    validate_fields(fields)
    if session.scalar(select(Member).where(Member.member_no == fields["member_no"])):
        raise Conflict(f"Member number {fields['member_no']} is already on a roster; check the number.",
                       code="member_no_taken")
    member = Member(branch_id=branch.id, **fields)
    session.add(member)
    session.flush()
    return member


def update_member(session: Session, member: Member, **fields: Any) -> Member:
    merged = {"excused": member.excused, "excused_reason": member.excused_reason, **fields}
    validate_fields(merged)
    for key, value in fields.items():
        setattr(member, key, value)
    return member


def get_member(session: Session, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound(f"Member {member_id} does not exist.")
    return member


def roster(session: Session, branch_id: int, *, include_inactive: bool = False) -> list[Member]:
    stmt = select(Member).where(Member.branch_id == branch_id).order_by(Member.member_no)
    if not include_inactive:
        stmt = stmt.where(Member.active.is_(True))
    return list(session.scalars(stmt))


def roster_counts(session: Session) -> dict[int, int]:
    rows = session.execute(
        select(Member.branch_id, func.count()).where(Member.active.is_(True)).group_by(Member.branch_id)
    )
    return {branch_id: n for branch_id, n in rows}


def roster_version(session: Session, branch_id: int) -> str:
    """Changes whenever the branch's roster changes (edge agents cache it)."""
    count, latest = session.execute(
        select(func.count(), func.max(Member.updated_at)).where(Member.branch_id == branch_id)
    ).one()
    return f"{count}:{latest.timestamp() if latest else 0:.6f}"
