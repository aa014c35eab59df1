"""Bus events as JSON for the broker, and back. Pure.

Wire form: {"type": "<Event class name>", "fields": {...}}; datetimes are
{"$dt": "<ISO 8601>"}. Bad input raises ValueError saying what is wrong.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from hub.events import Event


def event_types() -> dict[str, type[Event]]:
    """Every Event subclass by name (including subclasses of subclasses)."""
    found: dict[str, type[Event]] = {}
    pending = list(Event.__subclasses__())
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} in an event")


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$dt" in obj:
        try:
            return datetime.fromisoformat(obj["$dt"])
        except (TypeError, ValueError):
            raise ValueError(f"event datetime {obj['$dt']!r} is not ISO 8601") from None
    return obj


def encode(event: Event) -> bytes:
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    return json.dumps({"type": type(event).__name__, "fields": fields}, default=_default,
                      ensure_ascii=False, separators=(",", ":")).encode()


def decode(data: bytes, types: dict[str, type[Event]] | None = None) -> Event:
    try:
        message = json.loads(data, object_hook=_hook)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"event is not JSON: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("fields"), dict):
        raise ValueError("event must be an object with 'type' and 'fields'")
    name = message.get("type")
    cls = (types or event_types()).get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown event type {name!r}")
    try:
        return cls(**message["fields"])
    except TypeError as exc:
        raise ValueError(f"{name} fields do not match: {exc}") from None
