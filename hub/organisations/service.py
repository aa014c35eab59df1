from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.auth.principal import OperatorPrincipal
from hub.errors import Conflict, Forbidden, Invalid, NotFound
from hub.organisations.models import KINDS, OrgUnit

# What may sit under what: one county at the root, townships under it,
# branches under a township (or directly under the county or an "other"
# unit such as a county organ).
CHILD_KINDS = {"county": ("township", "branch", "other"), "township": ("branch", "other"), "other": ("branch", "other"),
               "branch": ()}


def create_unit(session: Session, *, name: str, kind: str, parent_id: int | None, code: str | None = None) -> OrgUnit:
    if kind not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}")
    parent = None
    if parent_id is not None:
        parent = session.get(OrgUnit, parent_id)
        if parent is None:
            raise NotFound(f"Parent unit {parent_id} does not exist.")
        _check_parent(parent, kind)
    elif session.scalar(select(func.count()).select_from(OrgUnit)):
        raise Invalid("The tree already has a root; give a parent_id.")
    if code and session.scalar(select(OrgUnit).where(OrgUnit.code == code)):
        raise Conflict(f"The code {code!r} is already used by another unit.", code="unit_code_taken")
    unit = OrgUnit(name=name, kind=kind, parent_id=parent_id, code=code)
    session.add(unit)
    session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    return unit


def _check_parent(parent: OrgUnit, kind: str) -> None:
    if not parent.active:
        raise Invalid(f"{parent.name} has been deactivated; choose an active parent unit.", code="unit_inactive")
    if parent.kind == "branch":
        raise Invalid("A branch cannot contain other units; choose a township or county as parent.",
                      code="unit_kind_not_allowed")
    if kind not in CHILD_KINDS[parent.kind]:
        raise Invalid(f"kind: a {parent.kind} unit can contain {' or '.join(CHILD_KINDS[parent.kind])} units, "
                      f"not a {kind}; choose another kind or another parent.", code="unit_kind_not_allowed")


def update_unit(session: Session, principal: OperatorPrincipal, unit: OrgUnit, *, name: str | None = None,
                parent_id: int | None = None, active: bool | None = None) -> list[OrgUnit]:
    """Rename, move under another parent, or (de)activate a unit inside the
    operator's area (never the root of the area itself). Returns every unit
    whose path or state changed (the unit and, on a move, its subtree)."""
    if unit.path == principal.scope_path or not principal.can_see(unit.path):
        raise Forbidden("You may change the units inside your area, not your area itself; ask the county.",
                        code="own_scope")
    changed = [unit]
    if name is not None:
        unit.name = name
    if parent_id is not None and parent_id != unit.parent_id:
        parent = get_visible(session, principal, parent_id)
        if parent.path.startswith(unit.path):
            raise Invalid("A unit cannot move under itself or under one of its own units; choose another parent.",
                          code="unit_cycle")
        _check_parent(parent, unit.kind)
        old, new = unit.path, f"{parent.path}{unit.id}/"
        changed = units_under(session, old)
        for u in changed:
            u.path = new + u.path[len(old):]
        unit.parent_id = parent.id
    if active is False and unit.active:
        busy = session.scalar(select(func.count()).select_from(OrgUnit).where(
            OrgUnit.parent_id == unit.id, OrgUnit.active.is_(True)))
        if busy:
            raise Conflict(f"{unit.name} still has {busy} active units; move or deactivate them first.",
                           code="unit_has_active_children")
        unit.active = False
    elif active is True and not unit.active:
        above = session.get(OrgUnit, unit.parent_id) if unit.parent_id else None
        if above is not None and not above.active:
            raise Invalid(f"{above.name} has been deactivated; reactivate it first.", code="unit_inactive")
        unit.active = True
    session.flush()
    return changed


def get_visible(session: Session, principal: OperatorPrincipal, unit_id: int) -> OrgUnit:
    """The unit, if the operator may see it. Units outside the operator's
    subtree answer exactly like missing ones: their existence is not shown."""
    unit = session.get(OrgUnit, unit_id)
    if unit is None or not principal.can_see(unit.path):
        raise NotFound(f"Unit {unit_id} does not exist or is outside your area.")
    return unit


def get_branch_visible(session: Session, principal: OperatorPrincipal, branch_id: int) -> OrgUnit:
    unit = get_visible(session, principal, branch_id)
    if unit.kind != "branch":
        raise Invalid(f"Unit {branch_id} ({unit.name}) is not a branch.")
    return unit


def units_under(session: Session, path: str, kind: str | None = None) -> list[OrgUnit]:
    stmt = select(OrgUnit).where(OrgUnit.path.startswith(path)).order_by(OrgUnit.path)
    if kind:
        stmt = stmt.where(OrgUnit.kind == kind)
    return list(session.scalars(stmt))


def ancestors_named(session: Session, unit: OrgUnit, kind: str) -> OrgUnit | None:
    ids = [int(p) for p in unit.path.strip("/").split("/") if p]
    for uid in reversed(ids):
        u = session.get(OrgUnit, uid)
        if u is not None and u.kind == kind:
            return u
    return None


def root(session: Session) -> OrgUnit | None:
    return session.scalar(select(OrgUnit).where(OrgUnit.parent_id.is_(None)))
