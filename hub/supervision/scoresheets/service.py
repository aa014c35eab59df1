"""Score templates, scoring a branch, totals and rankings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.errors import Conflict, Invalid, NotFound
from hub.organisations.models import OrgUnit
from hub.supervision.common import Tree
from hub.supervision.rectification import service as ledger
from hub.supervision.scoresheets.defaults import DEFAULT_NAME, DEFAULT_SHEET
from hub.supervision.scoresheets.models import (
    Inspection,
    InspectionScore,
    ScoreCategory,
    ScoreItem,
    ScoreTemplate,
)
from hub.supervision.scoresheets.schemas import CategoryIn, ScoreIn


def _pts(x: float) -> float:
    return round(float(x), 2)


def create_template(session: Session, *, name: str, description: str, categories: Sequence[CategoryIn], created_by: str) -> ScoreTemplate:
    if session.scalar(select(ScoreTemplate.id).where(ScoreTemplate.name == name)):
        raise Conflict(f"A score sheet named {name!r} exists; choose another name.")
    problems = []
    names = [c.name for c in categories]
    for c in categories:
        if names.count(c.name) > 1:
            problems.append(f"category {c.name!r} appears twice")
        total = _pts(sum(i.max_points for i in c.items))
        if total != _pts(c.max_points):
            problems.append(f"the items of {c.name} add up to {total:g}, not its {c.max_points:g} points")
    if problems:
        raise Invalid("The score sheet does not add up: " + "; ".join(sorted(set(problems))) + ". Correct it and send again.")
    t = ScoreTemplate(name=name, description=description, created_by=created_by)
    session.add(t)
    session.flush()
    for ci, c in enumerate(categories):
        cat = ScoreCategory(template_id=t.id, name=c.name, max_points=_pts(c.max_points), position=ci)
        session.add(cat)
        session.flush()
        for ii, it in enumerate(c.items):
            session.add(ScoreItem(category_id=cat.id, name=it.name, max_points=_pts(it.max_points), guidance=it.guidance, position=ii))
    session.flush()
    return t


def ensure_default_template(session: Session) -> ScoreTemplate:
    existing = session.scalar(select(ScoreTemplate).where(ScoreTemplate.name == DEFAULT_NAME))
    if existing is not None:
        return existing
    cats = [CategoryIn(name=n, max_points=m, items=[{"name": i, "max_points": p} for i, p in items]) for n, m, items in DEFAULT_SHEET]  # type: ignore[misc]
    try:
        with session.begin_nested():
            return create_template(session, name=DEFAULT_NAME, description="示例评分表：五大类100分", categories=cats, created_by="system")
    except (IntegrityError, Conflict):
        # Installed at the same moment by another session (start-up task and a request).
        return session.scalars(select(ScoreTemplate).where(ScoreTemplate.name == DEFAULT_NAME)).one()


@dataclass(frozen=True)
class Sheet:
    template: ScoreTemplate
    categories: list[tuple[ScoreCategory, list[ScoreItem]]]

    @property
    def items(self) -> dict[int, tuple[ScoreCategory, ScoreItem]]:
        return {i.id: (c, i) for c, items in self.categories for i in items}

    @property
    def max_total(self) -> float:
        return _pts(sum(c.max_points for c, _ in self.categories))


def load_sheet(session: Session, template_id: int) -> Sheet:
    t = session.get(ScoreTemplate, template_id)
    if t is None:
        raise NotFound(f"Score sheet {template_id} does not exist; pick one from GET /api/v1/supervision/score-templates.")
    cats = list(session.scalars(select(ScoreCategory).where(ScoreCategory.template_id == t.id).order_by(ScoreCategory.position)))
    items: dict[int, list[ScoreItem]] = defaultdict(list)
    for it in session.scalars(select(ScoreItem).where(ScoreItem.category_id.in_([c.id for c in cats])).order_by(ScoreItem.position)):
        items[it.category_id].append(it)
    return Sheet(t, [(c, items[c.id]) for c in cats])


def list_templates(session: Session) -> list[ScoreTemplate]:
    return list(session.scalars(select(ScoreTemplate).order_by(ScoreTemplate.id)))


def _deduction(entry: ScoreIn, item: ScoreItem) -> float:
    if (entry.score is None) == (entry.deduction is None):
        raise Invalid(f"Item {item.name}: give either score or deduction, not both or neither.")
    if entry.score is not None:
        if entry.score > item.max_points:
            raise Invalid(f"Item {item.name}: score {entry.score:g} is above the item's maximum of {item.max_points:g} points.",
                          code="score_above_max")
        if entry.score < 0:
            raise Invalid(f"Item {item.name}: a score cannot be negative; give 0 at the lowest.")
        return _pts(item.max_points - entry.score)
    assert entry.deduction is not None
    if entry.deduction < 0:
        raise Invalid(f"Item {item.name}: a deduction cannot be negative.")
    if entry.deduction > item.max_points:
        raise Invalid(f"Item {item.name}: deducting {entry.deduction:g} is more than the item's maximum of {item.max_points:g} points.",
                      code="score_above_max")
    return _pts(entry.deduction)


def score_branch(
    session: Session, *, branch: OrgUnit, template_id: int, group_name: str, inspected_on: date, scores: Sequence[ScoreIn],
    today: date, created_by: str, note: str = "",
) -> Inspection:
    """One inspection; every deduction needs a reason; a deduction may open
    a rectification item. All or nothing: any bad entry saves nothing."""
    if branch.kind != "branch":
        raise Invalid(f"{branch.name} is not a branch; score sheets are filled in for branches.")
    if inspected_on > today:
        raise Invalid(f"The inspection date {inspected_on} is in the future; give the day of the visit.")
    sheet = load_sheet(session, template_id)
    if not sheet.template.active:
        raise Invalid(f"The score sheet {sheet.template.name} is retired; use a current one.")
    items = sheet.items
    seen: set[int] = set()
    planned: list[tuple[ScoreIn, ScoreItem, float]] = []
    for entry in scores:
        if entry.item_id not in items:
            raise Invalid(f"Item {entry.item_id} is not on the score sheet {sheet.template.name}.")
        if entry.item_id in seen:
            raise Invalid(f"Item {items[entry.item_id][1].name} is scored twice; keep one entry per item.")
        seen.add(entry.item_id)
        item = items[entry.item_id][1]
        deduction = _deduction(entry, item)
        if deduction > 0 and not entry.reason.strip():
            raise Invalid(f"Item {item.name}: say why {deduction:g} points were deducted (扣分原因).")
        if entry.rectification is not None and deduction == 0:
            raise Invalid(f"Item {item.name}: a rectification item can only follow a deduction.")
        planned.append((entry, item, deduction))
    total = _pts(sheet.max_total - sum(d for _, _, d in planned))
    insp = Inspection(template_id=sheet.template.id, branch_id=branch.id, group_name=group_name.strip(), inspected_on=inspected_on,
                      total=total, max_total=sheet.max_total, note=note, created_by=created_by)
    session.add(insp)
    session.flush()
    for entry, item, deduction in planned:
        if deduction == 0:
            continue
        row = InspectionScore(inspection_id=insp.id, item_id=item.id, deduction=deduction, reason=entry.reason.strip())
        session.add(row)
        session.flush()
        if entry.rectification is not None:
            r = entry.rectification
            rect = ledger.create_item(session, branch=branch, problem=f"{item.name}：{entry.reason.strip()}（扣{deduction:g}分）",
                                      measures=r.measures, deadline=r.deadline, responsible=r.responsible, today=today,
                                      created_by=created_by, source="score_deduction", deduction_id=row.id)
            row.rectification_id = rect.id
    session.flush()
    return insp


def detail(session: Session, inspection: Inspection) -> tuple[Sheet, list[InspectionScore]]:
    sheet = load_sheet(session, inspection.template_id)
    rows = list(session.scalars(select(InspectionScore).where(InspectionScore.inspection_id == inspection.id).order_by(InspectionScore.id)))
    return sheet, rows


def category_scores(sheet: Sheet, rows: Sequence[InspectionScore]) -> list[tuple[str, float, float, float]]:
    items = sheet.items
    taken: dict[int, float] = defaultdict(float)
    for r in rows:
        taken[items[r.item_id][0].id] += r.deduction
    return [(c.name, c.max_points, _pts(taken[c.id]), _pts(c.max_points - taken[c.id])) for c, _ in sheet.categories]


def competition_rank(values: Sequence[float]) -> list[int]:
    """1, 2, 2, 4 for scores 98, 95, 95, 90 (ties share the better rank)."""
    ranks = []
    for v in values:
        ranks.append(1 + sum(1 for w in values if w > v))
    return ranks


@dataclass(frozen=True)
class Ranked:
    inspection: Inspection
    branch: OrgUnit
    township: OrgUnit | None
    county_rank: int
    township_rank: int


def rankings(session: Session, *, path: str, template_id: int, since: date, until: date) -> list[Ranked]:
    """Each branch's latest inspection on this sheet in [since, until],
    ranked across the whole area and within its township."""
    latest = (select(Inspection.branch_id, func.max(Inspection.id).label("iid"))
              .join(OrgUnit, OrgUnit.id == Inspection.branch_id)
              .where(OrgUnit.path.startswith(path), Inspection.template_id == template_id,
                     Inspection.inspected_on >= since, Inspection.inspected_on <= until)
              .group_by(Inspection.branch_id).subquery())
    inspections = list(session.scalars(select(Inspection).join(latest, latest.c.iid == Inspection.id)))
    tree = Tree.load(session, path)
    rows = [(i, tree.units[i.branch_id]) for i in inspections if i.branch_id in tree.units]
    rows.sort(key=lambda r: (-r[0].total, r[1].path))
    county = competition_rank([i.total for i, _ in rows])
    by_town: dict[int | None, list[float]] = defaultdict(list)
    towns = {b.id: tree.township(b) for _, b in rows}
    for i, b in rows:
        t = towns[b.id]
        by_town[t.id if t else None].append(i.total)
    out = []
    for (i, b), cr in zip(rows, county, strict=True):
        t = towns[b.id]
        peers = by_town[t.id if t else None]
        out.append(Ranked(i, b, t, cr, 1 + sum(1 for v in peers if v > i.total)))
    return out
