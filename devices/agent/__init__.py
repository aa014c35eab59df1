"""The village hall's edge agent: outbox, uplink to the hub, meeting and
check-in state, and the glue that runs them with the kiosk, the fingerprint
reader and the camera (`devices.agent.app`)."""

from devices.agent.errors import (
    AuthFailed,
    ConfigError,
    EdgeError,
    EnrolmentError,
    MeetingError,
    ProtocolError,
    ReaderUnavailable,
    StoreError,
    UplinkError,
)

__all__ = [
    "AuthFailed",
    "ConfigError",
    "EdgeError",
    "EnrolmentError",
    "MeetingError",
    "ProtocolError",
    "ReaderUnavailable",
    "StoreError",
    "UplinkError",
]
