"""The hub's wiring: one object built at start-up, held on app.state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hub.auth.live import LiveSessions
from hub.auth.ratelimit import LoginLimiter
from hub.config import Settings
from hub.events import EventBus

if TYPE_CHECKING:
    from hub.edge.gateway import EdgeGateway
    from hub.media.plane import MediaPlane
    from hub.wall.state import WallState


@dataclass
class HubContext:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    bus: EventBus
    limiter: LoginLimiter
    edge: EdgeGateway | None = None
    wall: WallState | None = None
    media: MediaPlane | None = None  # live media: the front of the media nodes (hub/media/node.py)
    live: LiveSessions = field(default_factory=LiveSessions)
    enrol_limiter: LoginLimiter = field(default_factory=lambda: LoginLimiter(10))
    extras: dict[str, Any] = field(default_factory=dict)
