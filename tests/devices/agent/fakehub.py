"""A small hub for the agent's tests, written from docs/protocols/edge-ws.md:
401 on a bad token, hello -> welcome (+ roster when stale), acks with stored
answers for resent ids (`duplicate: true`), check-in rules, thumbnails.
`drop_before_ack` makes it apply a message and then cut the TCP link
without answering, as a village network does."""

from __future__ import annotations

import asyncio
import json
import time
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

ROSTER = {
    "version": "r1",
    "members": [
        {"id": "m1", "member_no": "001", "name": "张三", "status": "full", "excused": False,
         "committee": True},
        {"id": "m2", "member_no": "002", "name": "李四", "status": "full", "excused": False,
         "committee": False},
        {"id": "m3", "member_no": "003", "name": "王五", "status": "probationary",
         "excused": True, "committee": False},
    ],
}


class FakeHub:
    def __init__(self, token: str = "good-token") -> None:
        self.token = token
        self.roster = ROSTER
        self.answers: dict[str, dict[str, Any]] = {}
        self.applied: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.thumbnails: list[bytes] = []
        self.hellos: list[dict[str, Any]] = []
        self.meetings: dict[str, dict[str, Any]] = {}
        self.checked: set[tuple[str, str]] = set()
        self.drop_before_ack: set[int] = set()  # 1-based counts of durable messages
        self.durable_seen = 0
        self.connections = 0
        self.server: Server | None = None
        self.port = 0
        self.changed = asyncio.Event()
        self.live: set[ServerConnection] = set()

    async def start(self, port: int = 0) -> None:
        self.server = await serve(
            self._handler, "127.0.0.1", port, process_request=self._auth, ping_interval=None
        )
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await asyncio.wait_for(self.server.wait_closed(), 10)
            self.server = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/edge"

    def _auth(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path != "/ws/edge":
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return connection.respond(HTTPStatus.UNAUTHORIZED, '{"title": "bad token"}\n')
        return None

    def _notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        self.live.add(ws)
        try:
            async for frame in ws:
                if isinstance(frame, bytes):
                    self.thumbnails.append(frame)
                    self._notify()
                    continue
                msg = json.loads(frame)
                self.received.append(msg)
                await self._on_message(ws, msg)
                self._notify()
        except Exception:
            pass
        finally:
            self.live.discard(ws)

    async def _on_message(self, ws: ServerConnection, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        if kind == "hello":
            self.hellos.append(msg)
            await ws.send(json.dumps({
                "type": "welcome", "id": "w", "ts": time.time(), "device_id": "d1",
                "branch_id": 7, "branch_name": "东村党支部", "server_ts": time.time(),
            }))
            if msg.get("roster_version") != self.roster["version"]:
                await ws.send(json.dumps({"type": "roster", "id": "r", "ts": time.time(),
                                          **self.roster}))
            return
        if kind == "heartbeat":
            await ws.send(json.dumps({"type": "ack", "id": msg["id"], "ok": True,
                                      "duplicate": False, "result": {}}))
            return
        stored = self.answers.get(msg["id"])
        if stored is not None:
            await ws.send(json.dumps({**stored, "duplicate": True}))
            return
        answer = self._apply(msg)
        self.answers[msg["id"]] = answer
        self.durable_seen += 1
        if self.durable_seen in self.drop_before_ack:
            ws.transport.abort()  # applied, but the ack is lost with the link
            return
        await ws.send(json.dumps(answer))

    def _apply(self, msg: dict[str, Any]) -> dict[str, Any]:
        def ok(**result: Any) -> dict[str, Any]:
            self.applied.append(msg)
            return {"type": "ack", "id": msg["id"], "ok": True, "duplicate": False,
                    "result": result}

        def fail(code: str) -> dict[str, Any]:
            return {"type": "ack", "id": msg["id"], "ok": False, "duplicate": False,
                    "error": {"code": code, "detail": code}}

        kind = msg["type"]
        if kind == "meeting.start":
            self.meetings[msg["meeting_id"]] = {"open": True}
            return ok(meeting_id=msg["meeting_id"])
        if kind == "meeting.end":
            if msg["meeting_id"] not in self.meetings:
                return fail("unknown_meeting")
            self.meetings[msg["meeting_id"]]["open"] = False
            return ok()
        if kind == "checkin":
            meeting = self.meetings.get(msg["meeting_id"])
            if meeting is None:
                return fail("unknown_meeting")
            if not meeting["open"]:
                return fail("meeting_not_open")
            if msg["member_id"] not in {m["id"] for m in self.roster["members"]}:
                return fail("not_in_branch")
            key = (msg["meeting_id"], msg["member_id"])
            if key in self.checked:
                return fail("already_checked_in")
            self.checked.add(key)
            return ok(checkin_id=f"c{len(self.checked)}", late=False)
        if kind == "headcount":
            return ok()
        return fail("bad_message")

    def applied_of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.applied if m["type"] == kind]
