"""Routes: the edge agent's template backup (device token) and the
operators' view of who is enrolled (session, scoped to their area).

Device routes are documented in docs/protocols/fingerprint-backup.md."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from hub.api.deps import Ctx, CurrentOperator, SessionDep
from hub.audit import service as audit
from hub.context import HubContext
from hub.devices import service as devices
from hub.devices.models import Device
from hub.errors import HubError, Unauthorized
from hub.fingerprints import service
from hub.fingerprints.crypto import TemplateCipher, TemplateKeyError
from hub.fingerprints.schemas import (
    BranchTemplates,
    EnrolledMember,
    EnrolmentDeleted,
    TemplateStored,
    TemplateUpload,
)
from hub.members import service as members
from hub.organisations.service import get_branch_visible, get_visible

router = APIRouter(prefix="/api/v1", tags=["fingerprints"])
SYNC_COMMAND = "sync_fingerprints"


class KeyUnavailable(HubError):
    status, title, code = 503, "Template key unavailable", "template_key"


def cipher_for(ctx: HubContext) -> TemplateCipher:
    """The hub's template cipher, derived once per process."""
    cipher = ctx.fingerprint_cipher
    if cipher is None:
        try:
            cipher = TemplateCipher.from_settings(ctx.settings)
        except TemplateKeyError as exc:
            raise KeyUnavailable(str(exc)) from None
        ctx.fingerprint_cipher = cipher
    return cipher


def get_device(request: Request, session: SessionDep) -> Device:
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    device = devices.authenticate(session, token) if token else None
    if device is None:
        raise Unauthorized("The device token is missing, wrong or revoked. Enrol the agent again with a new code from the county.")
    return device


CurrentDevice = Annotated[Device, Depends(get_device)]


# ---- edge agent (device token) -------------------------------------------------
@router.put("/fingerprints/templates", response_model=TemplateStored, tags=["edge"])
def upload_template(body: TemplateUpload, session: SessionDep, device: CurrentDevice, ctx: Ctx) -> TemplateStored:
    """Back up one enrolled finger of a member of the device's branch (upsert by slot)."""
    template = service.decode_template(body.template_b64)
    stored = service.store_template(session, device=device, cipher=cipher_for(ctx), member_id=body.member_id,
                                    slot=body.slot, template=template, finger=body.finger)
    audit.record(session, actor=f"device:{device.id}", action="fingerprint_backed_up", target=f"member:{body.member_id}",
                 branch_id=device.branch_id, detail={"slot": body.slot, "finger": body.finger})
    return stored


@router.delete("/fingerprints/templates/{slot}", status_code=204, tags=["edge"])
def delete_template(slot: int, session: SessionDep, device: CurrentDevice) -> Response:
    """The device cleared `slot` on its module; idempotent."""
    if service.delete_slot(session, device=device, slot=slot):
        audit.record(session, actor=f"device:{device.id}", action="fingerprint_slot_deleted", target=f"slot:{slot}",
                     branch_id=device.branch_id)
    return Response(status_code=204)


@router.get("/fingerprints/templates", response_model=BranchTemplates, tags=["edge"])
def download_templates(session: SessionDep, device: CurrentDevice, ctx: Ctx) -> BranchTemplates:
    """Every backed-up template of the device's branch (active members only), for a restore."""
    try:
        result = service.branch_templates(session, branch_id=device.branch_id, cipher=cipher_for(ctx))
    except TemplateKeyError as exc:
        raise KeyUnavailable(str(exc)) from None
    audit.record(session, actor=f"device:{device.id}", action="fingerprints_restored", target=f"branch:{device.branch_id}",
                 branch_id=device.branch_id, detail={"templates": len(result.templates)})
    return result


# ---- operators -------------------------------------------------------------------
@router.get("/branches/{branch_id}/fingerprints", response_model=list[EnrolledMember])
def list_enrolled(branch_id: int, session: SessionDep, op: CurrentOperator) -> list[EnrolledMember]:
    """Members of the branch with an enrolled finger, and which slots hold them (no template data)."""
    get_branch_visible(session, op, branch_id)
    return service.enrolled_members(session, branch_id=branch_id)


@router.delete("/members/{member_id}/fingerprints", response_model=EnrolmentDeleted)
async def delete_enrolment(member_id: int, op: CurrentOperator, ctx: Ctx) -> EnrolmentDeleted:
    """Forget a member's fingers; the branch's kiosks are told to sync and clear those slots."""
    op.require_write()

    def work() -> tuple[int, list[int]]:
        with ctx.session_factory() as session:
            member = members.get_member(session, member_id)
            get_visible(session, op, member.branch_id)
            slots = service.delete_member_enrolment(session, member=member)
            audit.record(session, actor=op.username, action="fingerprint_enrolment_deleted", target=f"member:{member_id}",
                         branch_id=member.branch_id, detail={"slots": slots})
            session.commit()
            return member.branch_id, slots

    branch_id, slots = await asyncio.to_thread(work)
    if ctx.edge is not None:
        await ctx.edge.command(branch_id, SYNC_COMMAND)
    return EnrolmentDeleted(member_id=member_id, slots=slots)
