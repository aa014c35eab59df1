"""Messages of `WS /ws/edge` (docs/protocols/edge-ws.md): parsing and
encoding only, no I/O."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_TEXT = 64 * 1024
MAX_THUMBNAIL = 256 * 1024


class ProtocolError(ValueError):
    """A message the hub cannot read; `message_id` is set when known so the
    edge gets an ack with ok:false (and stops resending)."""

    def __init__(self, detail: str, message_id: str | None = None) -> None:
        super().__init__(detail)
        self.detail, self.message_id = detail, message_id


class Envelope(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    id: str = Field(min_length=1, max_length=64)
    ts: float


class Hello(Envelope):
    type: Literal["hello"]
    agent_version: str = Field(default="", max_length=40)
    roster_version: str | None = None
    settings_digest: str | None = Field(default=None, max_length=64)


class Heartbeat(Envelope):
    type: Literal["heartbeat"]
    health: dict[str, Any] = Field(default_factory=dict)


class MeetingStart(Envelope):
    type: Literal["meeting.start"]
    meeting_id: str = Field(min_length=8, max_length=36)
    meeting_type: str
    topic: str = Field(default="", max_length=300)
    started_at: float


class MeetingEnd(Envelope):
    type: Literal["meeting.end"]
    meeting_id: str = Field(min_length=8, max_length=36)
    ended_at: float


class CheckInMsg(Envelope):
    type: Literal["checkin"]
    meeting_id: str = Field(min_length=8, max_length=36)
    member_id: int
    method: Literal["fingerprint", "staff"]
    reason: str | None = Field(default=None, max_length=300)
    checked_in_at: float
    fp_slot: int | None = None


class Headcount(Envelope):
    type: Literal["headcount"]
    meeting_id: str | None = None
    count: int = Field(ge=0, le=10_000)
    taken_at: float


MESSAGES: dict[str, type[Envelope]] = {
    m.model_fields["type"].annotation.__args__[0]: m  # type: ignore[union-attr]
    for m in (Hello, Heartbeat, MeetingStart, MeetingEnd, CheckInMsg, Headcount)
}
STORED = {"meeting.start", "meeting.end", "checkin", "headcount"}


def parse_text(text: str) -> Envelope:
    if len(text) > MAX_TEXT:
        raise ProtocolError(f"message longer than {MAX_TEXT} bytes")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(raw, dict):
        raise ProtocolError("a message must be a JSON object")
    message_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    model = MESSAGES.get(raw.get("type"))  # type: ignore[arg-type]
    if model is None:
        raise ProtocolError(f"unknown message type {raw.get('type')!r}", message_id)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ProtocolError(f"bad {raw.get('type')} message: {fields}", message_id) from None


def parse_thumbnail(data: bytes) -> tuple[dict[str, Any], bytes]:
    if len(data) < 2:
        raise ProtocolError("binary frame shorter than its header length")
    (hlen,) = struct.unpack_from(">H", data)
    if len(data) < 2 + hlen:
        raise ProtocolError("binary frame shorter than its header")
    try:
        header = json.loads(data[2 : 2 + hlen])
    except json.JSONDecodeError:
        raise ProtocolError("binary frame header is not JSON") from None
    body = data[2 + hlen :]
    if not isinstance(header, dict) or header.get("type") != "thumbnail":
        raise ProtocolError("binary frame is not a thumbnail")
    if len(body) > MAX_THUMBNAIL:
        raise ProtocolError(f"thumbnail larger than {MAX_THUMBNAIL} bytes")
    if not body.startswith(b"\xff\xd8"):
        raise ProtocolError("thumbnail is not a JPEG")
    return header, body


def encode_thumbnail(header: dict[str, Any], jpeg: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack(">H", len(raw)) + raw + jpeg


def when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def ack(message_id: str, *, ok: bool, result: dict[str, Any] | None = None, error: dict[str, str] | None = None,
        duplicate: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "ack", "id": message_id, "ok": ok, "duplicate": duplicate}
    if ok:
        out["result"] = result or {}
    else:
        out["error"] = error or {"code": "error", "detail": ""}
    return out
