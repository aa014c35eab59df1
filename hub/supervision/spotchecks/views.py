"""Spot check routes: household ledgers, draws, calls."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hub.api.deps import CurrentOperator, SessionDep
from hub.api.limits import DB_INT_MAX
from hub.audit import service as audit
from hub.errors import Invalid, NotFound
from hub.organisations.models import OrgUnit
from hub.supervision.common import Tree, scope_unit, xlsx_bytes, xlsx_response
from hub.supervision.spotchecks import service
from hub.supervision.spotchecks.models import HouseholdLedger, SpotCheck, SpotCheckCall

router = APIRouter(prefix="/api/v1/supervision", tags=["supervision: spot checks"])
MAX_LEDGER_BYTES = 20 * 1024 * 1024


class LedgerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    scope_id: int
    name: str
    rows: int
    imported_by: str
    imported_at: datetime


class LedgerImportResult(BaseModel):
    ledger: LedgerRead | None
    imported: int
    errors: list[dict]


class SpotCheckCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit_id: int | None = Field(default=None, ge=1, le=DB_INT_MAX)
    population: str = Field(default="members", pattern="^(members|households)$")
    ledger_id: int | None = Field(default=None, ge=1, le=DB_INT_MAX, description="Only for population=households")
    sample_size: int = Field(ge=1, le=10_000)
    label: str = Field(min_length=1, max_length=200)


class CallRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    position: int
    subject_key: str
    branch_id: int
    branch_name: str = ""
    name: str
    phone: str
    outcome: str
    note: str
    called_by: str | None
    called_at: datetime | None


class CallUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: str
    note: str = Field(default="", max_length=2000)


class SpotCheckRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    scope_id: int
    label: str
    population: str
    ledger_id: int | None
    seed: int
    population_size: int
    population_hash: str
    sample_size: int
    created_by: str
    created_at: datetime
    calls: list[CallRead] = []


def read(session: SessionDep, op: CurrentOperator, check: SpotCheck, *, full: bool = True) -> SpotCheckRead:
    out = SpotCheckRead.model_validate(check)
    if full:
        tree = Tree.load(session, "/")
        out.calls = []
        for c in service.calls_of(session, check.id):
            b = tree.units.get(c.branch_id)
            if b is not None and op.can_see(b.path):
                r = CallRead.model_validate(c)
                r.branch_name = b.name
                out.calls.append(r)
    return out


@router.post("/households/import", response_model=LedgerImportResult)
def import_households(file: UploadFile, session: SessionDep, op: CurrentOperator,
                      unit_id: Annotated[int | None, Form(ge=1, le=DB_INT_MAX)] = None,
                      name: Annotated[str, Form(max_length=200)] = "") -> LedgerImportResult:
    """A sync route (the threadpool): the spreadsheet is parsed off the event loop."""
    op.require_write()
    scope = scope_unit(session, op, unit_id)
    session.commit()  # no transaction (SQLite: no write lock) while the upload is read and parsed
    data = file.file.read(MAX_LEDGER_BYTES + 1)
    if len(data) > MAX_LEDGER_BYTES:
        raise Invalid("The ledger file is larger than 20 MiB; split it by township.")
    report = service.import_households(session, scope=scope, filename=file.filename or "", data=data, name=name, by=op.username)
    if report.ledger is not None:
        audit.record(session, actor=op.username, action="household_ledger_imported", target=f"household_ledger:{report.ledger.id}",
                     branch_id=scope.id, detail={"rows": report.imported, "file": file.filename})
    return LedgerImportResult(ledger=LedgerRead.model_validate(report.ledger) if report.ledger else None,
                              imported=report.imported, errors=report.errors)


@router.get("/households/ledgers", response_model=list[LedgerRead])
def list_ledgers(session: SessionDep, op: CurrentOperator) -> list:
    rows = session.execute(select(HouseholdLedger, OrgUnit.path).join(OrgUnit, OrgUnit.id == HouseholdLedger.scope_id)
                           .order_by(HouseholdLedger.id.desc()))
    # A township may draw from a county-wide ledger (its own households only).
    return [lg for lg, path in rows if op.can_see(path) or op.scope_path.startswith(path)]


@router.post("/spot-checks", response_model=SpotCheckRead, status_code=201)
def draw(body: SpotCheckCreate, session: SessionDep, op: CurrentOperator) -> SpotCheckRead:
    op.require_write()
    scope = scope_unit(session, op, body.unit_id)
    check = service.draw(session, scope=scope, kind=body.population, ledger_id=body.ledger_id, sample_size=body.sample_size,
                         label=body.label, by=op.username)
    audit.record(session, actor=op.username, action="spot_check_drawn", target=f"spot_check:{check.id}", branch_id=scope.id,
                 detail={"seed": check.seed, "population_hash": check.population_hash, "size": check.sample_size})
    return read(session, op, check)


@router.get("/spot-checks", response_model=list[SpotCheckRead])
def list_checks(session: SessionDep, op: CurrentOperator) -> list[SpotCheckRead]:
    rows = session.execute(select(SpotCheck, OrgUnit.path).join(OrgUnit, OrgUnit.id == SpotCheck.scope_id).order_by(SpotCheck.id.desc()))
    return [read(session, op, c, full=False) for c, path in rows if op.can_see(path)]


@router.get("/spot-checks/{check_id}", response_model=SpotCheckRead)
def get_check(check_id: int, session: SessionDep, op: CurrentOperator) -> SpotCheckRead:
    check, _ = service.get_visible_check(session, op, check_id)
    return read(session, op, check)


@router.get("/spot-checks/{check_id}/verify")
def verify(check_id: int, session: SessionDep, op: CurrentOperator) -> dict:
    check, _ = service.get_visible_check(session, op, check_id)
    return service.verify(session, check=check)


@router.post("/spot-checks/{check_id}/calls/{call_id}", response_model=CallRead)
def record_call(check_id: int, call_id: int, body: CallUpdate, session: SessionDep, op: CurrentOperator) -> CallRead:
    op.require_write()
    check, scope = service.get_visible_check(session, op, check_id)
    call = session.get(SpotCheckCall, call_id)
    if call is None or call.spot_check_id != check.id:
        raise NotFound(f"Call {call_id} is not part of spot check {check_id}.")
    service.record_call(session, call=call, outcome=body.outcome, note=body.note, by=op.display_name or op.username)
    audit.record(session, actor=op.username, action="spot_check_call_recorded", target=f"spot_check_call:{call.id}",
                 branch_id=call.branch_id, detail=body.model_dump())
    out = CallRead.model_validate(call)
    branch = session.get(OrgUnit, call.branch_id)
    out.branch_name = branch.name if branch else ""
    return out


@router.get("/spot-checks/{check_id}/export.xlsx")
def export(check_id: int, session: SessionDep, op: CurrentOperator) -> Response:
    check, scope = service.get_visible_check(session, op, check_id)
    calls = read(session, op, check).calls
    rows = [(c.position, c.branch_name, c.name, c.phone, service.OUTCOME_ZH.get(c.outcome, c.outcome), c.note, c.called_by or "",
             c.called_at) for c in calls]
    data = xlsx_bytes([("电话抽查", service.CALL_HEADER, rows)])
    audit.record(session, actor=op.username, action="spot_check_exported", target=f"spot_check:{check.id}", branch_id=scope.id)
    return xlsx_response(data, f"电话抽查-{check.id}.xlsx")
