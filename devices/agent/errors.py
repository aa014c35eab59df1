"""The edge agent's one error hierarchy.

Every error a person can see (on the kiosk or in the log) says what to do
next. Refusals of a check-in by the local rules are not errors: they are
outcomes (see `devices.agent.meeting.CheckInOutcome`).
"""

from __future__ import annotations


class EdgeError(Exception):
    """Base of every error raised by the edge agent. `code`, where set, names
    the error for the kiosk, which shows it in the hall's language
    (devices/kiosk/texts.py ERROR_CODES or PROMPTS); the message is for logs."""

    default_code: str | None = None

    def __init__(self, message: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code


class ConfigError(EdgeError):
    """A setting is missing or invalid; the message names it."""


class StoreError(EdgeError):
    """The local SQLite database could not be used."""


class UplinkError(EdgeError):
    """The WebSocket link to the hub failed."""


class AuthFailed(UplinkError):
    """The hub refused the device token (HTTP 401 at the handshake)."""


class EnrolmentError(EdgeError):
    """The one-time enrolment code could not be exchanged for a token."""


class ProtocolError(UplinkError, ValueError):
    """A message from the hub does not follow docs/protocols/edge-ws.md."""


class MeetingError(EdgeError):
    """A meeting operation is not allowed in the current meeting state."""

    default_code = "meeting_refused"


class ReaderUnavailable(EdgeError):
    """No fingerprint reader is attached or it is not ready."""

    default_code = "reader_unavailable"
