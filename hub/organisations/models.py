from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, true
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime, utcnow

KINDS = ("county", "township", "branch", "other")


class OrgUnit(Base):
    """A node of the organisation tree. `path` is the materialised chain of
    ids ("/1/4/17/") so that "is X inside the operator's subtree" is one
    prefix test on every route and every event."""

    __tablename__ = "org_units"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    code: Mapped[str | None] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(String(400), default="")
    # Deactivated (merged, dissolved): kept for history and old records,
    # hidden from pickers; nothing new can be put under it.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_org_units_path", "path"),)

    @property
    def is_branch(self) -> bool:
        return self.kind == "branch"
