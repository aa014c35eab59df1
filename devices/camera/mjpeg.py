"""Pure parser for an HTTP MJPEG body (multipart/x-mixed-replace).

Feed it the raw body bytes as they arrive; it returns each whole JPEG part.
Parts with a Content-Length are cut by length; parts without one end at
the next boundary line. No I/O here: the HTTP transport lives in
backends.py.
"""

from __future__ import annotations

MAX_HEADER_BYTES = 8192
MAX_PART_BYTES = 16 * 1024 * 1024


def boundary_from_content_type(content_type: str) -> bytes:
    """The boundary token of a multipart Content-Type, without leading dashes."""
    media, _, params = content_type.partition(";")
    if not media.strip().lower().startswith("multipart/"):
        raise ValueError(f"content type {media.strip()!r} is not multipart")
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary" and value:
            token = value.strip().strip('"')
            while token.startswith("--"):
                token = token[2:]
            if not token:
                raise ValueError("multipart boundary is empty")
            return token.encode("latin-1")
    raise ValueError("multipart content type has no boundary parameter")


class MjpegParser:
    def __init__(self, boundary: bytes) -> None:
        self._marker = b"--" + boundary
        self._buf = bytearray()
        self._need: int | None = None  # body length of the part being read
        self._in_part = False

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        parts: list[bytes] = []
        while True:
            part = self._next_part()
            if part is None:
                break
            parts.append(part)
        if len(self._buf) > MAX_PART_BYTES + MAX_HEADER_BYTES:
            raise ValueError("MJPEG part exceeds 16 MiB without a boundary")
        return parts

    def _next_part(self) -> bytes | None:
        if not self._in_part:
            start = self._buf.find(self._marker)
            if start < 0:
                # keep a tail that could be the start of a marker
                del self._buf[: max(0, len(self._buf) - len(self._marker))]
                return None
            end_headers = self._buf.find(b"\r\n\r\n", start)
            if end_headers < 0:
                if len(self._buf) - start > MAX_HEADER_BYTES:
                    raise ValueError("MJPEG part headers exceed 8 KiB")
                return None
            headers = bytes(self._buf[start + len(self._marker) : end_headers])
            self._need = _content_length(headers)
            del self._buf[: end_headers + 4]
            self._in_part = True
        if self._need is not None:
            if len(self._buf) < self._need:
                return None
            body = bytes(self._buf[: self._need])
            del self._buf[: self._need]
        else:
            end = self._buf.find(b"\r\n" + self._marker)
            if end < 0:
                return None
            body = bytes(self._buf[:end])
            del self._buf[:end]
        self._in_part = False
        self._need = None
        return body


def _content_length(headers: bytes) -> int | None:
    for line in headers.split(b"\r\n"):
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise ValueError(f"MJPEG Content-Length {value.strip()!r} is not a number") from None
            if length < 0 or length > MAX_PART_BYTES:
                raise ValueError(f"MJPEG Content-Length {length} is out of range")
            return length
    return None
