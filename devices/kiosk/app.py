"""The kiosk web app served by the edge agent to the hall's own screen.

Built by `create_kiosk_app(hall, admin_pin=...)`; all assets are local
files under `static/` (village halls have no internet). Live updates go to
the page as Server-Sent Events from `/api/events`. Admin routes need a
session from `POST /api/admin/login` (cookie); errors are JSON
`{"error": "<what to do next>"}` with the status mapped here only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from devices.agent.errors import EdgeError, MeetingError, ReaderUnavailable, StoreError
from devices.agent.fpsync import FingerprintSyncError
from devices.agent.hall import Hall
from devices.agent.meeting import MEETING_TYPES, CheckInOutcome
from devices.kiosk.auth import PinGate, PinResult
from devices.kiosk.page import render

# Package data, found wherever the package is installed (not relative to a
# source tree): tests/test_packaging.py installs the wheel and fetches it.
STATIC = Path(str(resources.files("devices.kiosk") / "static"))
COOKIE = "kiosk_admin"
Handler = Callable[[Request], Awaitable[Response]]


def _error(status: int, message: str, code: str) -> JSONResponse:
    """`code` is what the kiosk shows, in the hall's language (texts.ERROR_CODES);
    `error` is the detail, in English, for logs and the API."""
    return JSONResponse({"error": message, "code": code}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = await asyncio.wait_for(request.json(), 10)
    except (ValueError, TimeoutError):
        return {}
    return data if isinstance(data, dict) else {}


def create_kiosk_app(
    hall: Hall,
    *,
    admin_pin: str,
    closing: asyncio.Event | None = None,
    keepalive_s: float = 15.0,
) -> Starlette:
    """`closing` ends the live streams so the server can stop promptly."""
    gate = PinGate(admin_pin)
    closing = closing or asyncio.Event()

    def admin(handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            if not gate.check(request.cookies.get(COOKIE)):
                return _error(401, "admin mode is locked: enter the PIN", "admin_locked")
            try:
                return await handler(request)
            except (MeetingError, ReaderUnavailable) as exc:
                return _error(409, str(exc), exc.code or "meeting_refused")
            except FingerprintSyncError as exc:
                return _error(503, str(exc), "hub_unreachable")
            except ValueError as exc:
                return _error(400, str(exc), "bad_request")
            except (StoreError, EdgeError) as exc:
                return _error(500, str(exc), exc.code or "agent_fault")

        return guarded

    async def index(request: Request) -> Response:
        return HTMLResponse(render(await hall.snapshot()))

    async def state(request: Request) -> Response:
        return JSONResponse(await hall.snapshot())

    async def events(request: Request) -> Response:
        async def stream() -> AsyncIterator[str]:
            yield f"data: {json.dumps(await hall.snapshot(), ensure_ascii=False)}\n\n"
            while not closing.is_set():
                changed = await hall.changes.wait(keepalive_s)
                if closing.is_set():
                    break
                if changed:
                    snap = await hall.snapshot()
                    yield f"data: {json.dumps(snap, ensure_ascii=False)}\n\n"
                else:
                    yield ": keepalive\n\n"

        return StreamingResponse(
            stream(), media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def meeting_types(request: Request) -> Response:
        return JSONResponse([{"code": c, "zh": z, "en": e} for c, (z, e) in MEETING_TYPES.items()])

    async def login(request: Request) -> Response:
        pin = str((await _body(request)).get("pin") or "")
        result, token = gate.login(pin)
        if result is PinResult.LOCKED:
            return _error(429, "too many wrong PINs: wait a minute and try again", "pin_locked")
        if result is PinResult.WRONG or token is None:
            return _error(401, "wrong PIN: try again", "wrong_pin")
        response = JSONResponse({"ok": True})
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    async def logout(request: Request) -> Response:
        gate.logout(request.cookies.get(COOKIE))
        response = JSONResponse({"ok": True})
        response.delete_cookie(COOKIE)
        return response

    async def members(request: Request) -> Response:
        return JSONResponse(hall.members_for_admin())

    async def start_meeting(request: Request) -> Response:
        body = await _body(request)
        if body.get("scheduled_id"):  # from the hub's schedule
            info = await hall.desk.start_scheduled(str(body["scheduled_id"]))
        else:  # joins the branch's open meeting if another device started one
            info = await hall.desk.start_meeting(
                str(body.get("meeting_type") or ""), str(body.get("topic") or "")
            )
        return JSONResponse({"meeting_id": info.id}, status_code=201)

    async def leave(request: Request) -> Response:
        body = await _body(request)
        await hall.desk.file_leave(str(body.get("member_id") or ""), str(body.get("reason") or ""))
        return JSONResponse({"ok": True}, status_code=201)

    async def end_meeting(request: Request) -> Response:
        info = await hall.desk.end_meeting()
        return JSONResponse({"meeting_id": info.id})

    async def staff_check_in(request: Request) -> Response:
        body = await _body(request)
        result = await hall.staff_check_in(
            str(body.get("member_id") or ""), str(body.get("reason") or "") or None
        )
        status = 201 if result.outcome is CheckInOutcome.ACCEPTED else 409
        return JSONResponse({"outcome": result.outcome.value}, status_code=status)

    async def enrol(request: Request) -> Response:
        body = await _body(request)
        slot = await hall.enrol_finger(str(body.get("member_id") or ""))
        return JSONResponse({"slot": slot}, status_code=201)

    async def restore_fingerprints(request: Request) -> Response:
        return JSONResponse(await hall.restore_fingerprints())

    async def dismiss_unstored(request: Request) -> Response:
        hall.unstored = []  # staff registered them by hand
        hall.changes.notify()
        return JSONResponse({"ok": True})

    async def cancel_restore(request: Request) -> Response:
        return JSONResponse({"cancelled": hall.cancel_restore()})

    async def dismiss(request: Request) -> Response:
        done = await hall.outbox.dismiss(request.path_params["id"])
        return JSONResponse({"ok": done}, status_code=200 if done else 404)

    routes = [
        Route("/", index),
        Route("/api/state", state),
        Route("/api/events", events),
        Route("/api/meeting-types", meeting_types),
        Route("/api/admin/login", login, methods=["POST"]),
        Route("/api/admin/logout", logout, methods=["POST"]),
        Route("/api/admin/members", admin(members)),
        Route("/api/admin/meeting/start", admin(start_meeting), methods=["POST"]),
        Route("/api/admin/meeting/end", admin(end_meeting), methods=["POST"]),
        Route("/api/admin/checkin", admin(staff_check_in), methods=["POST"]),
        Route("/api/admin/leave", admin(leave), methods=["POST"]),
        Route("/api/admin/enrol", admin(enrol), methods=["POST"]),
        Route("/api/admin/fingerprints/restore", admin(restore_fingerprints), methods=["POST"]),
        Route("/api/admin/fingerprints/restore/cancel", admin(cancel_restore), methods=["POST"]),
        Route("/api/admin/rejected/{id}/dismiss", admin(dismiss), methods=["POST"]),
        Route("/api/admin/unstored/dismiss", admin(dismiss_unstored), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.hall = hall
    app.state.gate = gate
    return app
