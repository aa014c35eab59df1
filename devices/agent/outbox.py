"""The outbox: every message the hub must get, kept until the hub acks it.

A check-in, a meeting start or end, a headcount: each is committed here
first, with its UUID (the idempotency key of docs/protocols/edge-ws.md), and
only then sent. Rows leave the `pending` state only on an `ack` for their id:
`ok: true` deletes the row; `ok: false` is final and keeps the row as
`rejected` with the hub's error so the kiosk can show it until staff dismiss
it. Order is the insertion order (`seq`), so a resend after a reconnect
replays the same messages in the same order.

States of a row:  pending --ack ok--> (deleted)
                  pending --ack not ok--> rejected --dismiss--> (deleted)
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from devices.agent.store import Store

# Message types that travel through the outbox (the durable ones).
DURABLE_TYPES = frozenset({"meeting.start", "meeting.end", "checkin", "headcount", "leave"})


class OutboxState(StrEnum):
    PENDING = "pending"
    REJECTED = "rejected"


@dataclass(frozen=True)
class OutboxMessage:
    seq: int
    id: str
    type: str
    ts: float
    fields: dict[str, Any]
    state: OutboxState = OutboxState.PENDING
    attempts: int = 0
    error_code: str | None = None
    error_detail: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The JSON object sent to the hub (same bytes on every resend)."""
        return {"type": self.type, "id": self.id, "ts": self.ts, **self.fields}


@dataclass(frozen=True)
class AckOutcome:
    """What an ack did to the outbox; `message` is None for an unknown id."""

    message: OutboxMessage | None
    ok: bool
    duplicate: bool = False
    result: dict[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    error_detail: str | None = None


def _row(row: sqlite3.Row) -> OutboxMessage:
    return OutboxMessage(
        seq=int(row["seq"]),
        id=str(row["id"]),
        type=str(row["type"]),
        ts=float(row["created_at"]),
        fields=json.loads(row["body"]),
        state=OutboxState(row["state"]),
        attempts=int(row["attempts"]),
        error_code=row["error_code"],
        error_detail=row["error_detail"],
    )


class Outbox:
    """Durable, ordered queue of messages for the hub."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, fn: Callable[[], None]) -> None:
        """Call `fn()` (on the loop) after every put, ack or dismiss."""
        self._listeners.append(fn)

    def _changed(self) -> None:
        for fn in list(self._listeners):
            fn()

    async def put(
        self,
        type: str,
        fields: dict[str, Any],
        *,
        id: str | None = None,
        ts: float | None = None,
        also: Callable[[sqlite3.Connection], None] | None = None,
    ) -> OutboxMessage:
        """Commit a message; returns once it is on disk.

        `also(conn)` runs in the same transaction first, so a local record
        (a check-in row, a meeting row) and its outbox message are written
        together or not at all; an exception from it aborts both.
        """
        if type not in DURABLE_TYPES:
            raise ValueError(f"message type {type!r} does not go through the outbox")
        msg_id = id or str(uuid.uuid4())
        created = time.time() if ts is None else ts
        body = json.dumps(fields, ensure_ascii=False, sort_keys=True)

        def q(conn: sqlite3.Connection) -> OutboxMessage:
            if also is not None:
                also(conn)
            conn.execute(
                "INSERT INTO outbox(id, type, body, created_at) VALUES (?, ?, ?, ?)",
                (msg_id, type, body, created),
            )
            row = conn.execute("SELECT * FROM outbox WHERE id = ?", (msg_id,)).fetchone()
            return _row(row)

        message = await self.store.tx(q)
        self._changed()
        return message

    async def pending(self, *, after_seq: int = 0, limit: int = 100) -> list[OutboxMessage]:
        """Pending messages in order, those with `seq > after_seq` only."""

        def q(conn: sqlite3.Connection) -> list[OutboxMessage]:
            rows = conn.execute(
                "SELECT * FROM outbox WHERE state = 'pending' AND seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
            return [_row(r) for r in rows]

        return await self.store.tx(q)

    async def mark_sent(self, ids: list[str]) -> None:
        """Count one more send attempt (diagnostics only)."""
        if not ids:
            return

        def q(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", [(i,) for i in ids]
            )

        await self.store.tx(q)

    async def ack(
        self,
        id: str,
        *,
        ok: bool,
        duplicate: bool = False,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> AckOutcome:
        """Apply the hub's answer for `id`."""
        error = error or {}
        code = str(error.get("code") or "error") if not ok else None
        detail = str(error.get("detail") or "") if not ok else None
        now = time.time()

        def q(conn: sqlite3.Connection) -> OutboxMessage | None:
            row = conn.execute(
                "SELECT * FROM outbox WHERE id = ? AND state = 'pending'", (id,)
            ).fetchone()
            if row is None:
                return None
            if ok:
                conn.execute("DELETE FROM outbox WHERE id = ?", (id,))
            else:
                conn.execute(
                    "UPDATE outbox SET state = 'rejected', error_code = ?, error_detail = ?, "
                    "answered_at = ? WHERE id = ?",
                    (code, detail, now, id),
                )
            return _row(row)

        message = await self.store.tx(q)
        if message is not None:
            self._changed()
        return AckOutcome(
            message=message,
            ok=ok,
            duplicate=duplicate,
            result=dict(result or {}),
            error_code=code,
            error_detail=detail,
        )

    async def count_pending(self) -> int:
        def q(conn: sqlite3.Connection) -> int:
            return int(
                conn.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()[0]
            )

        return await self.store.tx(q)

    async def rejected(self, *, limit: int = 20) -> list[OutboxMessage]:
        """Messages the hub refused, newest first (for the kiosk)."""

        def q(conn: sqlite3.Connection) -> list[OutboxMessage]:
            rows = conn.execute(
                "SELECT * FROM outbox WHERE state = 'rejected' ORDER BY seq DESC LIMIT ?",
                (limit,),
            ).fetchall()
            return [_row(r) for r in rows]

        return await self.store.tx(q)

    async def dismiss(self, id: str) -> bool:
        """Staff have seen a rejected message: forget it."""

        def q(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("DELETE FROM outbox WHERE id = ? AND state = 'rejected'", (id,))
            return cur.rowcount > 0

        done = await self.store.tx(q)
        if done:
            self._changed()
        return done
