"""Household ledger import, drawing a spot-check sample, recording calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth.principal import OperatorPrincipal
from hub.db import utcnow
from hub.errors import Invalid, NotFound
from hub.members.models import Member
from hub.members.roster import RosterFileError, read_table
from hub.organisations.models import OrgUnit
from hub.organisations.service import get_visible
from hub.supervision.spotchecks import sampling
from hub.supervision.spotchecks.models import (
    OUTCOMES,
    Household,
    HouseholdLedger,
    SpotCheck,
    SpotCheckCall,
)

HEADERS = {
    "head_name": ("户主姓名", "户主", "姓名", "head_name", "name"),
    "phone": ("联系电话", "电话", "手机", "手机号码", "phone"),
    "address": ("家庭住址", "住址", "地址", "address"),
    "branch": ("所属党组织", "党组织", "党组织名称", "所属支部", "村（社区）", "村", "branch"),
    "household_no": ("户编号", "户号", "编号", "household_no"),
}


@dataclass
class LedgerReport:
    ledger: HouseholdLedger | None = None
    imported: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


def import_households(session: Session, *, scope: OrgUnit, filename: str, data: bytes, name: str, by: str) -> LedgerReport:
    """All rows or none: any bad row is reported and nothing is stored."""
    try:
        table = read_table(filename, data)
    except RosterFileError as exc:
        raise Invalid(str(exc)) from None
    table = [r for r in table if any(c for c in r)]
    if len(table) < 2:
        raise Invalid("The file has no rows below the header; fill in the households and send again.", code="ledger_empty")
    cols: dict[str, int] = {}
    for idx, raw in enumerate(table[0]):
        for key, aliases in HEADERS.items():
            if raw.strip().lower() in aliases and key not in cols:
                cols[key] = idx
    missing = [HEADERS[k][0] for k in ("head_name", "phone", "branch") if k not in cols]
    if missing:
        raise Invalid("The first row must name the columns; missing: " + ", ".join(missing) + ".", code="ledger_columns_missing",
                      missing="、".join(missing))
    branches = {u.name: u for u in session.scalars(select(OrgUnit).where(OrgUnit.path.startswith(scope.path), OrgUnit.kind == "branch"))}
    by_code = {u.code: u for u in branches.values() if u.code}
    report = LedgerReport()
    rows: list[Household] = []
    for n, row in enumerate(table[1:], start=2):
        def cell(key: str, row: list[str] = row) -> str:
            i = cols.get(key)
            return row[i].strip() if i is not None and i < len(row) else ""
        branch = branches.get(cell("branch")) or by_code.get(cell("branch"))
        problems = []
        if not cell("head_name"):
            problems.append("户主姓名 is empty")
        if not cell("phone"):
            problems.append("联系电话 is empty")
        if branch is None:
            problems.append(f"党组织 {cell('branch')!r} is not a branch in {scope.name}")
        for key, limit in (("household_no", 64), ("head_name", 100), ("phone", 32), ("address", 300)):
            if len(cell(key)) > limit:
                problems.append(f"{HEADERS[key][0]} is longer than {limit} characters")
        if problems:
            report.errors.append({"row": n, "problems": problems})
            continue
        assert branch is not None
        rows.append(Household(branch_id=branch.id, household_no=cell("household_no"), head_name=cell("head_name"),
                              phone=cell("phone"), address=cell("address")))
    if report.errors:
        return report
    ledger = HouseholdLedger(scope_id=scope.id, name=(name or filename)[:200], rows=len(rows), imported_by=by)
    session.add(ledger)
    session.flush()
    for h in rows:
        h.ledger_id = ledger.id
    session.add_all(rows)
    session.flush()
    report.ledger, report.imported = ledger, len(rows)
    return report


@dataclass(frozen=True)
class Subject:
    key: str
    branch_id: int
    name: str
    phone: str


def population(session: Session, *, scope: OrgUnit, kind: str, ledger_id: int | None) -> dict[str, Subject]:
    """Members: every active member in the area with a phone number.
    Households: every household of the ledger in the area."""
    out: dict[str, Subject] = {}
    if kind == "members":
        rows = session.execute(select(Member.id, Member.branch_id, Member.name, Member.phone)
                               .join(OrgUnit, OrgUnit.id == Member.branch_id)
                               .where(OrgUnit.path.startswith(scope.path), Member.active.is_(True), Member.phone.is_not(None)))
        for mid, bid, name, phone in rows:
            if phone:
                out[f"member:{mid}"] = Subject(f"member:{mid}", bid, name, phone)
        return out
    if kind != "households":
        raise Invalid("population must be members or households.")
    if ledger_id is None:
        raise Invalid("Say which household ledger to draw from (ledger_id); import one first.", code="ledger_required")
    if session.get(HouseholdLedger, ledger_id) is None:
        raise NotFound(f"Household ledger {ledger_id} does not exist.")
    rows = session.execute(select(Household.id, Household.branch_id, Household.head_name, Household.phone)
                           .join(OrgUnit, OrgUnit.id == Household.branch_id)
                           .where(Household.ledger_id == ledger_id, OrgUnit.path.startswith(scope.path)))
    for hid, bid, name, phone in rows:
        out[f"household:{hid}"] = Subject(f"household:{hid}", bid, name, phone or "")
    return out


def draw(session: Session, *, scope: OrgUnit, kind: str, ledger_id: int | None, sample_size: int, label: str, by: str,
         seed: int | None = None) -> SpotCheck:
    """Draw with a fresh seed (the hub's, so nobody can pick a favourable one)."""
    pop = population(session, scope=scope, kind=kind, ledger_id=ledger_id)
    if not pop:
        raise Invalid(f"Nobody to call in {scope.name}: no {'member with a phone number' if kind == 'members' else 'household in the ledger'}.",
                      code="nobody_to_call_members" if kind == "members" else "nobody_to_call_households", unit=scope.name)
    if sample_size > len(pop):
        raise Invalid(f"The sample ({sample_size}) is larger than the population ({len(pop)}); ask for at most {len(pop)}.",
                      code="sample_too_large", population_size=len(pop))
    seed = sampling.new_seed() if seed is None else seed
    keys = sorted(pop)
    check = SpotCheck(scope_id=scope.id, label=label, population=kind, ledger_id=ledger_id if kind == "households" else None, seed=seed, population_size=len(keys),
                      population_hash=sampling.population_hash(keys), population_keys=keys, sample_size=sample_size, created_by=by)
    session.add(check)
    session.flush()
    for pos, key in enumerate(sampling.draw(keys, seed, sample_size), 1):
        s = pop[key]
        session.add(SpotCheckCall(spot_check_id=check.id, position=pos, subject_key=key, branch_id=s.branch_id, name=s.name, phone=s.phone))
    session.flush()
    return check


def verify(session: Session, *, check: SpotCheck) -> dict[str, Any]:
    """Recompute the sample from the stored seed and snapshot, and say
    whether today's population is still the one drawn from."""
    keys = list(check.population_keys)
    recomputed = sampling.draw(keys, check.seed, check.sample_size)
    stored = [c.subject_key for c in calls_of(session, check.id)]
    scope = session.get(OrgUnit, check.scope_id)
    assert scope is not None
    current = population(session, scope=scope, kind=check.population, ledger_id=check.ledger_id)
    return {"seed": check.seed, "population_hash": check.population_hash,
            "snapshot_hash_ok": sampling.population_hash(keys) == check.population_hash,
            "sample_matches": recomputed == stored, "current_population_hash": sampling.population_hash(current),
            "population_changed_since": sampling.population_hash(current) != check.population_hash}


def calls_of(session: Session, check_id: int) -> list[SpotCheckCall]:
    return list(session.scalars(select(SpotCheckCall).where(SpotCheckCall.spot_check_id == check_id).order_by(SpotCheckCall.position)))


def get_visible_check(session: Session, op: OperatorPrincipal, check_id: int) -> tuple[SpotCheck, OrgUnit]:
    check = session.get(SpotCheck, check_id)
    if check is None:
        raise NotFound(f"Spot check {check_id} does not exist or is outside your area.")
    try:
        return check, get_visible(session, op, check.scope_id)
    except NotFound:
        raise NotFound(f"Spot check {check_id} does not exist or is outside your area.") from None


def record_call(session: Session, *, call: SpotCheckCall, outcome: str, note: str, by: str) -> SpotCheckCall:
    if outcome not in OUTCOMES or outcome == "pending":
        raise Invalid(f"outcome must be one of {', '.join(o for o in OUTCOMES if o != 'pending')}.")
    if outcome in ("denied", "wrong_number") and not note.strip():
        raise Invalid("Write down what the person said (a denial or a wrong number needs a note).", code="call_note_required")
    call.outcome, call.note, call.called_by, call.called_at = outcome, note.strip(), by, utcnow()
    return call


CALL_HEADER = ("序号", "党组织名称", "姓名", "联系电话", "核实结果", "备注", "核实人", "核实时间")
OUTCOME_ZH = {"pending": "待核实", "confirmed": "属实", "denied": "不属实", "unreachable": "无法接通", "wrong_number": "号码错误", "refused": "拒绝回答"}
