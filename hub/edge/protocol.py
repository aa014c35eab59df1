"""Messages of `WS /ws/edge` (docs/protocols/edge-ws.md): parsing and
encoding only, no I/O."""

from __future__ import annotations

import json
import math
import struct
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

MAX_TEXT = 64 * 1024
MAX_THUMBNAIL = 256 * 1024
MAX_DEPTH = 8  # nesting of objects and arrays in one message (health is the deepest: 2)
DB_INT_MAX = 2**31 - 1  # hub ids are INTEGER columns (32-bit on PostgreSQL)
# Domain times (a check-in, a meeting's start and end, a headcount) must be
# plausible: not before the project existed (a hall whose clock reset to 1970)
# and not more than a day ahead of the hub (a clock set a year ahead).
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
FUTURE_SLACK = 24 * 3600.0


class ProtocolError(ValueError):
    """A message the hub cannot read; `message_id` is set when known so the
    edge gets an ack with ok:false (and stops resending)."""

    def __init__(self, detail: str, message_id: str | None = None) -> None:
        super().__init__(detail)
        self.detail, self.message_id = detail, message_id


def _plausible(ts: float) -> float:
    latest = time.time() + FUTURE_SLACK
    if not EARLIEST <= ts <= latest:
        raise ValueError(f"time {ts!r} is outside {EARLIEST:.0f}..{latest:.0f} (epoch seconds): check the hall's clock")
    return ts


EpochTime = Annotated[float, Field(allow_inf_nan=False), AfterValidator(_plausible)]
HubId = Annotated[int, Field(ge=1, le=DB_INT_MAX)]


class Envelope(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    id: str = Field(min_length=1, max_length=64)
    # The sender's clock when it made the message: informative only (an
    # outbox may resend it days later), so merely finite and non-negative.
    ts: float = Field(ge=0, allow_inf_nan=False)


class Hello(Envelope):
    type: Literal["hello"]
    agent_version: str = Field(default="", max_length=40)
    roster_version: str | None = Field(default=None, max_length=100)
    settings_digest: str | None = Field(default=None, max_length=64)


class Heartbeat(Envelope):
    type: Literal["heartbeat"]
    health: dict[str, Any] = Field(default_factory=dict)


class MeetingStart(Envelope):
    type: Literal["meeting.start"]
    meeting_id: str = Field(min_length=8, max_length=36)
    meeting_type: str = Field(min_length=1, max_length=40)
    topic: str = Field(default="", max_length=300)
    started_at: EpochTime


class MeetingEnd(Envelope):
    type: Literal["meeting.end"]
    meeting_id: str = Field(min_length=8, max_length=36)
    ended_at: EpochTime


class CheckInMsg(Envelope):
    type: Literal["checkin"]
    meeting_id: str = Field(min_length=8, max_length=36)
    member_id: HubId
    method: Literal["fingerprint", "staff"]
    reason: str | None = Field(default=None, max_length=300)
    checked_in_at: EpochTime
    fp_slot: int | None = Field(default=None, ge=0, le=65535)


class Headcount(Envelope):
    type: Literal["headcount"]
    meeting_id: str | None = Field(default=None, min_length=8, max_length=36)
    count: int = Field(ge=0, le=10_000)
    taken_at: EpochTime


class Leave(Envelope):
    """请假 filed at the hall's kiosk for a member who will not come."""

    type: Literal["leave"]
    meeting_id: str = Field(min_length=8, max_length=36)
    member_id: int
    reason: str = Field(min_length=1, max_length=300)


MESSAGES: dict[str, type[Envelope]] = {
    m.model_fields["type"].annotation.__args__[0]: m  # type: ignore[union-attr]
    for m in (Hello, Heartbeat, MeetingStart, MeetingEnd, CheckInMsg, Headcount, Leave)
}
STORED = {"meeting.start", "meeting.end", "checkin", "headcount", "leave"}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _depth(value: Any) -> int:
    """Nesting depth of a decoded JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def load_json(text: str | bytes, what: str = "message") -> Any:
    """json.loads with the hub's limits: no NaN/Infinity, at most MAX_DEPTH
    levels of nesting (and never a RecursionError on a deep one)."""
    try:
        raw = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ProtocolError(f"{what} nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"{what} is not JSON: {exc.msg} at position {exc.pos}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"{what} is not JSON: {exc}") from None
    if _depth(raw) > MAX_DEPTH:
        raise ProtocolError(f"{what} nested deeper than {MAX_DEPTH} levels")
    return raw


def parse_text(text: str) -> Envelope:
    if len(text) > MAX_TEXT:
        raise ProtocolError(f"message longer than {MAX_TEXT} bytes")
    raw = load_json(text)
    if not isinstance(raw, dict):
        raise ProtocolError("a message must be a JSON object")
    rid, kind = raw.get("id"), raw.get("type")
    # Only an id the hub could store is echoed back in an ack.
    message_id = rid if isinstance(rid, str) and 1 <= len(rid) <= 64 else None
    model = MESSAGES.get(kind) if isinstance(kind, str) else None
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
    header = load_json(data[2 : 2 + hlen], "binary frame header")
    body = data[2 + hlen :]
    if not isinstance(header, dict) or header.get("type") != "thumbnail":
        raise ProtocolError("binary frame is not a thumbnail")
    if len(body) > MAX_THUMBNAIL:
        raise ProtocolError(f"thumbnail larger than {MAX_THUMBNAIL} bytes")
    if not body.startswith(b"\xff\xd8"):
        raise ProtocolError("thumbnail is not a JPEG")
    taken = header.get("taken_at")
    if taken is not None:
        try:
            _plausible(taken if isinstance(taken, int | float) and math.isfinite(taken) else math.nan)
        except ValueError as exc:
            raise ProtocolError(f"thumbnail taken_at: {exc}") from None
    return header, body


def encode_thumbnail(header: dict[str, Any], jpeg: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack(">H", len(raw)) + raw + jpeg


def when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def error(code: str, detail: str) -> dict[str, Any]:
    """The answer to a frame that has no usable id (not JSON, not an
    object, no id): nothing to acknowledge, but the sender learns why."""
    return {"type": "error", "id": None, "ts": time.time(), "error": {"code": code, "detail": detail}}


def ack(message_id: str, *, ok: bool, result: dict[str, Any] | None = None, error: dict[str, str] | None = None,
        duplicate: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "ack", "id": message_id, "ok": ok, "duplicate": duplicate}
    if ok:
        out["result"] = result or {}
    else:
        out["error"] = error or {"code": "error", "detail": ""}
    return out
