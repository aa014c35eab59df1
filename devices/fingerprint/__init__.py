"""UART fingerprint module (R307 / R503 / AS608) for the check-in kiosk.

`codec` is the pure wire format; `transport` opens the port; `connection`
holds the link state machine; `driver` is the API the kiosk calls; `reader`
turns it into check-in events.
"""

from .codec import ConfirmationCode, SysParams
from .connection import ConnectionState
from .driver import EnrollPrompt, EnrollStep, FingerprintDriver, Match
from .errors import (
    AlreadyEnrolled,
    FingerNotPlaced,
    FingerprintError,
    FingersDiffer,
    ModuleError,
    NotRecognisedError,
    PasswordError,
    PoorImageError,
    ProtocolError,
    ReaderBusy,
    ReaderDisconnected,
    ReaderTimeout,
    ReaderUnavailable,
    SlotError,
    UnsupportedCommand,
)
from .reader import (
    CheckInReader,
    FingerMatched,
    NotRecognised,
    PoorImage,
    ReaderEvent,
    ReaderFault,
    ReaderReady,
    ReaderReconnected,
    ReadFailed,
)

__all__ = [
    "AlreadyEnrolled",
    "CheckInReader",
    "ConfirmationCode",
    "ConnectionState",
    "EnrollPrompt",
    "EnrollStep",
    "FingerMatched",
    "FingerNotPlaced",
    "FingerprintDriver",
    "FingerprintError",
    "FingersDiffer",
    "Match",
    "ModuleError",
    "NotRecognised",
    "NotRecognisedError",
    "PasswordError",
    "PoorImage",
    "PoorImageError",
    "ProtocolError",
    "ReadFailed",
    "ReaderBusy",
    "ReaderDisconnected",
    "ReaderEvent",
    "ReaderFault",
    "ReaderReady",
    "ReaderReconnected",
    "ReaderTimeout",
    "ReaderUnavailable",
    "SlotError",
    "SysParams",
    "UnsupportedCommand",
]
