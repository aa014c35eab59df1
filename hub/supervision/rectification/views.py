"""Rectification ledger routes (/api/v1/rectifications)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Response, UploadFile
from fastapi.responses import FileResponse

from hub.api.deps import Ctx, CurrentOperator, SessionDep
from hub.audit import service as audit
from hub.errors import NotFound
from hub.organisations.models import OrgUnit
from hub.organisations.service import get_branch_visible
from hub.supervision.common import scope_unit, today, xlsx_bytes, xlsx_response
from hub.supervision.config import settings_for
from hub.supervision.notifications import service as notify
from hub.supervision.rectification import service
from hub.supervision.rectification.models import RectificationEvidence, RectificationItem
from hub.supervision.rectification.schemas import (
    EvidenceRead,
    RectificationClose,
    RectificationCreate,
    RectificationRead,
    RectificationUpdate,
)

router = APIRouter(prefix="/api/v1/rectifications", tags=["supervision: rectification"])


def read(item: RectificationItem, branch: OrgUnit, now: date, evidence: list[RectificationEvidence] | None = None) -> RectificationRead:
    out = RectificationRead.model_validate(item)
    out.branch_name, out.overdue = branch.name, service.is_overdue(item, now)
    out.evidence = [EvidenceRead.model_validate(e) for e in evidence or []]
    return out


@router.post("", response_model=RectificationRead, status_code=201)
def create(body: RectificationCreate, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> RectificationRead:
    op.require_write()
    branch = get_branch_visible(session, op, body.branch_id)
    now = today(settings_for(ctx).utc_offset_hours)
    item = service.create_item(session, branch=branch, today=now, created_by=op.username, **body.model_dump(exclude={"branch_id"}))
    audit.record(session, actor=op.username, action="rectification_opened", target=f"rectification:{item.id}",
                 branch_id=branch.id, detail=body.model_dump(mode="json"))
    notify.to_secretaries(session, branch_id=branch.id, kind="rectification", title="整改通知",
                          text=f"整改事项：{item.problem}；整改时限：{item.deadline:%Y年%m月%d日}。请按期整改并上传整改材料。",
                          dedupe=f"rectification:{item.id}", created_by=op.username)
    return read(item, branch, now)


@router.get("", response_model=list[RectificationRead])
def list_items(
    session: SessionDep, op: CurrentOperator, ctx: Ctx, unit_id: int | None = None, status: str | None = None,
    branch_id: int | None = None, overdue: bool = False, deadline_from: date | None = None, deadline_to: date | None = None,
) -> list[RectificationRead]:
    unit = scope_unit(session, op, unit_id)
    now = today(settings_for(ctx).utc_offset_hours)
    rows = service.list_items(session, path=unit.path, status=status, branch_id=branch_id, deadline_from=deadline_from,
                              deadline_to=deadline_to, overdue_on=now if overdue else None)
    evidence = service.evidence_of(session, [i.id for i, _ in rows])
    return [read(i, b, now, evidence.get(i.id)) for i, b in rows]


@router.get("/export.xlsx")
def export(
    session: SessionDep, op: CurrentOperator, unit_id: int | None = None, status: str | None = None,
    deadline_from: date | None = None, deadline_to: date | None = None,
) -> Response:
    """The ledger in its customary columns."""
    unit = scope_unit(session, op, unit_id)
    rows = service.list_items(session, path=unit.path, status=status, deadline_from=deadline_from, deadline_to=deadline_to)
    data = xlsx_bytes([("整改台账", service.LEDGER_HEADER, service.ledger_rows(rows))])
    audit.record(session, actor=op.username, action="rectification_exported", target=f"org_unit:{unit.id}",
                 branch_id=unit.id, detail={"rows": len(rows), "status": status})
    return xlsx_response(data, f"整改台账-{unit.name}.xlsx")


@router.get("/{item_id}", response_model=RectificationRead)
def get_item(item_id: int, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> RectificationRead:
    item, branch = service.get_visible_item(session, op, item_id)
    return read(item, branch, today(settings_for(ctx).utc_offset_hours), service.evidence_of(session, [item.id]).get(item.id))


@router.patch("/{item_id}", response_model=RectificationRead)
def update(item_id: int, body: RectificationUpdate, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> RectificationRead:
    op.require_write()
    item, branch = service.get_visible_item(session, op, item_id)
    now = today(settings_for(ctx).utc_offset_hours)
    service.update_item(session, item=item, today=now, **body.model_dump(exclude_unset=True))
    audit.record(session, actor=op.username, action="rectification_updated", target=f"rectification:{item.id}",
                 branch_id=branch.id, detail=body.model_dump(mode="json", exclude_unset=True))
    return read(item, branch, now)


@router.post("/{item_id}/close", response_model=RectificationRead)
def close(item_id: int, body: RectificationClose, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> RectificationRead:
    """销号: the verifier is the signed-in operator."""
    op.require_write()
    item, branch = service.get_visible_item(session, op, item_id)
    now = today(settings_for(ctx).utc_offset_hours)
    service.close_item(session, item=item, closed_on=body.closed_on or now, today=now,
                       verified_by=op.display_name or op.username, note=body.note)
    audit.record(session, actor=op.username, action="rectification_closed", target=f"rectification:{item.id}",
                 branch_id=branch.id, detail=body.model_dump(mode="json"))
    return read(item, branch, now)


@router.post("/{item_id}/evidence", response_model=EvidenceRead, status_code=201)
def upload_evidence(item_id: int, file: UploadFile, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> object:
    """A sync route (the threadpool): reading, hashing and storing the file
    never block the event loop. The branch's secretary uploads too."""
    op.require_branch_act()
    sup = settings_for(ctx)
    item, branch = service.get_visible_item(session, op, item_id)
    # End the read transaction before the slow part: on SQLite every
    # transaction holds the write lock, and the file may take seconds.
    session.commit()
    data = file.file.read(sup.evidence_max_bytes + 1)
    ev = service.add_evidence(session, item=item, filename=file.filename or "evidence", data=data,
                              content_type=file.content_type or "application/octet-stream", data_dir=ctx.settings.data_dir,
                              uploaded_by=op.username, max_bytes=sup.evidence_max_bytes)
    audit.record(session, actor=op.username, action="rectification_evidence_added", target=f"rectification:{item.id}",
                 branch_id=branch.id, detail={"file": ev.filename, "sha256": ev.sha256, "size": ev.size})
    return ev


@router.get("/{item_id}/evidence/{evidence_id}")
def download_evidence(item_id: int, evidence_id: int, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> FileResponse:
    item, _ = service.get_visible_item(session, op, item_id)
    ev = session.get(RectificationEvidence, evidence_id)
    if ev is None or ev.item_id != item.id:
        raise NotFound(f"Evidence {evidence_id} is not attached to item {item_id}.")
    path = ctx.settings.data_dir / ev.stored_path
    if not path.is_file():
        raise NotFound("The evidence file is missing from the data directory; restore it from backup.")
    return FileResponse(path, media_type=ev.content_type, filename=ev.filename)
