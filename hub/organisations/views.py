from __future__ import annotations

from fastapi import APIRouter

from hub.api.deps import Ctx, CurrentOperator, SessionDep
from hub.audit import service as audit
from hub.events import OrgUnitChanged
from hub.organisations import service
from hub.organisations.schemas import OrgUnitCreate, OrgUnitRead, OrgUnitUpdate

router = APIRouter(prefix="/api/v1/org-units", tags=["organisations"])


@router.get("", response_model=list[OrgUnitRead])
def list_units(session: SessionDep, op: CurrentOperator, kind: str | None = None) -> list:
    """Every unit in the operator's subtree, in tree order."""
    return service.units_under(session, op.scope_path, kind)


@router.get("/{unit_id}", response_model=OrgUnitRead)
def get_unit(unit_id: int, session: SessionDep, op: CurrentOperator) -> object:
    return service.get_visible(session, op, unit_id)


@router.post("", response_model=OrgUnitRead, status_code=201)
def create_unit(body: OrgUnitCreate, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> object:
    op.require_write()
    service.get_visible(session, op, body.parent_id)
    unit = service.create_unit(session, name=body.name, kind=body.kind, parent_id=body.parent_id, code=body.code)
    audit.record(session, actor=op.username, action="org_unit_created", target=f"org_unit:{unit.id}", branch_id=unit.id, detail=body.model_dump())
    session.commit()
    ctx.bus.publish_threadsafe(OrgUnitChanged(unit.id))
    return unit


@router.patch("/{unit_id}", response_model=OrgUnitRead)
def update_unit(unit_id: int, body: OrgUnitUpdate, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> object:
    """Rename, move (`parent_id`) or deactivate (`active: false`) a unit of your area."""
    op.require_write()
    unit = service.get_visible(session, op, unit_id)
    changes = body.model_dump(exclude_unset=True)
    changed = service.update_unit(session, op, unit, **changes)
    action = "org_unit_deactivated" if changes.get("active") is False else (
        "org_unit_moved" if "parent_id" in changes else "org_unit_updated")
    audit.record(session, actor=op.username, action=action, target=f"org_unit:{unit.id}", branch_id=unit.id,
                 detail=changes)
    session.commit()
    for u in changed:
        ctx.bus.publish_threadsafe(OrgUnitChanged(u.id))
    return unit
