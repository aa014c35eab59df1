"""The media plane's one error hierarchy. Views map these to problem details
(RFC 9457); every detail says what the caller should do next."""

from __future__ import annotations


class MediaError(Exception):
    status: int = 500
    title: str = "Media plane error"

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status


class BadRequest(MediaError):
    status = 400
    title = "Bad request"


class BadSdp(BadRequest):
    title = "Invalid SDP offer"


class UnsupportedMedia(MediaError):
    status = 415
    title = "Unsupported media"


class UnprocessableMedia(MediaError):
    status = 422
    title = "Media cannot be recorded"


class NotFound(MediaError):
    status = 404
    title = "Not found"


class Conflict(MediaError):
    status = 409
    title = "Conflict"


class Unavailable(MediaError):
    status = 503
    title = "Media plane unavailable"


class StorageFull(MediaError):
    status = 507
    title = "Recording storage full"


class MediaAuthError(MediaError):
    """Raised by a MediaAuth implementation: 401 (who are you?) or 403 (not yours)."""

    title = "Not allowed"

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail, status=status)
        self.title = "Unauthorized" if status == 401 else "Forbidden"
