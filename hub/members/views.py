from __future__ import annotations

import asyncio

from fastapi import APIRouter, UploadFile

from hub.api.deps import Ctx, CurrentOperator, SessionDep
from hub.audit import service as audit
from hub.db import read_session
from hub.errors import Invalid
from hub.events import RosterChanged
from hub.members import roster as roster_import
from hub.members import service
from hub.members.schemas import (
    MemberCreate,
    MemberRead,
    MemberUpdate,
    RosterImportResult,
    RosterRows,
)
from hub.organisations.service import get_branch_visible, get_visible

router = APIRouter(prefix="/api/v1", tags=["members"])
MAX_ROSTER_BYTES = 10 * 1024 * 1024


@router.get("/branches/{branch_id}/members", response_model=list[MemberRead])
def list_members(branch_id: int, session: SessionDep, op: CurrentOperator, include_inactive: bool = False) -> list:
    get_branch_visible(session, op, branch_id)
    return service.roster(session, branch_id, include_inactive=include_inactive)


@router.post("/branches/{branch_id}/members", response_model=MemberRead, status_code=201)
def create_member(branch_id: int, body: MemberCreate, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> object:
    op.require_write()
    branch = get_branch_visible(session, op, branch_id)
    member = service.create_member(session, branch=branch, **body.model_dump())
    audit.record(session, actor=op.username, action="member_created", target=f"member:{member.id}", branch_id=branch_id, detail=body.model_dump())
    session.commit()
    ctx.bus.publish_threadsafe(RosterChanged(branch_id))
    return member


@router.get("/members/{member_id}", response_model=MemberRead)
def get_member(member_id: int, session: SessionDep, op: CurrentOperator) -> object:
    member = service.get_member(session, member_id)
    get_visible(session, op, member.branch_id)
    return member


@router.patch("/members/{member_id}", response_model=MemberRead)
def update_member(member_id: int, body: MemberUpdate, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> object:
    op.require_write()
    member = service.get_member(session, member_id)
    get_visible(session, op, member.branch_id)
    changes = body.model_dump(exclude_unset=True)
    service.update_member(session, member, **changes)
    audit.record(session, actor=op.username, action="member_updated", target=f"member:{member.id}", branch_id=member.branch_id, detail=changes)
    session.commit()
    ctx.bus.publish_threadsafe(RosterChanged(member.branch_id))
    return member


@router.post("/branches/{branch_id}/roster", response_model=RosterImportResult)
async def import_roster(branch_id: int, file: UploadFile, op: CurrentOperator, ctx: Ctx) -> RosterImportResult:
    """Upload a roster (CSV in UTF-8 or GBK, or XLSX): good rows are imported,
    each bad row is reported with its row number and reason."""
    op.require_write()
    data = await file.read(MAX_ROSTER_BYTES + 1)
    if len(data) > MAX_ROSTER_BYTES:
        raise Invalid("The roster file is larger than 10 MB; split it by branch.", code="roster_too_large")

    def work() -> RosterImportResult:
        with read_session(ctx.session_factory) as session:
            get_branch_visible(session, op, branch_id)  # 404/403 before the file is parsed
        try:
            # Parsed before the write transaction: on SQLite that holds the
            # write lock, and a large sheet takes a while.
            rows = roster_import.read_table(file.filename or "", data)
        except roster_import.RosterFileError as exc:
            raise Invalid(str(exc), code="roster_file") from None
        with ctx.session_factory() as session:
            branch = get_branch_visible(session, op, branch_id)
            try:
                report = roster_import.import_roster(session, branch=branch, filename=file.filename or "", data=data, rows=rows)
            except roster_import.RosterFileError as exc:
                raise Invalid(str(exc), code="roster_file") from None
            audit.record(session, actor=op.username, action="roster_imported", target=f"branch:{branch_id}", branch_id=branch_id,
                         detail={"file": file.filename, "created": report.created, "updated": report.updated, "errors": len(report.errors)})
            session.commit()
            return RosterImportResult(created=report.created, updated=report.updated, errors=report.errors)

    result = await asyncio.to_thread(work)
    ctx.bus.publish(RosterChanged(branch_id))
    return result


@router.post("/branches/{branch_id}/roster/rows", response_model=RosterImportResult)
def import_roster_rows(branch_id: int, body: RosterRows, session: SessionDep, op: CurrentOperator,
                       ctx: Ctx) -> RosterImportResult:
    """Send again the bad rows of an import, corrected in the page: the same
    checks as the file, each row still bad comes back with its reason."""
    op.require_write()
    branch = get_branch_visible(session, op, branch_id)
    report = roster_import.import_values(session, branch=branch, rows=[(r.row, r.values) for r in body.rows])
    audit.record(session, actor=op.username, action="roster_rows_imported", target=f"branch:{branch_id}",
                 branch_id=branch_id, detail={"created": report.created, "updated": report.updated,
                                              "errors": len(report.errors)})
    session.commit()
    ctx.bus.publish_threadsafe(RosterChanged(branch_id))
    return RosterImportResult(created=report.created, updated=report.updated, errors=report.errors)
