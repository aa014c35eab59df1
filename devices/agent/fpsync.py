"""Fingerprint templates between the kiosk's module and the hub's backup.

`FingerprintSync` is the agent's `SlotReporter`: an enrolment (or a cleared
slot) goes into a small persistent queue in the agent's SQLite database
(`fp_backup_queue`, one row per slot, the newest operation wins) and a
worker sends it to the hub over HTTP (docs/protocols/fingerprint-backup.md).
An enrolment made with the hub down is uploaded once it is back.

Restore goes the other way: the branch's backed-up templates are written
into the module with DownChar/Store and the `SlotMap` is rebuilt to match.
It runs at start when the module is empty (a replacement module, or a
second kiosk of the branch), on the kiosk's admin request, and when the hub
sends the `sync_fingerprints` command (an operator deleted an enrolment).
Queued local enrolments not yet uploaded win over the backup.

Worker states: IDLE (queue empty) -> SENDING -> IDLE | RETRYING (hub
unreachable: waits with backoff, or until woken by the uplink coming online).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from devices.agent.backoff import Backoff
from devices.agent.errors import EdgeError
from devices.agent.reader import FingerprintReader, RestorableReader
from devices.agent.roster import RosterCache, SlotMap
from devices.agent.store import Store

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS fp_backup_queue (
    slot INTEGER PRIMARY KEY,
    op TEXT NOT NULL,
    member_id TEXT,
    template BLOB,
    queued_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
"""
TEMPLATES_PATH = "/api/v1/fingerprints/templates"
TokenSource = Callable[[], Awaitable[str | None]]


class FingerprintSyncError(EdgeError):
    """The backup or restore could not be done now; the message says why and what to do."""


class HubRefused(FingerprintSyncError):
    """The hub answered 4xx to an upload: final for that item (it is dropped)."""


class SyncState(StrEnum):
    IDLE = "idle"
    SENDING = "sending"
    RETRYING = "retrying"
    RESTORING = "restoring"


@dataclass(frozen=True)
class QueuedOp:
    slot: int
    op: str  # put | delete
    member_id: str | None
    template: bytes | None


@dataclass(frozen=True)
class RestoreReport:
    written: int
    removed: int
    from_backup: int
    from_queue: int


class FingerprintSync:
    def __init__(
        self,
        store: Store,
        slots: SlotMap,
        roster: RosterCache,
        *,
        hub_url: str,
        token: TokenSource,
        reader: FingerprintReader | None = None,
        lock: asyncio.Lock | None = None,
        backoff: Backoff | None = None,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        check_every_s: float | None = 60.0,
        template_timeout_s: float = 20.0,
    ) -> None:
        self.store = store
        self.slots = slots
        self.roster = roster
        self.hub_url = hub_url.rstrip("/")
        self.token = token
        self.reader = reader
        self.lock = lock or asyncio.Lock()  # shared with enrolment: one owner of the module
        self.backoff = backoff or Backoff(base=1.0, cap=30.0)
        self.timeout_s = timeout_s
        self.transport = transport
        self.state = SyncState.IDLE
        self.last_error: str | None = None
        self.last_restore: RestoreReport | None = None
        self.check_every_s = check_every_s  # look for an emptied module this often
        self.template_timeout_s = template_timeout_s
        self.progress: tuple[int, int] | None = None  # (written, total) while restoring
        self._wake = asyncio.Event()
        self._check_empty = reader is not None
        self._sync_requested = False

    async def open(self) -> None:
        await self.store.run(self.store.conn.executescript, SCHEMA)

    # -- SlotReporter -------------------------------------------------------------
    async def slot_enrolled(self, slot: int, member_id: str, template: bytes | None) -> None:
        if template is None:
            log.warning("slot %s enrolled without a template: it cannot be backed up", slot)
            return
        await self._enqueue(QueuedOp(slot, "put", member_id, template))

    async def slot_deleted(self, slot: int) -> None:
        await self._enqueue(QueuedOp(slot, "delete", None, None))

    async def _enqueue(self, op: QueuedOp) -> None:
        def q(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO fp_backup_queue(slot, op, member_id, template, queued_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(slot) DO UPDATE SET op = excluded.op, "
                "member_id = excluded.member_id, template = excluded.template, "
                "queued_at = excluded.queued_at, attempts = 0, last_error = NULL",
                (op.slot, op.op, op.member_id, op.template, time.time()),
            )

        await self.store.tx(q)
        self.wake()

    async def pending(self) -> list[QueuedOp]:
        def q(conn: sqlite3.Connection) -> list[QueuedOp]:
            rows = conn.execute(
                "SELECT slot, op, member_id, template FROM fp_backup_queue ORDER BY queued_at, slot"
            ).fetchall()
            return [QueuedOp(int(r["slot"]), r["op"], r["member_id"],
                             None if r["template"] is None else bytes(r["template"])) for r in rows]

        return await self.store.tx(q)

    async def _done(self, op: QueuedOp) -> None:
        def q(conn: sqlite3.Connection) -> None:
            # only if not replaced meanwhile by a newer operation on the slot
            conn.execute(
                "DELETE FROM fp_backup_queue WHERE slot = ? AND op = ? AND "
                "member_id IS ? AND template IS ?", (op.slot, op.op, op.member_id, op.template),
            )

        await self.store.tx(q)

    async def _failed(self, op: QueuedOp, error: str) -> None:
        def q(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE fp_backup_queue SET attempts = attempts + 1, last_error = ? WHERE slot = ?",
                (error, op.slot),
            )

        await self.store.tx(q)

    # -- the worker ---------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def check_library(self) -> None:
        """Look at the module's library at the next turn and refill it from
        the backup if it lost templates (a module swapped or reset while the
        agent runs; called on reconnect, on an unknown finger and periodically)."""
        if self.reader is not None:
            self._check_empty = True
            self.wake()

    def request_sync(self) -> None:
        """Full sync with the backup at the next turn (the hub's `sync_fingerprints`)."""
        self._sync_requested = True
        self.wake()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            delay: float | None = None
            try:
                if self._check_empty:
                    await self.restore_if_empty()
                    self._check_empty = False
                if self._sync_requested:
                    self._sync_requested = False
                    await self.restore()
                await self.flush()
                self.backoff.reset()
                self.state = SyncState.IDLE
            except FingerprintSyncError as exc:
                self.last_error = str(exc)
                self.state = SyncState.RETRYING
                delay = self.backoff.next_delay()
                log.info("fingerprint backup: %s; retrying in %.0f s", exc, delay)
            except Exception as exc:  # a reader or database fault: retry later, never die
                self.last_error = repr(exc)
                self.state = SyncState.RETRYING
                delay = self.backoff.next_delay()
                log.warning("fingerprint backup failed (%r); retrying in %.0f s", exc, delay)
            if delay is None and self.reader is not None:
                delay = self.check_every_s
            waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            try:
                done, _ = await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
                if not done and self.reader is not None:
                    self._check_empty = True  # the periodic look at the module
            finally:
                for w in waits:
                    w.cancel()
                await asyncio.gather(*waits, return_exceptions=True)

    async def flush(self) -> int:
        """Send every queued operation; return how many the hub took. Raises
        FingerprintSyncError when the hub cannot be reached (the rest stay queued)."""
        sent = 0
        ops = await self.pending()
        if not ops:
            return 0
        self.state = SyncState.SENDING
        async with self._client(await self._token()) as client:
            for op in ops:
                try:
                    await self._send(client, op)
                except HubRefused as exc:
                    log.warning("the hub refused the backup of slot %s: %s (dropped)", op.slot, exc)
                    self.last_error = str(exc)
                    await self._done(op)
                    continue
                except FingerprintSyncError as exc:
                    await self._failed(op, str(exc))
                    raise
                await self._done(op)
                sent += 1
        return sent

    async def _send(self, client: httpx.AsyncClient, op: QueuedOp) -> None:
        if op.op == "delete":
            response = await self._request(client, "DELETE", f"{TEMPLATES_PATH}/{op.slot}")
        else:
            assert op.member_id is not None and op.template is not None
            member = self.roster.get(op.member_id)
            hub_id: Any = member.hub_id if member is not None else _as_hub_id(op.member_id)
            response = await self._request(client, "PUT", TEMPLATES_PATH, json={
                "member_id": hub_id, "slot": op.slot,
                "template_b64": base64.b64encode(op.template).decode(),
            })
        _check(response, f"backup of slot {op.slot}")

    # -- restore ------------------------------------------------------------------
    async def restore_if_empty(self) -> RestoreReport | None:
        """An empty module (new, replaced, reset) gets the branch's backup; so
        does one holding fewer templates than the slot map says it should."""
        reader = self._restorable()
        try:
            count = await reader.template_count()
        except Exception as exc:
            raise FingerprintSyncError(
                f"cannot read the fingerprint module's library ({exc}); check the reader"
            ) from exc
        mapped = len(self.slots.items())
        if count and count >= mapped:
            return None
        if count:
            log.warning("the fingerprint module holds %d templates, the kiosk knows %d: refilling", count, mapped)
        else:
            log.info("the fingerprint module is empty: restoring the branch's backup")
        backup = await self.fetch_backup()
        if not backup and not self.slots.items():
            return None
        return await self.restore(backup)

    async def fetch_backup(self) -> dict[int, tuple[str, bytes]]:
        """slot -> (member id, template) as the hub keeps them for this branch."""
        async with self._client(await self._token()) as client:
            response = await self._request(client, "GET", TEMPLATES_PATH)
            _check(response, "download of the branch's templates", final_is_error=True)
        try:
            body = response.json()
            return {int(t["slot"]): (str(t["member_id"]), base64.b64decode(t["template_b64"]))
                    for t in body["templates"]}
        except (ValueError, KeyError, TypeError) as exc:
            raise FingerprintSyncError(f"the hub's template list is not as expected ({exc!r})") from exc

    async def restore(self, backup: dict[int, tuple[str, bytes]] | None = None) -> RestoreReport:
        """Make the module and the slot map hold exactly the backup plus the
        enrolments still waiting to be uploaded."""
        reader = self._restorable()
        if backup is None:
            backup = await self.fetch_backup()
        async with self.lock:
            self.state = SyncState.RESTORING
            queued = await self.pending()
            deleted = {op.slot for op in queued if op.op == "delete"}
            local = {op.slot: (op.member_id, op.template) for op in queued
                     if op.op == "put" and op.member_id is not None and op.template is not None}
            target: dict[int, tuple[str, bytes]] = {
                slot: v for slot, v in backup.items() if slot not in deleted and slot not in local
            }
            from_backup = len(target)
            target.update({slot: (m, t) for slot, (m, t) in local.items() if m and t})
            self.progress = (0, len(target))
            try:
                for n, (slot, (_member, template)) in enumerate(sorted(target.items())):
                    await self._write(reader, slot, template, n, len(target))
                    self.progress = (n + 1, len(target))
            except BaseException:  # failed or cancelled: the kiosk says so, nothing hangs
                self.state = SyncState.IDLE
                raise
            removed = 0
            for slot in sorted(set(self.slots.items()) - set(target)):
                with contextlib.suppress(Exception):  # an empty module has nothing to clear
                    await reader.delete(slot)
                await self.slots.remove(slot, report=False)
                removed += 1
            for slot, (member_id, _template) in target.items():
                if self.slots.member_for(slot) != member_id:
                    await self.slots.assign(slot, member_id, report=False)
            report = RestoreReport(written=len(target), removed=removed, from_backup=from_backup,
                                   from_queue=len(target) - from_backup)
            self.last_restore = report
            self.state = SyncState.IDLE
        log.info("fingerprint restore: %s", report)
        return report

    async def _write(self, reader: RestorableReader, slot: int, template: bytes, done: int, total: int) -> None:
        """One template into the module, bounded in time: a restore finishes
        or fails with a reason, it never hangs."""
        try:
            async with asyncio.timeout(self.template_timeout_s):
                await reader.store_template(slot, template)
        except Exception as exc:
            why = "the reader did not answer in time" if isinstance(exc, TimeoutError) else str(exc)
            raise FingerprintSyncError(
                f"writing fingerprint {done + 1} of {total} (slot {slot}) into the reader failed: {why}; "
                f"{done} written. Check the reader and press 恢复指纹 again"
            ) from exc

    def _restorable(self) -> RestorableReader:
        if self.reader is None:
            raise FingerprintSyncError("no fingerprint reader is attached: nothing to restore into")
        if not isinstance(self.reader, RestorableReader):
            raise FingerprintSyncError("this fingerprint reader cannot have templates written to it")
        return self.reader

    # -- HTTP -----------------------------------------------------------------------
    async def _token(self) -> str:
        token = await self.token()
        if not token:
            raise FingerprintSyncError("the agent has no device token yet: it uploads once enrolled")
        return token

    def _client(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.hub_url, timeout=self.timeout_s, transport=self.transport,
            headers={"Authorization": f"Bearer {token}"},
        )

    async def _request(self, client: httpx.AsyncClient, method: str, path: str,
                       **kwargs: Any) -> httpx.Response:
        try:
            return await asyncio.wait_for(client.request(method, path, **kwargs), self.timeout_s + 1)
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            raise FingerprintSyncError(f"cannot reach the hub ({exc!r}); will retry") from exc


def _as_hub_id(member_id: str) -> Any:
    return int(member_id) if member_id.isdigit() else member_id


def _check(response: httpx.Response, what: str, *, final_is_error: bool = False) -> None:
    if response.status_code < 300:
        return
    try:
        detail = str(response.json().get("detail") or response.text[:200])
    except ValueError:
        detail = response.text[:200]
    message = f"{what}: hub answered HTTP {response.status_code}: {detail}"
    if response.status_code == 401:
        raise FingerprintSyncError(message + " (re-enrol the device if this persists)")
    if 400 <= response.status_code < 500 and not final_is_error:
        raise HubRefused(message)
    raise FingerprintSyncError(message)
