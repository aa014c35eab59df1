"""Wire formats of `WS /ws/edge` (docs/protocols/edge-ws.md), pure: no I/O.

Hub-to-edge text frames parse into frozen dataclasses; bad input raises
`ProtocolError` (a `ValueError`) naming the field. Edge-to-hub frames are
built by small functions returning plain dicts. Thumbnails are binary frames
`[2-byte big-endian header length][JSON header][JPEG bytes]`.
"""

from __future__ import annotations

import json
import struct
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from devices.agent.errors import ProtocolError

MAX_THUMBNAIL_FRAME = 256 * 1024


@dataclass(frozen=True)
class Welcome:
    device_id: Any
    branch_id: Any
    branch_name: str
    server_ts: float | None


@dataclass(frozen=True)
class Ack:
    id: str
    ok: bool
    duplicate: bool = False
    result: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RosterMember:
    id: str
    member_no: str
    name: str
    status: str
    excused: bool
    committee: bool
    wire_id: Any = None  # the id exactly as the hub sent it (int or str), echoed back

    @property
    def hub_id(self) -> Any:
        return self.id if self.wire_id is None else self.wire_id


@dataclass(frozen=True)
class Roster:
    version: str
    members: tuple[RosterMember, ...]


@dataclass(frozen=True)
class Command:
    id: str
    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BranchState:
    """What every device of the branch agrees on (hub/edge/branch_state.py):
    the open meeting, the schedule, the hub's attendance numbers."""

    open_meeting: dict[str, Any] | None
    scheduled: tuple[dict[str, Any], ...]
    attendance: dict[str, Any] | None
    ended_ids: frozenset[str]


HubMessage = Welcome | Ack | Roster | Command | BranchState


def _need(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    if key not in obj:
        raise ProtocolError(f"{what} message has no {key!r} field")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ProtocolError(f"{what} field {key!r} has the wrong type")
    return value


def _member(raw: Any) -> RosterMember:
    if not isinstance(raw, dict):
        raise ProtocolError("roster member is not an object")
    if "id" not in raw or raw["id"] is None:
        raise ProtocolError("roster member has no 'id' field")
    name = _need(raw, "name", str, "roster member")
    return RosterMember(
        id=str(raw["id"]),
        member_no=str(raw.get("member_no") or ""),
        name=name,
        status=str(raw.get("status") or ""),
        excused=bool(raw.get("excused", False)),
        committee=bool(raw.get("committee", False)),
        wire_id=raw["id"],
    )


def parse_hub_message(text: str | bytes) -> HubMessage:
    """Parse one text frame from the hub."""
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"hub frame is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("hub frame is not a JSON object")
    kind = obj.get("type")
    if kind == "welcome":
        ts = obj.get("server_ts")
        return Welcome(
            device_id=obj.get("device_id"),
            branch_id=obj.get("branch_id"),
            branch_name=str(obj.get("branch_name") or ""),
            server_ts=float(ts) if isinstance(ts, int | float) else None,
        )
    if kind == "ack":
        ack_id = _need(obj, "id", str, "ack")
        ok = _need(obj, "ok", bool, "ack")
        result = obj.get("result") or {}
        error = obj.get("error") or {}
        if not isinstance(result, dict) or not isinstance(error, dict):
            raise ProtocolError("ack fields 'result' and 'error' must be objects")
        return Ack(id=ack_id, ok=ok, duplicate=bool(obj.get("duplicate", False)),
                   result=result, error=error)
    if kind == "roster":
        if "version" not in obj or obj["version"] is None:
            raise ProtocolError("roster message has no 'version' field")
        members = _need(obj, "members", list, "roster")
        return Roster(version=str(obj["version"]), members=tuple(_member(m) for m in members))
    if kind == "branch_state":
        open_meeting = obj.get("open_meeting")
        attendance = obj.get("attendance")
        scheduled = obj.get("scheduled") or []
        ended = obj.get("ended_ids") or []
        if not (open_meeting is None or isinstance(open_meeting, dict)) or not (
                attendance is None or isinstance(attendance, dict)):
            raise ProtocolError("branch_state fields 'open_meeting' and 'attendance' must be objects or null")
        if not isinstance(scheduled, list) or not all(isinstance(m, dict) for m in scheduled):
            raise ProtocolError("branch_state field 'scheduled' must be a list of objects")
        if not isinstance(ended, list):
            raise ProtocolError("branch_state field 'ended_ids' must be a list")
        for m in [open_meeting, *scheduled]:
            if m is not None and not (isinstance(m.get("id"), str) and isinstance(m.get("meeting_type"), str)):
                raise ProtocolError("branch_state meeting without a string 'id' and 'meeting_type'")
        return BranchState(open_meeting, tuple(scheduled), attendance, frozenset(str(i) for i in ended))
    if kind == "command":
        name = _need(obj, "name", str, "command")
        args = {k: v for k, v in obj.items() if k not in {"type", "id", "ts", "name"}}
        return Command(id=str(obj.get("id") or ""), name=name, args=args)
    raise ProtocolError(f"unknown hub message type {kind!r}")


def envelope(type: str, **fields: Any) -> dict[str, Any]:
    """A fresh edge-to-hub message with its own id and timestamp."""
    return {"type": type, "id": str(uuid.uuid4()), "ts": time.time(), **fields}


def hello(agent_version: str, roster_version: str | None, settings_digest: str | None = None) -> dict[str, Any]:
    return envelope("hello", agent_version=agent_version, roster_version=roster_version,
                    settings_digest=settings_digest)


def heartbeat(health: dict[str, Any]) -> dict[str, Any]:
    return envelope("heartbeat", health=health)


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Thumbnail:
    id: str
    ts: float
    taken_at: float
    jpeg: bytes

    def __bytes__(self) -> bytes:
        header = json.dumps(
            {"type": "thumbnail", "id": self.id, "ts": self.ts, "taken_at": self.taken_at},
            separators=(",", ":"),
        ).encode()
        frame = struct.pack(">H", len(header)) + header + self.jpeg
        if len(frame) > MAX_THUMBNAIL_FRAME:
            raise ValueError(
                f"thumbnail frame is {len(frame)} bytes, more than {MAX_THUMBNAIL_FRAME}"
            )
        return frame

    @classmethod
    def new(cls, jpeg: bytes, taken_at: float) -> Thumbnail:
        return cls(id=str(uuid.uuid4()), ts=time.time(), taken_at=taken_at, jpeg=jpeg)

    @classmethod
    def parse(cls, data: bytes) -> Thumbnail:
        if len(data) < 2:
            raise ValueError("thumbnail frame is shorter than its length prefix")
        (length,) = struct.unpack(">H", data[:2])
        if len(data) < 2 + length:
            raise ValueError("thumbnail header length is invalid")
        try:
            header = json.loads(data[2 : 2 + length])
        except ValueError:
            raise ValueError("thumbnail header is not JSON") from None
        if not isinstance(header, dict) or header.get("type") != "thumbnail":
            raise ValueError("thumbnail header type is not 'thumbnail'")
        return cls(
            id=str(header.get("id")),
            ts=float(header.get("ts", 0.0)),
            taken_at=float(header.get("taken_at", 0.0)),
            jpeg=bytes(data[2 + length :]),
        )
