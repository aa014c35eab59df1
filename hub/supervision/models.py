"""Every supervision table, imported in one place so that Alembic and
`Base.metadata` see them (hub/models.py imports this module)."""

from hub.supervision.compliance.models import ComplianceAlert
from hub.supervision.notices.models import Notice, NoticeItem
from hub.supervision.notifications.models import Notification
from hub.supervision.plans.models import MeetingPlan, PlanItem, PlanReview
from hub.supervision.rectification.models import RectificationEvidence, RectificationItem
from hub.supervision.scoresheets.models import (
    Inspection,
    InspectionScore,
    ScoreCategory,
    ScoreItem,
    ScoreTemplate,
)
from hub.supervision.spotchecks.models import Household, HouseholdLedger, SpotCheck, SpotCheckCall

__all__ = [
    "ComplianceAlert", "Household", "HouseholdLedger", "Inspection", "InspectionScore", "MeetingPlan", "Notice", "NoticeItem",
    "Notification", "PlanItem", "PlanReview", "RectificationEvidence", "RectificationItem", "ScoreCategory", "ScoreItem",
    "ScoreTemplate", "SpotCheck", "SpotCheckCall",
]
