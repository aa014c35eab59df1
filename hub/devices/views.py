from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hub.api.deps import Ctx, CurrentOperator, SessionDep, client_address
from hub.audit import service as audit
from hub.devices import service
from hub.devices.models import Device
from hub.errors import NotFound
from hub.organisations.service import get_branch_visible, get_visible

router = APIRouter(prefix="/api/v1", tags=["devices"])


class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)


class DeviceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    branch_id: int
    name: str
    enrolled_at: object | None
    enrol_expires_at: object | None = None  # set while a code waits for a (new) PC
    revoked_at: object | None
    last_seen_at: object | None


class DeviceRegistered(BaseModel):
    device: DeviceRead
    enrolment_code: str


class EnrolRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=4, max_length=20)


class EnrolResponse(BaseModel):
    device_id: int
    branch_id: int
    token: str


def _device_visible(session: SessionDep, op: CurrentOperator, device_id: int) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"Device {device_id} does not exist.")
    get_visible(session, op, device.branch_id)
    return device


@router.get("/branches/{branch_id}/devices", response_model=list[DeviceRead])
def list_devices(branch_id: int, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> list[DeviceRead]:
    """The branch's devices; `last_seen_at` (最后在线) is when the hall last sent anything."""
    get_branch_visible(session, op, branch_id)
    out = []
    for d in session.scalars(select(Device).where(Device.branch_id == branch_id)):
        read = DeviceRead.model_validate(d)
        read.last_seen_at = service.last_seen(d.last_seen_at, ctx.edge.last_heard(d.id) if ctx.edge else None)
        out.append(read)
    return out


@router.post("/branches/{branch_id}/devices", response_model=DeviceRegistered, status_code=201)
def register_device(branch_id: int, body: DeviceCreate, session: SessionDep, op: CurrentOperator) -> DeviceRegistered:
    """Register a hall's edge agent; the one-time enrolment code is shown only now."""
    op.require_write()
    branch = get_branch_visible(session, op, branch_id)
    device, code = service.register(session, branch=branch, name=body.name)
    audit.record(session, actor=op.username, action="device_registered", target=f"device:{device.id}", branch_id=branch_id)
    return DeviceRegistered(device=DeviceRead.model_validate(device), enrolment_code=code)


@router.post("/devices/{device_id}/enrolment-code", response_model=DeviceRegistered)
def reenrol_device(device_id: int, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> DeviceRegistered:
    op.require_write()
    device = _device_visible(session, op, device_id)
    code = service.new_enrolment_code_for(session, device)
    audit.record(session, actor=op.username, action="device_reenrolled", target=f"device:{device.id}", branch_id=device.branch_id)
    if ctx.edge:
        ctx.edge.disconnect_device_threadsafe(device.id)
    return DeviceRegistered(device=DeviceRead.model_validate(device), enrolment_code=code)


@router.post("/devices/{device_id}/revoke", response_model=DeviceRead)
def revoke_device(device_id: int, session: SessionDep, op: CurrentOperator, ctx: Ctx) -> object:
    op.require_write()
    device = _device_visible(session, op, device_id)
    service.revoke(session, device)
    audit.record(session, actor=op.username, action="device_revoked", target=f"device:{device.id}", branch_id=device.branch_id)
    session.commit()
    if ctx.edge:
        ctx.edge.disconnect_device_threadsafe(device.id)
    return device


@router.post("/devices/enrol", response_model=EnrolResponse, tags=["edge"])
def enrol(body: EnrolRequest, request: Request, session: SessionDep, ctx: Ctx) -> EnrolResponse:
    """Called by an edge agent: exchange the one-time code for a long-lived
    token. Wrong codes are rate-limited per address."""
    with ctx.enrol_limiter.attempt(f"addr:{client_address(request)}", "enrolment codes"):
        device, token = service.enrol(session, body.code)
    audit.record(session, actor=f"device:{device.id}", action="device_enrolled", target=f"device:{device.id}", branch_id=device.branch_id)
    return EnrolResponse(device_id=device.id, branch_id=device.branch_id, token=token)
