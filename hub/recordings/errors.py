"""The recordings domain's errors: subclasses of the hub's one hierarchy, so
views raise them and the app answers RFC 9457 problem details. Every detail
says what to do next, Chinese first, English second."""

from __future__ import annotations

from hub.errors import Conflict, HubError, Invalid, NotFound

__all__ = ["BadUpload", "Conflict", "ExportFailed", "HubError", "Invalid", "NotFound",
           "PayloadTooLarge", "ResumeConflict", "StorageFull", "UnsupportedType"]


class BadUpload(HubError):
    status, title, code = 400, "Bad upload", "bad_upload"


class PayloadTooLarge(HubError):
    status, title, code = 413, "Segment too large", "segment_too_large"


class UnsupportedType(HubError):
    status, title, code = 415, "Unsupported media type", "unsupported_media"


class Unplayable(Invalid):
    """A segment the hub cannot verify as decodable (422)."""

    code = "segment_unplayable"


class ExportFailed(Invalid):
    """The export process could not make a file of these segments (422)."""

    code = "export_failed"


class ExportBusy(HubError):
    status, title, code = 503, "Exports busy", "export_busy"


class StorageFull(HubError):
    status, title, code = 507, "Recording storage full", "storage_full"


class ResumeConflict(Conflict):
    def __init__(self, offset: int) -> None:
        super().__init__(f"中心已收到该片段的 {offset} 字节，请从 {offset} 处续传。"
                         f"The hub holds {offset} bytes of this segment; resume with "
                         f"Content-Range starting at {offset}.", code="upload_offset")
        self.offset = offset
