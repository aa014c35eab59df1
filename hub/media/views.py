"""HTTP routes of the live media plane, WHIP and WHEP (thin: parse, call the
plane, map errors). Recordings have their own routes (hub/recordings/views.py).

Errors of the MediaError hierarchy become RFC 9457 problem details through
the router's own route class, so the lead's app needs no exception handler.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from hub.media.auth import MediaViewer
from hub.media.errors import BadSdp, MediaAuthError, MediaError

if TYPE_CHECKING:
    from hub.media.plane import MediaPlane

SDP = "application/sdp"


def problem(exc: MediaError) -> JSONResponse:
    headers = {}
    if isinstance(exc, MediaAuthError) and exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if exc.status == 503:
        headers["Retry-After"] = "10"
    return JSONResponse(
        {"type": "about:blank", "title": exc.title, "status": exc.status, "detail": exc.detail},
        status_code=exc.status,
        media_type="application/problem+json",
        headers=headers,
    )


class MediaRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except MediaError as exc:
                return problem(exc)

        return route


def bearer(request: Request) -> str:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MediaAuthError(401, "send the device token as 'Authorization: Bearer <token>'")
    return token.strip()


async def read_body(request: Request, limit: int, too_large: type[MediaError] = BadSdp) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large(f"the body is larger than {limit - 1} bytes; send a smaller offer (one "
                            "video and one audio section, no trickled candidates)")
    return bytes(body)


def _not_trickle() -> Response:
    return problem(MediaError(
        "this server does not support trickle ICE or ICE restarts; include all candidates "
        "in the offer, or DELETE the session and POST a new offer", status=405))


def build_router(plane: MediaPlane) -> APIRouter:
    router = APIRouter(route_class=MediaRoute, tags=["media"])
    s = plane.settings
    # The hub's one operator identity (401 before any lookup); routes take
    # it as a default so that it is resolved before the body is read.
    identify = Depends(plane.auth.identify)

    @router.post("/whip/{branch_id}", status_code=201, summary="WHIP ingest (RFC 9725)")
    async def whip_post(branch_id: int, request: Request) -> Response:
        token = bearer(request)
        if request.headers.get("content-type", "").split(";")[0].strip() != SDP:
            raise MediaError("send the offer with Content-Type: application/sdp", status=415)
        body = await read_body(request, s.max_sdp_bytes + 1, BadSdp)
        session_id, answer = await plane.publish(branch_id, token, body)
        return Response(answer, status_code=201, media_type=SDP,
                        headers={"Location": f"/whip/{branch_id}/{session_id}"})

    @router.delete("/whip/{branch_id}/{session_id}")
    async def whip_delete(branch_id: int, session_id: str, request: Request) -> Response:
        await plane.unpublish(branch_id, session_id, bearer(request))
        return Response(status_code=200)

    @router.patch("/whip/{branch_id}/{session_id}")
    async def whip_patch(branch_id: int, session_id: str, request: Request) -> Response:
        device = await plane.auth.device_for_token(bearer(request))
        if device is None:
            raise MediaAuthError(401, "unknown device token; re-enrol the edge device")
        if device[1] != branch_id:
            raise MediaAuthError(403, f"this device belongs to branch {device[1]}")
        return _not_trickle()

    @router.post("/whep/{branch_id}", status_code=201, summary="WHEP live view")
    async def whep_post(branch_id: int, request: Request, who: MediaViewer = identify) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != SDP:
            raise MediaError("send the offer with Content-Type: application/sdp", status=415)
        body = await read_body(request, s.max_sdp_bytes + 1, BadSdp)
        session_id, answer = await plane.view(who, branch_id, body)
        return Response(answer, status_code=201, media_type=SDP,
                        headers={"Location": f"/whep/{branch_id}/{session_id}"})

    @router.delete("/whep/{branch_id}/{session_id}")
    async def whep_delete(branch_id: int, session_id: str, who: MediaViewer = identify) -> Response:
        await plane.unview(who, branch_id, session_id)
        return Response(status_code=200)

    @router.get("/media/nodes", summary="Media nodes: state (starting/up/dead/backing_off), halls carried")
    async def media_nodes(who: MediaViewer = identify) -> list[dict[str, Any]]:
        return plane.node_status()

    @router.patch("/whep/{branch_id}/{session_id}")
    async def whep_patch(branch_id: int, session_id: str, who: MediaViewer = identify) -> Response:
        await plane.auth.may_view(who, branch_id)
        return _not_trickle()

    return router

