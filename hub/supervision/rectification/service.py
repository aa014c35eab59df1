"""The rectification ledger: open, edit, close (销号), evidence, overdue."""

from __future__ import annotations

import hashlib
import os
import re
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub.auth.principal import OperatorPrincipal
from hub.errors import Conflict, Invalid, NotFound
from hub.meetings.models import Meeting
from hub.organisations.models import OrgUnit
from hub.organisations.service import get_visible
from hub.supervision.rectification.models import SOURCES, RectificationEvidence, RectificationItem

EVIDENCE_TYPES = ("image/", "application/pdf", "application/msword", "application/vnd.openxmlformats-officedocument",
                  "application/vnd.ms-", "text/plain", "video/")


def _check_deadline(deadline: date, today: date) -> None:
    if deadline < today:
        raise Invalid(f"The deadline {deadline} is already past (today is {today}); choose today or a later date.",
                      code="deadline_past")


def _evidence_offset(session: Session, branch_id: int, meeting_id: str | None, at: float | datetime | None) -> float | None:
    if meeting_id is None:
        if at is not None:
            raise Invalid("evidence_at needs evidence_meeting_id: say which meeting's recording it points into.")
        return None
    meeting = session.get(Meeting, meeting_id)
    if meeting is None or meeting.branch_id != branch_id:
        raise Invalid(f"Meeting {meeting_id} is not a meeting of this branch; pick the evidence from the branch's recordings.")
    if at is None:
        return None
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise Invalid("evidence_at needs a time zone (e.g. 2025-03-05T09:12:00+08:00).")
        if meeting.started_at is None:
            raise Invalid("That meeting never started, so it has no recording to point into.")
        offset = (at - meeting.started_at).total_seconds()
    else:
        offset = float(at)
    if offset < 0:
        raise Invalid("evidence_at lies before the meeting started; pick a moment inside the recording.")
    if meeting.started_at and meeting.ended_at and offset > (meeting.ended_at - meeting.started_at).total_seconds() + 60:
        raise Invalid("evidence_at lies after the meeting ended; pick a moment inside the recording.")
    return round(offset, 3)


def create_item(
    session: Session, *, branch: OrgUnit, problem: str, measures: str, deadline: date, responsible: str,
    today: date, created_by: str, source: str = "video_inspection", evidence_meeting_id: str | None = None,
    evidence_at: float | datetime | None = None, deduction_id: int | None = None,
) -> RectificationItem:
    if branch.kind != "branch":
        raise Invalid(f"{branch.name} is not a branch; rectification items belong to a branch.")
    if source not in SOURCES:
        raise Invalid(f"source must be one of {', '.join(SOURCES)}")
    problem, measures, responsible = problem.strip(), measures.strip(), responsible.strip()
    if not problem or not measures or not responsible:
        raise Invalid("Fill in the problem (整改事项), the measures (整改措施) and the responsible person (责任人).")
    _check_deadline(deadline, today)
    offset = _evidence_offset(session, branch.id, evidence_meeting_id, evidence_at)
    item = RectificationItem(branch_id=branch.id, source=source, problem=problem, measures=measures, deadline=deadline,
                             responsible=responsible, evidence_meeting_id=evidence_meeting_id, evidence_offset_s=offset,
                             deduction_id=deduction_id, created_by=created_by, status="open")
    session.add(item)
    session.flush()
    return item


def get_visible_item(session: Session, op: OperatorPrincipal, item_id: int) -> tuple[RectificationItem, OrgUnit]:
    item = session.get(RectificationItem, item_id)
    if item is None:
        raise NotFound(f"Rectification item {item_id} does not exist or is outside your area.")
    try:
        branch = get_visible(session, op, item.branch_id)
    except NotFound:
        raise NotFound(f"Rectification item {item_id} does not exist or is outside your area.") from None
    return item, branch


def update_item(session: Session, *, item: RectificationItem, today: date, measures: str | None = None,
                deadline: date | None = None, responsible: str | None = None) -> RectificationItem:
    if item.status == "closed":
        raise Conflict("This item is closed (已销号); it can no longer be changed.", code="item_closed")
    if deadline is not None and deadline != item.deadline:
        _check_deadline(deadline, today)
        item.deadline = deadline
    if measures is not None:
        item.measures = measures.strip()
    if responsible is not None:
        item.responsible = responsible.strip()
    return item


def close_item(session: Session, *, item: RectificationItem, closed_on: date, today: date, verified_by: str,
               note: str = "") -> RectificationItem:
    if item.status == "closed":
        raise Conflict(f"This item was already closed on {item.closed_on} by {item.verified_by}.", code="already_closed",
                       closed_on=str(item.closed_on), verified_by=item.verified_by)
    if closed_on > today:
        raise Invalid(f"The closing date {closed_on} is in the future; close the item when the work is done.")
    if closed_on < item.created_at.date():
        raise Invalid(f"The closing date {closed_on} is before the item was opened ({item.created_at.date()}).")
    item.status, item.closed_on, item.verified_by, item.closing_note = "closed", closed_on, verified_by, note.strip() or None
    return item


def is_overdue(item: RectificationItem, today: date) -> bool:
    """Not closed by its deadline: still open after it, or closed late."""
    if item.closed_on is not None:
        return item.closed_on > item.deadline
    return today > item.deadline


def list_items(
    session: Session, *, path: str, status: str | None = None, branch_id: int | None = None,
    deadline_from: date | None = None, deadline_to: date | None = None, overdue_on: date | None = None,
) -> list[tuple[RectificationItem, OrgUnit]]:
    stmt = (select(RectificationItem, OrgUnit).join(OrgUnit, OrgUnit.id == RectificationItem.branch_id)
            .where(OrgUnit.path.startswith(path)).order_by(OrgUnit.path, RectificationItem.deadline, RectificationItem.id))
    if status:
        stmt = stmt.where(RectificationItem.status == status)
    if branch_id is not None:
        stmt = stmt.where(RectificationItem.branch_id == branch_id)
    if deadline_from:
        stmt = stmt.where(RectificationItem.deadline >= deadline_from)
    if deadline_to:
        stmt = stmt.where(RectificationItem.deadline <= deadline_to)
    if overdue_on is not None:
        stmt = stmt.where(RectificationItem.deadline < overdue_on, or_(
            RectificationItem.closed_on.is_(None), RectificationItem.closed_on > RectificationItem.deadline))
    return [(i, b) for i, b in session.execute(stmt)]


_SAFE = re.compile(r"[^\w.\-]+", re.UNICODE)


def add_evidence(
    session: Session, *, item: RectificationItem, filename: str, content_type: str, data: bytes, data_dir: Path,
    uploaded_by: str, max_bytes: int,
) -> RectificationEvidence:
    if not data:
        raise Invalid("The file is empty; choose the photo or document again.")
    if len(data) > max_bytes:
        raise Invalid(f"The file is {len(data) // 1024} KiB; the limit is {max_bytes // 1024} KiB. Send a smaller photo.")
    if not content_type.startswith(EVIDENCE_TYPES):
        raise Invalid(f"Files of type {content_type!r} are not accepted; send a photo, PDF, Word/Excel document or video.")
    digest = hashlib.sha256(data).hexdigest()
    name = _SAFE.sub("_", Path(filename or "evidence").name)[-120:] or "evidence"
    rel = Path("supervision") / "evidence" / str(item.id) / f"{digest[:16]}-{name}"
    target = data_dir / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".part")
    # 0600 like every data file: photos of members and their homes.
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        out.write(data)
    tmp.replace(target)
    ev = RectificationEvidence(item_id=item.id, filename=name, content_type=content_type, size=len(data), sha256=digest,
                               stored_path=rel.as_posix(), uploaded_by=uploaded_by)
    session.add(ev)
    try:
        session.flush()
    except Exception:
        target.unlink(missing_ok=True)
        raise
    return ev


def evidence_of(session: Session, item_ids: list[int]) -> dict[int, list[RectificationEvidence]]:
    out: dict[int, list[RectificationEvidence]] = {}
    if not item_ids:
        return out
    for ev in session.scalars(select(RectificationEvidence).where(RectificationEvidence.item_id.in_(item_ids)).order_by(RectificationEvidence.id)):
        out.setdefault(ev.item_id, []).append(ev)
    return out


LEDGER_HEADER = ("党组织名称", "整改事项", "整改措施", "整改时限", "责任人", "完成销号时间")


def ledger_rows(rows: list[tuple[RectificationItem, OrgUnit]]) -> list[tuple[object, ...]]:
    return [(b.name, i.problem, i.measures, i.deadline, i.responsible, i.closed_on) for i, b in rows]
