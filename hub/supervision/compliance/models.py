"""What the compliance scheduler has already said, so it says it once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime, utcnow

KINDS = ("reminder", "unmet", "headcount")


class ComplianceAlert(Base):
    __tablename__ = "compliance_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    branch_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    # meeting type code (reminder/unmet) or meeting id (headcount)
    subject: Mapped[str] = mapped_column(String(40))
    period_key: Mapped[str] = mapped_column(String(20), default="")
    message: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    __table_args__ = (UniqueConstraint("kind", "branch_id", "subject", "period_key", name="uq_compliance_alerts_once"),)
