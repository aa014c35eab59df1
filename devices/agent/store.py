"""The agent's one SQLite database (`<data_dir>/agent.db`) and the thread it
runs on.

SQLite calls block, so every statement runs on one dedicated worker thread
that owns the connection; coroutines await `Store.run(fn)` with a timeout.
One thread also serialises writes without extra locking. WAL journal with
`synchronous=FULL`: a row the outbox has committed survives a power cut,
which is the whole point of the outbox in a village hall.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from devices.agent.errors import StoreError

T = TypeVar("T")
log = logging.getLogger(__name__)
RESERVE_FILE = "outbox-reserve"

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    error_code TEXT,
    error_detail TEXT,
    answered_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox(state, seq);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT
);
CREATE TABLE IF NOT EXISTS roster_members (
    id TEXT PRIMARY KEY,
    member_no TEXT,
    name TEXT NOT NULL,
    status TEXT,
    excused INTEGER NOT NULL DEFAULT 0,
    committee INTEGER NOT NULL DEFAULT 0,
    wire_id TEXT
);
CREATE TABLE IF NOT EXISTS fp_slots (
    slot INTEGER PRIMARY KEY,
    member_id TEXT NOT NULL,
    enrolled_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meetings (
    id TEXT PRIMARY KEY,
    meeting_type TEXT NOT NULL,
    topic TEXT NOT NULL,
    started_at REAL NOT NULL,
    scheduled_at REAL,
    ended_at REAL
);
CREATE TABLE IF NOT EXISTS checkins (
    id TEXT PRIMARY KEY,
    meeting_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    method TEXT NOT NULL,
    reason TEXT,
    checked_in_at REAL NOT NULL,
    fp_slot INTEGER,
    late INTEGER NOT NULL DEFAULT 0,
    hub_state TEXT NOT NULL DEFAULT 'pending',
    UNIQUE (meeting_id, member_id)
);
"""


class Store:
    """Owns the connection and the worker thread; open with `await Store.open()`."""

    def __init__(self, path: Path, *, timeout: float = 10.0, reserve_bytes: int = 0) -> None:
        self.path = path
        self.timeout = timeout
        # Space kept aside for check-ins (a preallocated file next to the
        # database): when recordings or anything else fill the disk, it is
        # given back so the next writes still fit, and the agent says so.
        self.reserve_bytes = reserve_bytes
        self.reserve_path = path.parent / RESERVE_FILE
        self.reserve_used = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-sqlite")
        self._conn: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: Path, *, timeout: float = 10.0, reserve_bytes: int = 0) -> Store:
        store = cls(path, timeout=timeout, reserve_bytes=reserve_bytes)
        await store.run(store._connect)
        await store.run(store.ensure_reserve)
        return store

    def ensure_reserve(self) -> bool:
        """(Re)create the reserve if there is room; True if it is in place."""
        if self.reserve_bytes <= 0:
            return False
        try:
            with open(self.reserve_path, "ab") as f:
                if os.fstat(f.fileno()).st_size < self.reserve_bytes:
                    os.posix_fallocate(f.fileno(), 0, self.reserve_bytes)
        except OSError as exc:
            if not self.reserve_used:
                log.warning("cannot set aside %d bytes for check-ins (%s)", self.reserve_bytes, exc)
            with contextlib.suppress(OSError):
                if self.reserve_path.stat().st_size < self.reserve_bytes:
                    self.reserve_path.unlink()
            return False
        if self.reserve_used:
            log.info("the check-in reserve is back in place")
        self.reserve_used = False
        return True

    def _release_reserve(self) -> bool:
        try:
            self.reserve_path.unlink()
        except OSError:
            return False
        self.reserve_used = True
        log.error("the disk is full: using the space reserved for check-ins; free some space")
        return True

    def _connect(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                f"cannot open the agent database {self.path}: {exc}; "
                "check the data directory is writable and the disk is not full"
            ) from exc
        self._conn = conn

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection; only for functions passed to `run`."""
        if self._conn is None:
            raise StoreError("the agent database is closed")
        return self._conn

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn(*args)` on the database thread and wait for it (with a timeout)."""
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(self._executor, fn, *args), self.timeout
            )
        except TimeoutError as exc:
            raise StoreError(f"the agent database did not answer within {self.timeout} s") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"agent database error: {exc}") from exc

    def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in one IMMEDIATE transaction (on the database thread).
        A full disk gives back the reserve and tries once more."""
        try:
            return self._transaction(fn)
        except sqlite3.Error as exc:
            if not _disk_full(exc) or not self._release_reserve():
                raise
        return self._transaction(fn)

    def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        return result

    async def tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self.run(self.transaction, fn)

    async def get_meta(self, key: str) -> str | None:
        def q(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return None if row is None else str(row[0])

        return await self.tx(q)

    async def set_meta(self, key: str, value: str | None) -> None:
        def q(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

        await self.tx(q)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.wait_for(
                asyncio.get_running_loop().run_in_executor(self._executor, conn.close),
                self.timeout,
            )
        self._executor.shutdown(wait=False)


def _disk_full(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or (code is not None and code & 0xFF == sqlite3.SQLITE_IOERR) \
        or "disk is full" in str(exc)
