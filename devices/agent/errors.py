"""The edge agent's one error hierarchy.

Every error a person can see (on the kiosk or in the log) says what to do
next. Refusals of a check-in by the local rules are not errors: they are
outcomes (see `devices.agent.meeting.CheckInOutcome`).
"""

from __future__ import annotations


class EdgeError(Exception):
    """Base of every error raised by the edge agent."""


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


class ReaderUnavailable(EdgeError):
    """No fingerprint reader is attached or it is not ready."""
