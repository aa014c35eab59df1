"""Errors of the media package: one root, each message says what to do next."""

from __future__ import annotations


class MediaError(Exception):
    """Root of every error raised by devices.media."""


class EncoderError(MediaError):
    """The video encoder could not be set up or failed on a frame."""


class WhipError(MediaError):
    """The WHIP exchange with the hub failed."""


class WhipAuthError(WhipError):
    """The hub refused the device token (401/403): re-provision the device token."""

    def __init__(self, status: int, detail: str = "") -> None:
        self.status = status
        text = (f"hub refused the device token (HTTP {status}); re-register this device "
                "or check the token in the agent's configuration")
        super().__init__(f"{text}: {detail}" if detail else text)


class WhipHttpError(WhipError):
    """The hub answered with an unexpected HTTP status."""

    def __init__(self, status: int, detail: str = "") -> None:
        self.status = status
        super().__init__(f"hub answered HTTP {status} to the WHIP request{': ' + detail if detail else ''}")


class WhipProtocolError(WhipError):
    """The hub's answer broke RFC 9725 (no Location, not application/sdp, ...)."""
