"""Notices (通报): rectification items not closed by their deadline, for a
period and an area; drafted, then published by the county."""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.auth.principal import OperatorPrincipal
from hub.db import utcnow
from hub.errors import Conflict, Invalid, NotFound
from hub.organisations.models import OrgUnit
from hub.supervision.notices.models import Notice, NoticeItem
from hub.supervision.rectification import service as ledger


def draft(
    session: Session, *, scope: OrgUnit, period_start: date, period_end: date, today: date, created_by: str,
    title: str | None = None, body: str = "",
) -> Notice:
    """Collect every item in the area whose deadline fell in the period and
    that was not closed by it (closed late, or still open after it)."""
    if period_end < period_start:
        raise Invalid(f"The period ends ({period_end}) before it starts ({period_start}); swap the dates.")
    if period_start > today:
        raise Invalid("The period has not begun yet; nothing can be overdue in it.")
    rows = ledger.list_items(session, path=scope.path, deadline_from=period_start, deadline_to=period_end, overdue_on=today)
    if not rows:
        raise Invalid(f"No rectification item in {scope.name} was overdue between {period_start} and {period_end}; "
                      "there is nothing to notify.", code="nothing_overdue")
    notice = Notice(scope_id=scope.id, title=title or f"关于{period_start:%Y年%m月%d日}至{period_end:%Y年%m月%d日}整改逾期事项的通报",
                    period_start=period_start, period_end=period_end, body=body, status="draft", created_by=created_by)
    session.add(notice)
    session.flush()
    for item, branch in rows:
        session.add(NoticeItem(notice_id=notice.id, item_id=item.id, branch_id=branch.id, branch_name=branch.name,
                               problem=item.problem, deadline=item.deadline, responsible=item.responsible,
                               days_overdue=((item.closed_on or today) - item.deadline).days, closed_on=item.closed_on))
    session.flush()
    return notice


def publish(session: Session, *, notice: Notice, by: str) -> Notice:
    if notice.status == "published":
        raise Conflict(f"This notice was already published on {notice.published_at:%Y-%m-%d} by {notice.published_by}.")
    notice.status, notice.published_by, notice.published_at = "published", by, utcnow()
    return notice


def visible(session: Session, op: OperatorPrincipal, notice_id: int) -> tuple[Notice, OrgUnit]:
    """A notice is visible in the operator's area: drafts only to those who
    see the notice's whole scope; published ones also to operators below
    it (who then see only their own branches' items)."""
    notice = session.get(Notice, notice_id)
    scope = session.get(OrgUnit, notice.scope_id) if notice else None
    if notice is None or scope is None or not _can_see(op, notice, scope):
        raise NotFound(f"Notice {notice_id} does not exist or is outside your area.")
    return notice, scope


def _can_see(op: OperatorPrincipal, notice: Notice, scope: OrgUnit) -> bool:
    if op.can_see(scope.path):
        return True
    return notice.status == "published" and op.scope_path.startswith(scope.path)


def list_visible(session: Session, op: OperatorPrincipal) -> list[tuple[Notice, OrgUnit]]:
    rows = session.execute(select(Notice, OrgUnit).join(OrgUnit, OrgUnit.id == Notice.scope_id).order_by(Notice.id.desc()))
    return [(n, s) for n, s in rows if _can_see(op, n, s)]


def items(session: Session, op: OperatorPrincipal, notice: Notice) -> list[NoticeItem]:
    rows = session.execute(select(NoticeItem, OrgUnit.path).join(OrgUnit, OrgUnit.id == NoticeItem.branch_id)
                           .where(NoticeItem.notice_id == notice.id).order_by(NoticeItem.id))
    return [i for i, path in rows if op.can_see(path)]


def delete_draft(session: Session, *, notice: Notice) -> None:
    if notice.status != "draft":
        raise Conflict("A published notice cannot be withdrawn; publish a correction instead.")
    # Items first, flushed, then the notice: the tables have no ORM
    # relationship, so the unit of work would not order the DELETEs by the
    # foreign key on its own.
    session.execute(delete(NoticeItem).where(NoticeItem.notice_id == notice.id))
    session.delete(notice)
    session.flush()


NOTICE_HEADER = ("序号", "党组织名称", "整改事项", "整改时限", "责任人", "逾期天数", "完成销号时间")


def export_rows(rows: list[NoticeItem]) -> list[tuple[object, ...]]:
    return [(n, i.branch_name, i.problem, i.deadline, i.responsible, i.days_overdue, i.closed_on) for n, i in enumerate(rows, 1)]
