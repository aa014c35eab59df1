"""HTTP routes of the recordings domain (thin: authenticate, call the
service in a thread, map the answer). Operators sign in as for every other
route (`CurrentOperator`, 401 before any lookup) and see only meetings of
branches inside their scope; devices use their device token, checked
before a single byte of an upload's body is read."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel
from starlette.background import BackgroundTask

from hub.api.deps import CurrentOperator, get_ctx
from hub.audit import service as audit
from hub.auth.principal import OperatorPrincipal
from hub.db import session_scope
from hub.devices import service as devices
from hub.errors import Forbidden, HubError, Unauthorized, problem
from hub.organisations.models import OrgUnit
from hub.recordings.errors import BadUpload, NotFound, ResumeConflict
from hub.recordings.service import RecordingService
from hub.recordings.upload import close_chunk, open_chunk, parse_upload_headers

router = APIRouter(tags=["recordings"])
FLUSH_BYTES = 1 << 20  # body bytes buffered before a write to the staging file


def get_recordings(request: Request) -> RecordingService:
    svc = get_ctx(request).recordings
    if svc is None:
        raise HubError("录像服务未启动。The recordings service is not running; retry in a few seconds.")
    return svc


Recordings = Annotated[RecordingService, Depends(get_recordings)]
ScopeCheck = Callable[[OperatorPrincipal, int], bool]  # (operator, branch id) -> may see it
DeviceAuth = Callable[[str], "tuple[int, int] | None"]  # token -> (device id, branch id)


def get_scope_check(request: Request) -> ScopeCheck:
    factory = get_ctx(request).session_factory

    def check(op: OperatorPrincipal, branch_id: int) -> bool:
        with session_scope(factory) as s:
            branch = s.get(OrgUnit, branch_id)
            return branch is not None and op.can_see(branch.path)

    return check


def get_device_auth(request: Request) -> DeviceAuth:
    factory = get_ctx(request).session_factory

    def check(token: str) -> tuple[int, int] | None:
        with session_scope(factory) as s:
            device = devices.authenticate(s, token)
            return (device.id, device.branch_id) if device is not None else None

    return check


Scope = Annotated[ScopeCheck, Depends(get_scope_check)]
Devices = Annotated[DeviceAuth, Depends(get_device_auth)]


def _authorise(svc: RecordingService, op: OperatorPrincipal, scope: ScopeCheck, meeting_id: str) -> int:
    """The meeting's branch, if the operator may see it (404 / 403 otherwise)."""
    branch_id = svc.meeting_branch(meeting_id)
    if branch_id is None:
        raise NotFound(f"会议 {meeting_id} 没有录像，请检查会议编号。Meeting {meeting_id} has no "
                       "recording; check the meeting id.")
    if not scope(op, branch_id):
        raise Forbidden("该支部不在您的管辖范围内。This branch is outside your area.")
    return branch_id


AuditLog = Callable[[str, str, int, str], None]  # (actor, action, branch id, meeting id)


def get_audit_log(request: Request) -> AuditLog:
    factory = get_ctx(request).session_factory

    def record(actor: str, action: str, branch_id: int, meeting_id: str) -> None:
        with session_scope(factory) as s:
            audit.record(s, actor=actor, action=action, target=f"meeting:{meeting_id}",
                         branch_id=branch_id, detail={"meeting_id": meeting_id})

    return record


Audit = Annotated[AuditLog, Depends(get_audit_log)]


@router.get("/api/v1/meetings/{meeting_id}/recording", summary="Segments, coverage, gaps and why")
def describe(meeting_id: str, op: CurrentOperator, svc: Recordings, scope: Scope) -> dict[str, Any]:
    _authorise(svc, op, scope, meeting_id)
    return svc.describe(meeting_id)


@router.get("/api/v1/meetings/{meeting_id}/playlist.m3u8", summary="HLS VOD playlist (each moment once)")
def playlist(meeting_id: str, op: CurrentOperator, svc: Recordings, scope: Scope) -> Response:
    _authorise(svc, op, scope, meeting_id)
    return Response(svc.playlist(meeting_id), media_type="application/vnd.apple.mpegurl")


@router.get("/api/v1/meetings/{meeting_id}/segments/{filename}", summary="One segment file")
def segment(meeting_id: str, filename: str, op: CurrentOperator, svc: Recordings,
            scope: Scope) -> FileResponse:
    _authorise(svc, op, scope, meeting_id)
    segment_id, _, ext = filename.rpartition(".")
    path = svc.segment_file(meeting_id, segment_id, ext)
    return FileResponse(path, media_type=f"video/{ext}")


@router.get("/api/v1/meetings/{meeting_id}/export.{ext}", summary="Whole meeting as one file")
async def export(meeting_id: str, ext: str, op: CurrentOperator, svc: Recordings,
                 scope: Scope, audit_log: Audit) -> FileResponse:
    if ext not in ("mp4", "webm"):
        raise NotFound("请以 export.mp4（H.264）或 export.webm（VP8）导出。Export as export.mp4 (H.264) "
                       "or export.webm (VP8).")
    branch_id = await asyncio.to_thread(_authorise, svc, op, scope, meeting_id)
    result = await svc.export(meeting_id, ext)
    await asyncio.to_thread(audit_log, op.username, "recording.export", branch_id, meeting_id)
    return FileResponse(result.path, media_type=f"video/{ext}",
                        filename=f"meeting-{meeting_id}.{ext}",
                        background=BackgroundTask(result.path.unlink, missing_ok=True))


class FlagBody(BaseModel):
    flagged: bool


@router.put("/api/v1/meetings/{meeting_id}/recording/flagged", summary="Keep beyond retention")
def flag(meeting_id: str, body: FlagBody, op: CurrentOperator, svc: Recordings,
         scope: Scope, audit_log: Audit) -> dict[str, Any]:
    op.require_write()  # county admins and township operators; viewers may not
    branch_id = _authorise(svc, op, scope, meeting_id)
    if not svc.set_flagged(meeting_id, body.flagged):
        raise NotFound(f"会议 {meeting_id} 没有录像。Meeting {meeting_id} has no recording.")
    audit_log(op.username, "recording.flag" if body.flagged else "recording.unflag", branch_id, meeting_id)
    return {"meeting_id": meeting_id, "flagged": body.flagged}


# -- devices ------------------------------------------------------------------------------
def _device_branch(auth: DeviceAuth, request: Request, branch_id: int) -> int:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("请以 'Authorization: Bearer <设备令牌>' 发送。Send the device token as "
                           "'Authorization: Bearer <token>'.")
    device = auth(token.strip())
    if device is None:
        raise Unauthorized("设备令牌无效，请重新注册一体机。Unknown device token; re-enrol the edge device.")
    if device[1] != branch_id:
        raise Forbidden(f"此设备属于支部 {device[1]}。This device belongs to branch {device[1]}.")
    return device[0]


def _problem(exc: HubError) -> JSONResponse:
    response = problem(exc.status, exc.title, exc.detail, exc.code, **exc.extra)
    if isinstance(exc, ResumeConflict):
        response.headers["Upload-Offset"] = str(exc.offset)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


@router.put("/api/v1/branches/{branch_id}/segments/{segment_id}", summary="Backfill upload")
async def upload(branch_id: int, segment_id: str, request: Request, svc: Recordings,
                 auth: Devices) -> Response:
    try:
        # who and where first: nothing of the body is read before these pass
        await asyncio.to_thread(_device_branch, auth, request, branch_id)
        meta = parse_upload_headers(segment_id, request.headers, svc.settings.max_upload_bytes)
        if await asyncio.to_thread(svc.check_upload_target, branch_id=branch_id, meta=meta):
            return JSONResponse({"segment_id": segment_id, "status": "duplicate", "offset": meta.total},
                                headers={"Upload-Offset": str(meta.total)})
        f = await asyncio.to_thread(open_chunk, svc.uploads_dir, branch_id, meta)
        received, complete = 0, False
        try:
            buffer = bytearray()
            async for chunk in request.stream():
                received += len(chunk)
                if received > meta.length:
                    raise BadUpload("正文比 Content-Length 长。The body is longer than Content-Length.")
                buffer += chunk
                if len(buffer) >= FLUSH_BYTES:
                    await asyncio.to_thread(f.write, bytes(buffer))
                    buffer.clear()
            if buffer:
                await asyncio.to_thread(f.write, bytes(buffer))
            if received != meta.length:
                raise BadUpload("正文不完整，请从 HEAD 给出的位置续传。The body ended early; ask HEAD for "
                                "the offset and resume.")
            complete = True
        finally:
            offset = await asyncio.to_thread(close_chunk, f, keep=complete, start=meta.start)
        if offset < meta.total:
            return JSONResponse({"segment_id": segment_id, "status": "incomplete", "offset": offset},
                                status_code=202, headers={"Upload-Offset": str(offset)})
        status = await asyncio.to_thread(svc.finish_upload, branch_id=branch_id, meta=meta)
    except HubError as exc:
        return _problem(exc)
    return JSONResponse({"segment_id": segment_id, "status": status, "offset": meta.total},
                        status_code=201 if status == "stored" else 200,
                        headers={"Upload-Offset": str(meta.total)})


@router.head("/api/v1/branches/{branch_id}/segments/{segment_id}", summary="Upload offset")
def upload_offset(branch_id: int, segment_id: str, request: Request, svc: Recordings,
                  auth: Devices) -> Response:
    try:
        _device_branch(auth, request, branch_id)
    except HubError as exc:
        return _problem(exc)
    offset, complete = svc.upload_state(branch_id=branch_id, segment_id=segment_id)
    return Response(status_code=200, headers={"Upload-Offset": str(offset),
                                              "Upload-Complete": "?1" if complete else "?0"})


@router.get("/api/v1/branches/{branch_id}/meetings/{meeting_id}/coverage",
            summary="Time ranges the hub holds as verified segments (the edge deletes only these)")
def coverage(branch_id: int, meeting_id: str, request: Request, svc: Recordings,
             auth: Devices) -> Response:
    try:
        _device_branch(auth, request, branch_id)
        owner = svc.meeting_branch(meeting_id)
        if owner is not None and owner != branch_id:
            raise Forbidden("该会议不属于本支部。This meeting belongs to another branch.")
    except HubError as exc:
        return _problem(exc)
    from datetime import UTC, datetime

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    spans = svc.coverage(meeting_id)
    return JSONResponse({"meeting_id": meeting_id, "covered": [[iso(a), iso(b)] for a, b in spans]})
