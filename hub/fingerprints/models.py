"""The enrolment table: one row per (branch, module slot).

The template itself is only ever stored encrypted (`ciphertext` = AES-GCM
nonce + ciphertext + tag); `key_id` names the key that sealed it so a hub
whose secret changed says so instead of failing obscurely."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime, utcnow


class FingerprintEnrolment(Base):
    __tablename__ = "fingerprint_enrolments"
    __table_args__ = (UniqueConstraint("branch_id", "slot", name="uq_fingerprint_enrolments_branch_slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    slot: Mapped[int] = mapped_column(Integer)
    finger: Mapped[str | None] = mapped_column(String(32))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(16))
    template_size: Mapped[int] = mapped_column(Integer)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
