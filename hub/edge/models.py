from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime, utcnow


class EdgeMessage(Base):
    """The stored answer to every edge message id: a resent message is
    answered from here, never applied twice."""

    __tablename__ = "edge_messages"

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answer: Mapped[dict] = mapped_column(JSON)
