"""HTTP routes of the media plane (thin: parse, call the plane, map errors).

Errors of the MediaError hierarchy become RFC 9457 problem details through
the router's own route class, so the lead's app needs no exception handler.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.routing import APIRoute

from hub.media.auth import MediaViewer
from hub.media.errors import BadRequest, BadSdp, MediaAuthError, MediaError, NotFound
from hub.media.upload import PayloadTooLarge, ResumeConflict

if TYPE_CHECKING:
    from hub.media.plane import MediaPlane

SDP = "application/sdp"


def problem(exc: MediaError) -> JSONResponse:
    headers = {}
    if isinstance(exc, MediaAuthError) and exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, ResumeConflict):
        headers["Upload-Offset"] = str(exc.offset)
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


async def read_body(request: Request, limit: int, too_large: type[MediaError] = PayloadTooLarge) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large(f"the body is larger than {limit - 1 if too_large is BadSdp else limit} "
                            "bytes; send a smaller offer (one video and one audio section, "
                            "no trickled candidates)" if too_large is BadSdp else
                            f"the body is larger than {limit} bytes; send smaller segments")
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

    @router.patch("/whep/{branch_id}/{session_id}")
    async def whep_patch(branch_id: int, session_id: str, who: MediaViewer = identify) -> Response:
        await plane.auth.may_view(who, branch_id)
        return _not_trickle()

    @router.get("/api/v1/meetings/{meeting_id}/recording", summary="Segments and gaps of a meeting")
    async def recording(meeting_id: str, who: MediaViewer = identify) -> JSONResponse:
        return JSONResponse(await plane_recordings(plane).describe(who, meeting_id))

    @router.get("/api/v1/meetings/{meeting_id}/playlist.m3u8", summary="HLS VOD playlist")
    async def playlist(meeting_id: str, who: MediaViewer = identify) -> Response:
        text = await plane_recordings(plane).playlist(who, meeting_id)
        return Response(text, media_type="application/vnd.apple.mpegurl")

    @router.get("/api/v1/meetings/{meeting_id}/segments/{filename}", summary="One segment file")
    async def segment(meeting_id: str, filename: str, who: MediaViewer = identify) -> Response:
        segment_id, _, ext = filename.rpartition(".")
        path, container = await plane_recordings(plane).segment_path(who, meeting_id, segment_id)
        if ext != container:
            raise NotFound(f"segment {segment_id} is a .{container} file; ask for {segment_id}.{container}")
        return FileResponse(path, media_type=f"video/{container}")

    @router.get("/api/v1/meetings/{meeting_id}/export.{ext}", summary="Whole meeting as one file")
    async def export(meeting_id: str, ext: str, who: MediaViewer = identify) -> Response:
        if ext not in ("mp4", "webm"):
            raise NotFound("export as export.mp4 (H.264) or export.webm (VP8)")
        chunks = await plane_recordings(plane).export(who, meeting_id, ext)
        return StreamingResponse(chunks, media_type=f"video/{ext}", headers={
            "Content-Disposition": f'attachment; filename="meeting-{meeting_id}.{ext}"'})

    @router.put("/api/v1/meetings/{meeting_id}/recording/flagged", summary="Keep beyond retention")
    async def flag(meeting_id: str, request: Request, who: MediaViewer = identify) -> JSONResponse:
        if not who.can_act:
            raise MediaAuthError(403, "your account can only view; ask a county administrator for an "
                                      "operator role to keep recordings")
        try:
            flagged = bool((await request.json())["flagged"])
        except (ValueError, KeyError, TypeError):
            raise BadRequest('send {"flagged": true} or {"flagged": false}') from None
        await plane_recordings(plane).set_flagged(who, meeting_id, flagged)
        return JSONResponse({"meeting_id": meeting_id, "flagged": flagged})

    @router.put("/api/v1/branches/{branch_id}/segments/{segment_id}", summary="Backfill upload")
    async def upload(branch_id: int, segment_id: str, request: Request) -> Response:
        token = bearer(request)
        body = await read_body(request, s.max_upload_bytes)
        status, offset = await plane_recordings(plane).upload(
            branch_id, segment_id, token, dict(request.headers), body)
        code = {"incomplete": 202, "stored": 201, "duplicate": 200}[status]
        return JSONResponse({"segment_id": segment_id, "status": status, "offset": offset},
                            status_code=code, headers={"Upload-Offset": str(offset)})

    @router.head("/api/v1/branches/{branch_id}/segments/{segment_id}")
    async def upload_offset(branch_id: int, segment_id: str, request: Request) -> Response:
        offset, complete = await plane_recordings(plane).upload_offset(
            branch_id, segment_id, bearer(request))
        return Response(status_code=200, headers={
            "Upload-Offset": str(offset), "Upload-Complete": "?1" if complete else "?0"})

    return router


def plane_recordings(plane: MediaPlane):  # noqa: ANN201 - avoids an import cycle
    from hub.media.recordings import Recordings

    return Recordings(plane)
