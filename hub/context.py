"""The hub's wiring: one object built at start-up, held on app.state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hub.auth.live import LiveSessions
from hub.auth.ratelimit import LoginLimiter
from hub.config import Settings
from hub.events import EventBus

if TYPE_CHECKING:
    from hub.cluster.broker import ClusterNode
    from hub.edge.gateway import EdgeGateway
    from hub.fingerprints.crypto import TemplateCipher
    from hub.media.plane import MediaPlane
    from hub.recordings.service import RecordingService
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
    recordings: RecordingService | None = None  # recordings: their own domain, on with or without live media
    cluster: ClusterNode | None = None  # set when cluster.enabled: the NATS link to the other nodes
    fingerprint_cipher: TemplateCipher | None = None  # derived once, on first use (hub/fingerprints/views.py)
