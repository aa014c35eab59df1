"""The branch roster as last sent by the hub, cached in SQLite, and the map
from fingerprint-module slots to member ids.

The cache is what lets the kiosk identify members and accept check-ins with
the hub down. The slot map is local truth (the module stores templates by
slot number); it is reported through a `SlotReporter` so the hub can keep a
backup of templates (`devices.agent.fpsync.FingerprintSync`, over HTTP, see
docs/protocols/fingerprint-backup.md). The default reporter does nothing.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from typing import Protocol

from devices.agent.protocol import Roster, RosterMember
from devices.agent.store import Store

ROSTER_VERSION_KEY = "roster_version"


class RosterCache:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._members: dict[str, RosterMember] = {}
        self.version: str | None = None
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, fn: Callable[[], None]) -> None:
        self._listeners.append(fn)

    async def load(self) -> None:
        def q(conn: sqlite3.Connection) -> tuple[str | None, list[RosterMember]]:
            row = conn.execute(
                "SELECT value FROM meta WHERE key = ?", (ROSTER_VERSION_KEY,)
            ).fetchone()
            rows = conn.execute("SELECT * FROM roster_members ORDER BY member_no, name").fetchall()
            members = [
                RosterMember(
                    id=r["id"], member_no=r["member_no"] or "", name=r["name"],
                    status=r["status"] or "", excused=bool(r["excused"]),
                    committee=bool(r["committee"]),
                    wire_id=None if r["wire_id"] is None else json.loads(r["wire_id"]),
                )
                for r in rows
            ]
            return (None if row is None else row[0]), members

        self.version, members = await self.store.tx(q)
        self._members = {m.id: m for m in members}

    async def replace(self, roster: Roster) -> None:
        """Store a roster from the hub (replaces the previous one entirely)."""

        def q(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM roster_members")
            conn.executemany(
                "INSERT INTO roster_members(id, member_no, name, status, excused, committee, "
                "wire_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (m.id, m.member_no, m.name, m.status, int(m.excused), int(m.committee),
                     json.dumps(m.hub_id))
                    for m in roster.members
                ],
            )
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (ROSTER_VERSION_KEY, roster.version),
            )

        await self.store.tx(q)
        self.version = roster.version
        self._members = {m.id: m for m in roster.members}
        for fn in list(self._listeners):
            fn()

    def get(self, member_id: str) -> RosterMember | None:
        return self._members.get(member_id)

    def members(self) -> list[RosterMember]:
        return sorted(self._members.values(), key=lambda m: (m.member_no, m.name))

    def __len__(self) -> int:
        return len(self._members)


class SlotReporter(Protocol):
    """Where slot changes go (the hub's template backup)."""

    async def slot_enrolled(self, slot: int, member_id: str, template: bytes | None) -> None: ...

    async def slot_deleted(self, slot: int) -> None: ...


class NullSlotReporter:
    async def slot_enrolled(self, slot: int, member_id: str, template: bytes | None) -> None:
        return None

    async def slot_deleted(self, slot: int) -> None:
        return None


class SlotMap:
    """Fingerprint module slot -> member id, kept in SQLite."""

    def __init__(self, store: Store, reporter: SlotReporter | None = None) -> None:
        self.store = store
        self.reporter: SlotReporter = reporter or NullSlotReporter()
        self._slots: dict[int, str] = {}

    async def load(self) -> None:
        def q(conn: sqlite3.Connection) -> dict[int, str]:
            rows = conn.execute("SELECT slot, member_id FROM fp_slots").fetchall()
            return {int(r["slot"]): str(r["member_id"]) for r in rows}

        self._slots = await self.store.tx(q)

    def member_for(self, slot: int) -> str | None:
        return self._slots.get(slot)

    def slots_of(self, member_id: str) -> list[int]:
        return sorted(s for s, m in self._slots.items() if m == member_id)

    def free_slot(self, capacity: int = 1000) -> int:
        for slot in range(capacity):
            if slot not in self._slots:
                return slot
        raise ValueError("the fingerprint module is full: delete a finger first")

    def items(self) -> dict[int, str]:
        return dict(self._slots)

    async def assign(
        self, slot: int, member_id: str, template: bytes | None = None, *, report: bool = True
    ) -> None:
        now = time.time()

        def q(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO fp_slots(slot, member_id, enrolled_at) VALUES (?, ?, ?) "
                "ON CONFLICT(slot) DO UPDATE SET member_id = excluded.member_id, "
                "enrolled_at = excluded.enrolled_at",
                (slot, member_id, now),
            )

        await self.store.tx(q)
        self._slots[slot] = member_id
        if report:
            await self.reporter.slot_enrolled(slot, member_id, template)

    async def remove(self, slot: int, *, report: bool = True) -> None:
        def q(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM fp_slots WHERE slot = ?", (slot,))

        await self.store.tx(q)
        self._slots.pop(slot, None)
        if report:
            await self.reporter.slot_deleted(slot)
