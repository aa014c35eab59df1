"""Backfill: ask the hub which moments of a meeting it holds, upload the
local segments it lacks, delete a local copy only on the hub's word.

The recorder (devices/media/recording.py) keeps every finished segment
*held*. Once a held segment is `grace_s` old (the hub has closed and
verified its own segment of that time by then), this module asks the hub
for the meeting's coverage (`GET .../meetings/{m}/coverage`: the time
ranges it stored, fsynced and verified as decodable). A segment inside them
is deleted; otherwise it becomes *pending* and is uploaded, oldest first,
whenever the hub is reachable, as docs/protocols/segment-upload.md says: in
chunks with Content-Range, the SHA-256 of the whole file in a header,
resumable (HEAD asks the hub how many bytes it holds). A local copy is
deleted only on the hub's coverage, 201 or 200.

State machine (`Backfill.state`):

    IDLE --held or pending segment and hub online--> UPLOADING --done--> IDLE
      ^                                          | network error / 5xx
      +---------------- WAITING <-(backoff)------+
      +---------------- AUTH_FAILED <- 401/403 (retried every auth_retry_s)
    any --stop--> STOPPED

Answers handled: 202 (next chunk from Upload-Offset), 201/200 (delete),
409 with Upload-Offset (resume there), 409 without (a new UUID, from 0),
422 (hash mismatch: hash the file again and resend once from 0; a second
422 or "cannot be played" keeps the file as *rejected*, shown on the kiosk),
400/413/415 (rejected, kept), 401/403 (token: wait), other (backoff).
Reads and hashing run in threads; every request has a timeout.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx

from devices.agent.backoff import Backoff
from devices.media.recording import LocalSegment, SegmentStore

log = logging.getLogger(__name__)

CHUNK = 1 << 20
GRACE_S = 15.0  # a held segment is judged this long after its end (the hub's own segment is closed)
COVER_SLACK_S = 0.3  # the hub's and the hall's clocks may differ by about this much


class BackfillState(enum.StrEnum):
    IDLE = "idle"
    UPLOADING = "uploading"
    WAITING = "waiting"
    AUTH_FAILED = "auth_failed"
    STOPPED = "stopped"


class _AuthRefused(Exception):
    pass


class _Retry(Exception):
    pass


class Backfill:
    def __init__(
        self,
        store: SegmentStore,
        *,
        hub_url: str,
        token: Callable[[], Any],  # async () -> str | None
        branch_id: Callable[[], int | None],
        online: Callable[[], bool],
        http_timeout_s: float = 30.0,
        auth_retry_s: float = 300.0,
        chunk_bytes: int = CHUNK,
        grace_s: float = GRACE_S,
        backoff: Backoff | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.hub_url = hub_url.rstrip("/")
        self._token = token
        self._branch_id = branch_id
        self._online = online
        self.http_timeout_s = http_timeout_s
        self.auth_retry_s = auth_retry_s
        self.chunk_bytes = chunk_bytes
        self.grace_s = grace_s
        self._backoff = backoff or Backoff(base=1.0, cap=30.0)
        self._transport = transport
        self._wake = asyncio.Event()
        self.state = BackfillState.IDLE
        self.last_error = ""
        self.uploaded = 0
        self.uploaded_bytes = 0
        self.rejected = 0
        self.confirmed = 0  # held segments deleted because the hub holds their time range

    def wake(self) -> None:
        """A segment became pending or the link came back: look now."""
        self._wake.set()

    def _set(self, state: BackfillState, error: str | None = None) -> None:
        if error is not None:
            self.last_error = error
        if state != self.state:
            log.info("backfill %s -> %s %s", self.state, state, self.last_error)
            self.state = state

    def status(self) -> dict[str, Any]:
        counts = self.store.counts()
        return {"state": str(self.state), "error": self.last_error,
                "pending_segments": counts.get("pending", 0) + counts.get("held", 0),
                "pending_bytes": self.store.pending_bytes(),
                "rejected_segments": counts.get("rejected", 0),
                "uploaded_segments": self.uploaded, "confirmed_segments": self.confirmed}

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                delay = await self._round()
                self._wake.clear()
                stopper = asyncio.ensure_future(stop.wait())
                waker = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait({stopper, waker}, timeout=delay,
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stopper.cancel()
                    waker.cancel()
        finally:
            self._set(BackfillState.STOPPED)

    async def _round(self) -> float:
        """Upload what is pending; return how long to sleep before looking again."""
        if not self.store.pending() and not self.store.held():
            self._set(BackfillState.IDLE)
            return 5.0
        branch = self._branch_id()
        if not self._online() or branch is None:
            self._set(BackfillState.WAITING, "waiting for the hub to upload the local recording")
            return 2.0
        token = await self._token()
        if not token:
            self._set(BackfillState.WAITING, "no device token yet")
            return 5.0
        self._set(BackfillState.UPLOADING, "")
        async with httpx.AsyncClient(timeout=httpx.Timeout(self.http_timeout_s),
                                     transport=self._transport) as client:
            try:
                wait = await self._judge(client, branch, token)
            except _AuthRefused as exc:
                self._set(BackfillState.AUTH_FAILED, str(exc))
                return self.auth_retry_s
            except (_Retry, httpx.HTTPError, OSError, TimeoutError) as exc:
                self._set(BackfillState.WAITING, f"asking the hub what it holds: {str(exc) or type(exc).__name__}")
                return self._backoff.next_delay()
            for seg in self.store.pending():
                if not self._online():
                    self._set(BackfillState.WAITING, "link lost during upload; will resume")
                    return 2.0
                try:
                    await self._upload(client, branch, token, seg)
                except _AuthRefused as exc:
                    self._set(BackfillState.AUTH_FAILED, str(exc))
                    return self.auth_retry_s
                except (_Retry, httpx.HTTPError, OSError, TimeoutError) as exc:
                    text = str(exc) or type(exc).__name__
                    self._set(BackfillState.WAITING, f"upload of segment {seg.id} interrupted: {text}")
                    return self._backoff.next_delay()
        self._backoff.reset()
        self._set(BackfillState.IDLE)
        return min(wait, 5.0)

    # ---- what the hub holds ------------------------------------------------------------
    async def _judge(self, client: httpx.AsyncClient, branch: int, token: str) -> float:
        """Delete held segments the hub covers, mark the others pending. Returns
        how long until the next held segment is ripe for judging."""
        now = time.time()
        ripe: dict[str, list[LocalSegment]] = {}
        wait = 5.0
        for seg in self.store.held():
            due = _epoch(seg.started_at) + seg.duration + self.grace_s
            if due <= now:
                ripe.setdefault(seg.meeting_id, []).append(seg)
            else:
                wait = min(wait, due - now)
        for meeting_id, segments in ripe.items():
            r = await client.get(f"{self.hub_url}/api/v1/branches/{branch}/meetings/{meeting_id}/coverage",
                                 headers={"Authorization": f"Bearer {token}"})
            self._check_auth(r)
            if r.status_code != 200:
                raise _Retry(f"coverage: hub answered HTTP {r.status_code}: {_detail(r)}")
            spans = [(_epoch(a), _epoch(b)) for a, b in r.json().get("covered", [])]
            for seg in segments:
                start = _epoch(seg.started_at)
                end = start + seg.duration
                if any(a <= start + COVER_SLACK_S and end - COVER_SLACK_S <= b for a, b in spans):
                    await asyncio.to_thread(self.store.delete, seg.id)
                    self.confirmed += 1
                else:
                    await asyncio.to_thread(self.store.mark, seg.id, "pending")
        return wait

    # ---- one segment -----------------------------------------------------------------
    def _url(self, branch: int, seg: LocalSegment) -> str:
        return f"{self.hub_url}/api/v1/branches/{branch}/segments/{seg.id}"

    async def _upload(self, client: httpx.AsyncClient, branch: int, token: str,
                      seg: LocalSegment) -> None:
        auth = {"Authorization": f"Bearer {token}"}
        head = await client.head(self._url(branch, seg), headers=auth)
        self._check_auth(head)
        if head.headers.get("upload-complete") == "?1":
            await self._confirmed(seg)
            return
        offset = int(head.headers.get("upload-offset", "0") or 0) if head.status_code == 200 else 0
        resent = False
        started = time.monotonic()
        while True:
            chunk = await asyncio.to_thread(self._read, seg, offset)
            headers = {
                **auth,
                "Content-Type": seg.content_type,
                "X-Meeting-Id": seg.meeting_id,
                "X-Segment-Started-At": seg.started_at,
                "X-Segment-Sha256": seg.sha256,
                "Content-Range": f"bytes {offset}-{offset + len(chunk) - 1}/{seg.size}",
            }
            r = await client.put(self._url(branch, seg), content=chunk, headers=headers)
            self._check_auth(r)
            status = r.status_code
            if status in (200, 201):
                await self._confirmed(seg)
                log.info("segment %s uploaded (%d bytes, %.1f s)", seg.id, seg.size,
                         time.monotonic() - started)
                return
            if status == 202 or (status == 409 and "upload-offset" in r.headers):
                offset = int(r.headers["upload-offset"])
                continue
            if status == 409:  # another file holds this id on the hub
                seg = await asyncio.to_thread(self.store.new_id, seg.id)
                offset = 0
                continue
            if status == 422 and not resent and "X-Segment-Sha256" in r.text:
                # the bytes changed on the way or on our disk: hash again, send again from 0
                digest = await asyncio.to_thread(_sha256, self.store.path(seg))
                if digest != seg.sha256:
                    seg = replace(seg, sha256=digest)
                    await asyncio.to_thread(self.store.add, seg)
                resent, offset = True, 0
                continue
            if status in (400, 413, 415, 422):
                detail = _detail(r)
                await asyncio.to_thread(self.store.mark, seg.id, "rejected",
                                        f"hub refused the segment (HTTP {status}): {detail}")
                self.rejected += 1
                log.warning("segment %s rejected by the hub: %s", seg.id, detail)
                return
            raise _Retry(f"hub answered HTTP {status}: {_detail(r)}")

    def _check_auth(self, response: httpx.Response) -> None:
        if response.status_code in (401, 403):
            what = ("re-enrol this device" if response.status_code == 401
                    else "this device belongs to another branch; fix its enrolment")
            raise _AuthRefused(f"hub refused the device token for uploads "
                               f"(HTTP {response.status_code}): {what}")

    def _read(self, seg: LocalSegment, offset: int) -> bytes:
        with open(self.store.path(seg), "rb") as f:
            f.seek(offset)
            return f.read(self.chunk_bytes)

    async def _confirmed(self, seg: LocalSegment) -> None:
        await asyncio.to_thread(self.store.delete, seg.id)
        self.uploaded += 1
        self.uploaded_bytes += seg.size


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _sha256(path: Any) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text[:200]))
    except ValueError:
        return response.text[:200]
