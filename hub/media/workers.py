"""Multi-process mode, main-process side: media worker processes each own
the branches with `branch_id % workers == index`.

The main process keeps authentication, auditing, the event bus, the
database schema, recovery, retention and every recording route (those work
from the database and the shared data directory). Only live media moves to
the workers: WHIP/WHEP requests are authenticated here and proxied to the
owning worker over loopback HTTP; meeting start/end goes to the worker that
records the branch; the workers' stream states, keyframe requests, alerts,
audits and viewer counts come back on one event stream per worker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing as mp
import os
import secrets
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from hub.events import AlertRaised, Event, KeyframeRequested, StreamStateChanged
from hub.media.config import MediaSettings
from hub.media.errors import MediaError, Unavailable
from hub.media.workerapp import INTERNAL, run_worker

log = logging.getLogger(__name__)
_EVENTS: dict[str, type[Event]] = {
    "StreamStateChanged": StreamStateChanged,
    "KeyframeRequested": KeyframeRequested,
    "AlertRaised": AlertRaised,
}


def worker_count(settings: MediaSettings) -> int:
    return settings.workers or (os.cpu_count() or 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MediaWorkers:
    def __init__(self, count: int, settings: MediaSettings, data_dir: Path, database_url: str,
                 on_event: Callable[[dict[str, Any]], None]) -> None:
        self.count = count
        self._settings = settings
        self._data_dir = data_dir
        self._database_url = database_url
        self._on_event = on_event
        self._secret = secrets.token_urlsafe(32)
        self._procs: list[Any] = []
        self._ports: list[int] = []
        self._clients: list[httpx.AsyncClient] = []
        self._pumps: list[asyncio.Task[None]] = []
        self._stopping = False

    def internal_token(self, device_id: int, branch_id: int) -> str:
        return f"internal:{self._secret}:{device_id}:{branch_id}"

    def owner(self, branch_id: int) -> int:
        return branch_id % self.count

    async def start(self) -> None:
        ctx = mp.get_context("spawn")
        for index in range(self.count):
            port = _free_port()
            proc = ctx.Process(target=run_worker, name=f"media-worker-{index}", daemon=True, args=(
                index, port, self._settings.model_dump_json(), str(self._data_dir),
                self._database_url, self._secret))
            proc.start()
            self._procs.append(proc)
            self._ports.append(port)
            self._clients.append(httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers={INTERNAL: self._secret},
                timeout=httpx.Timeout(30.0, read=None)))
        ready = [asyncio.get_running_loop().create_future() for _ in range(self.count)]
        self._pumps = [asyncio.create_task(self._pump(i, ready[i])) for i in range(self.count)]
        done, _ = await asyncio.wait(ready, timeout=60)
        if len(done) != self.count:
            await self.stop()
            raise Unavailable("media workers did not start within 60 s; see the hub log")

    async def _pump(self, index: int, ready: asyncio.Future[None]) -> None:
        client = self._clients[index]
        while not self._stopping:
            try:
                async with client.stream("GET", "/internal/events") as response:
                    async for line in response.aiter_lines():
                        message = json.loads(line)
                        if message["type"] == "hello":
                            if not ready.done():
                                ready.set_result(None)
                            continue
                        self._on_event(message)
            except (httpx.TransportError, json.JSONDecodeError):
                pass
            if self._stopping:
                return
            if not self._procs[index].is_alive():
                self._on_event({"type": "AlertRaised", "branch_id": None, "kind": "media_worker_died",
                                "message": f"media worker {index} exited; restart the hub"})
                return
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        self._stopping = True
        for proc in self._procs:
            if proc.is_alive():
                proc.terminate()  # SIGTERM: uvicorn runs the plane's stop()
        for task in self._pumps:
            task.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        for proc in self._procs:
            await asyncio.to_thread(proc.join, 30)
            if proc.is_alive():
                proc.kill()
        for client in self._clients:
            await client.aclose()

    async def request(self, branch_id: int, method: str, path: str, *, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> httpx.Response:
        client = self._clients[self.owner(branch_id)]
        try:
            response = await client.request(method, path, content=body, headers=headers or {})
        except httpx.TransportError as exc:
            raise Unavailable(f"the media worker of branch {branch_id} is not reachable ({exc}); "
                              "retry, and check the hub log") from None
        if response.status_code >= 400:
            try:
                problem = response.json()
                raise MediaError(problem["detail"], status=response.status_code)
            except (ValueError, KeyError):
                raise MediaError(response.text or "media worker error",
                                 status=response.status_code) from None
        return response

    async def meeting(self, branch_id: int, meeting_id: str, meeting_type: str, is_open: bool) -> None:
        await self.request(branch_id, "POST", f"/internal/meetings/{branch_id}",
                           body=json.dumps({"open": is_open, "meeting_id": meeting_id,
                                            "meeting_type": meeting_type}).encode(),
                           headers={"content-type": "application/json"})


def rebuild_event(message: dict[str, Any]) -> Event | None:
    kind = _EVENTS.get(message.get("type", ""))
    if kind is None:
        return None
    fields = {k: v for k, v in message.items() if k != "type"}
    return kind(**fields)
