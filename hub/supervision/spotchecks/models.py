"""Random spot checks (电话抽查): a household ledger the county imports, the
draws (seed + population snapshot) and each call's outcome."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime, utcnow

OUTCOMES = ("pending", "confirmed", "denied", "unreachable", "wrong_number", "refused")


class HouseholdLedger(Base):
    __tablename__ = "household_ledgers"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    imported_by: Mapped[str] = mapped_column(String(100))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Household(Base):
    __tablename__ = "households"

    id: Mapped[int] = mapped_column(primary_key=True)
    ledger_id: Mapped[int] = mapped_column(ForeignKey("household_ledgers.id"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    household_no: Mapped[str] = mapped_column(String(64), default="")
    head_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(300), default="")


class SpotCheck(Base):
    __tablename__ = "spot_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    population: Mapped[str] = mapped_column(String(20))  # members | households
    ledger_id: Mapped[int | None] = mapped_column(ForeignKey("household_ledgers.id"))
    seed: Mapped[int] = mapped_column(BigInteger)
    population_size: Mapped[int] = mapped_column(Integer)
    population_hash: Mapped[str] = mapped_column(String(64))
    population_keys: Mapped[list] = mapped_column(JSON)  # the snapshot the sample was drawn from
    sample_size: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SpotCheckCall(Base):
    __tablename__ = "spot_check_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    spot_check_id: Mapped[int] = mapped_column(ForeignKey("spot_checks.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    subject_key: Mapped[str] = mapped_column(String(40))
    branch_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(20), default="pending")
    note: Mapped[str] = mapped_column(Text, default="")
    called_by: Mapped[str | None] = mapped_column(String(100))
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
