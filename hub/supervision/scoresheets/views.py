"""Score sheet routes: templates, inspections, rankings."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Response
from sqlalchemy import select

from hub.api.deps import Ctx, CurrentOperator, SessionDep
from hub.audit import service as audit
from hub.errors import NotFound
from hub.organisations.models import OrgUnit
from hub.organisations.service import get_branch_visible
from hub.supervision.common import Tree, check_range, scope_unit, today, xlsx_bytes, xlsx_response
from hub.supervision.config import settings_for
from hub.supervision.scoresheets import service
from hub.supervision.scoresheets.models import Inspection
from hub.supervision.scoresheets.schemas import (
    CategoryRead,
    CategoryScore,
    DeductionRead,
    InspectionCreate,
    InspectionRead,
    ItemRead,
    RankingRow,
    TemplateCreate,
    TemplateRead,
)

router = APIRouter(prefix="/api/v1/supervision", tags=["supervision: score sheets"])


def template_read(sheet: service.Sheet) -> TemplateRead:
    t = sheet.template
    return TemplateRead(id=t.id, name=t.name, description=t.description, active=t.active, max_total=sheet.max_total,
                        categories=[CategoryRead(id=c.id, name=c.name, max_points=c.max_points,
                                                 items=[ItemRead(id=i.id, name=i.name, max_points=i.max_points, guidance=i.guidance) for i in items])
                                    for c, items in sheet.categories])


def inspection_read(session: SessionDep, insp: Inspection) -> InspectionRead:
    sheet, rows = service.detail(session, insp)
    tree = Tree.load(session, "/")
    branch = tree.units[insp.branch_id]
    town = tree.township(branch)
    items = sheet.items
    return InspectionRead(
        id=insp.id, template_id=insp.template_id, branch_id=insp.branch_id, branch_name=branch.name,
        township=town.name if town else "", group_name=insp.group_name, inspected_on=insp.inspected_on, total=insp.total,
        max_total=insp.max_total, note=insp.note, created_by=insp.created_by, created_at=insp.created_at,
        categories=[CategoryScore(name=n, max_points=m, deducted=d, score=s) for n, m, d, s in service.category_scores(sheet, rows)],
        deductions=[DeductionRead(item_id=r.item_id, item_name=items[r.item_id][1].name, category=items[r.item_id][0].name,
                                  max_points=items[r.item_id][1].max_points, deduction=r.deduction, reason=r.reason,
                                  rectification_id=r.rectification_id) for r in rows],
    )


@router.get("/score-templates", response_model=list[TemplateRead])
def list_templates(session: SessionDep, op: CurrentOperator) -> list[TemplateRead]:
    return [template_read(service.load_sheet(session, t.id)) for t in service.list_templates(session)]


@router.post("/score-templates", response_model=TemplateRead, status_code=201)
def create_template(body: TemplateCreate, session: SessionDep, op: CurrentOperator) -> TemplateRead:
    op.require_admin()
    t = service.create_template(session, name=body.name, description=body.description, categories=body.categories, created_by=op.username)
    audit.record(session, actor=op.username, action="score_template_created", target=f"score_template:{t.id}", detail={"name": body.name})
    return template_read(service.load_sheet(session, t.id))


@router.get("/score-templates/{template_id}", response_model=TemplateRead)
def get_template(template_id: int, session: SessionDep, op: CurrentOperator) -> TemplateRead:
    return template_read(service.load_sheet(session, template_id))


@router.post("/inspections", response_model=InspectionRead, status_code=201)
def create_inspection(body: InspectionCreate, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> InspectionRead:
    op.require_write()
    branch = get_branch_visible(session, op, body.branch_id)
    insp = service.score_branch(session, branch=branch, template_id=body.template_id, group_name=body.group_name,
                                inspected_on=body.inspected_on, scores=body.scores, note=body.note,
                                today=today(settings_for(ctx).utc_offset_hours), created_by=op.username)
    audit.record(session, actor=op.username, action="inspection_scored", target=f"inspection:{insp.id}", branch_id=branch.id,
                 detail={"total": insp.total, "template_id": body.template_id, "deductions": len(body.scores)})
    return inspection_read(session, insp)


@router.get("/inspections", response_model=list[InspectionRead])
def list_inspections(session: SessionDep, op: CurrentOperator, unit_id: int | None = None, since: date | None = None,
                     until: date | None = None, limit: int = 200) -> list[InspectionRead]:
    unit = scope_unit(session, op, unit_id)
    stmt = (select(Inspection).join(OrgUnit, OrgUnit.id == Inspection.branch_id).where(OrgUnit.path.startswith(unit.path))
            .order_by(Inspection.inspected_on.desc(), Inspection.id.desc()).limit(min(limit, 1000)))
    if since:
        stmt = stmt.where(Inspection.inspected_on >= since)
    if until:
        stmt = stmt.where(Inspection.inspected_on <= until)
    return [inspection_read(session, i) for i in session.scalars(stmt)]


@router.get("/inspections/{inspection_id}", response_model=InspectionRead)
def get_inspection(inspection_id: int, session: SessionDep, op: CurrentOperator) -> InspectionRead:
    insp = session.get(Inspection, inspection_id)
    branch = session.get(OrgUnit, insp.branch_id) if insp else None
    if insp is None or branch is None or not op.can_see(branch.path):
        raise NotFound(f"Inspection {inspection_id} does not exist or is outside your area.")
    return inspection_read(session, insp)


def _rankings(session: SessionDep, op: CurrentOperator, template_id: int, since: date, until: date, unit_id: int | None) -> tuple[OrgUnit, list[RankingRow]]:
    check_range(since, until)
    unit = scope_unit(session, op, unit_id)
    service.load_sheet(session, template_id)
    rows = [RankingRow(branch_id=r.branch.id, branch_name=r.branch.name, township_id=r.township.id if r.township else None,
                       township=r.township.name if r.township else "", inspection_id=r.inspection.id,
                       inspected_on=r.inspection.inspected_on, total=r.inspection.total, county_rank=r.county_rank,
                       township_rank=r.township_rank)
            for r in service.rankings(session, path=unit.path, template_id=template_id, since=since, until=until)]
    return unit, rows


@router.get("/rankings", response_model=list[RankingRow])
def rankings(session: SessionDep, op: CurrentOperator, template_id: int, since: date, until: date, unit_id: int | None = None) -> list[RankingRow]:
    """Latest score per branch in the period; rank in the area and in its township."""
    return _rankings(session, op, template_id, since, until, unit_id)[1]


@router.get("/rankings/export.xlsx")
def export_rankings(session: SessionDep, op: CurrentOperator, template_id: int, since: date, until: date, unit_id: int | None = None) -> Response:
    unit, rows = _rankings(session, op, template_id, since, until, unit_id)
    data = xlsx_bytes([("排名", ("排名", "乡镇排名", "乡镇（街道）", "党组织名称", "督查日期", "得分"),
                        [(r.county_rank, r.township_rank, r.township, r.branch_name, r.inspected_on, r.total) for r in rows])])
    audit.record(session, actor=op.username, action="rankings_exported", target=f"org_unit:{unit.id}", branch_id=unit.id)
    return xlsx_response(data, f"督查排名-{unit.name}.xlsx")
