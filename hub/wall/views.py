"""`WS /ws/wall` and the wall's HTTP helpers (thumbnails)."""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

from hub.api.deps import Ctx, CurrentOperator, SessionDep
from hub.auth.deps import socket_operator
from hub.errors import HubError, NotFound, problem
from hub.organisations.service import get_branch_visible

router = APIRouter(tags=["wall"])


@router.get("/api/v1/branches/{branch_id}/thumbnail.jpg")
def thumbnail(branch_id: int, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> Response:
    get_branch_visible(session, op, branch_id)
    item = ctx.edge.thumbnails.get(branch_id) if ctx.edge else None
    if item is None:
        raise NotFound("This hall has not sent a picture yet; check its camera and connection.")
    jpeg, taken_at = item
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store", "X-Taken-At": taken_at.isoformat()})


@router.get("/api/v1/wall/snapshot")
def wall_snapshot(op: CurrentOperator, ctx: Ctx) -> dict:
    assert ctx.wall is not None
    return ctx.wall.snapshot(op.scope_path)


@router.websocket("/ws/wall")
async def wall_socket(websocket: WebSocket) -> None:
    ctx = websocket.app.state.ctx
    try:
        op = await asyncio.to_thread(socket_operator, websocket)
    except HubError as exc:
        await websocket.send_denial_response(problem(exc.status, exc.title, exc.detail, exc.code))
        return
    await websocket.accept()
    wall = ctx.wall
    client = wall.connect(op.scope_path)
    # Logout, expiry, deactivation or a new role end the socket at once.
    ended = asyncio.Event()
    handle = ctx.live.attach(operator_id=op.id, session_id=op.session_id, expires_at=op.session_expires_at,
                             close=lambda reason: ended.set())
    ender = asyncio.create_task(ended.wait())
    try:
        await websocket.send_text(json.dumps(wall.snapshot(op.scope_path), ensure_ascii=False))
        receiver = asyncio.create_task(_drain_incoming(websocket))
        while not receiver.done() and not ended.is_set():
            getter = asyncio.create_task(client.queue.get())
            done, _ = await asyncio.wait({getter, receiver, ender}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            batch = [getter.result()]
            while not client.queue.empty() and len(batch) < 500:
                batch.append(client.queue.get_nowait())
            if client.overflowed:
                # Fell behind: start again from a snapshot rather than show a wrong wall.
                client.overflowed = False
                while not client.queue.empty():
                    client.queue.get_nowait()
                batch = [wall.snapshot(op.scope_path)]
            await websocket.send_text(json.dumps(batch[0] if len(batch) == 1 else {"type": "batch", "messages": batch}, ensure_ascii=False))
        if ended.is_set():
            # 4401: the session ended; the page asks for a new ticket and is told to sign in.
            await websocket.close(code=4401, reason="session ended")
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        ctx.live.detach(handle)
        ender.cancel()
        wall.disconnect(client)
        if "receiver" in locals():
            receiver.cancel()
            with contextlib.suppress(BaseException):
                await receiver


async def _drain_incoming(websocket: WebSocket) -> None:
    """The wall sends nothing but pings; this notices when it goes away."""
    while True:
        msg = await websocket.receive()
        if msg["type"] == "websocket.disconnect":
            return
