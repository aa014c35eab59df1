"""Fingerprint enrolments: plain functions taking a session.

Ownership rule: a device may only back up, read or delete templates of its
own branch, and only of members who belong to that branch and are active.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.db import utcnow
from hub.devices.models import Device
from hub.errors import Conflict, Invalid, NotFound
from hub.fingerprints.crypto import TemplateCipher
from hub.fingerprints.models import FingerprintEnrolment
from hub.fingerprints.schemas import (
    MAX_TEMPLATE_BYTES,
    BranchTemplates,
    EnrolledFinger,
    EnrolledMember,
    TemplateBackup,
    TemplateStored,
)
from hub.members.models import Member


def decode_template(template_b64: str) -> bytes:
    try:
        data = base64.b64decode(template_b64, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("template_b64 is not valid base64; send the template bytes exactly as UpChar gave them.") from None
    if not data or len(data) > MAX_TEMPLATE_BYTES:
        raise Invalid(f"a template is 1 to {MAX_TEMPLATE_BYTES} bytes, got {len(data)}; read it from the module again.")
    return data


def _member_of_branch(session: Session, member_id: int, branch_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None or member.branch_id != branch_id:
        raise NotFound(
            f"Member {member_id} is not on the roster of this device's branch; refresh the kiosk's roster "
            "and enrol only members of this branch.",
            code="not_in_branch",
        )
    if not member.active:
        raise Conflict(
            f"Member {member_id} ({member.name}) has been removed from the roster; their finger is not kept.",
            code="member_inactive",
        )
    return member


def store_template(
    session: Session, *, device: Device, cipher: TemplateCipher, member_id: int, slot: int,
    template: bytes, finger: str | None,
) -> TemplateStored:
    """Upsert the backup of `slot` in the device's branch (a re-enrolled slot replaces the old finger)."""
    branch_id = device.branch_id
    _member_of_branch(session, member_id, branch_id)
    sealed = cipher.seal(template, branch_id=branch_id, member_id=member_id, slot=slot)
    row = session.scalar(
        select(FingerprintEnrolment).where(FingerprintEnrolment.branch_id == branch_id, FingerprintEnrolment.slot == slot)
    )
    if row is None:
        row = FingerprintEnrolment(branch_id=branch_id, slot=slot, member_id=member_id, ciphertext=sealed,
                                   key_id=cipher.key_id, template_size=len(template), finger=finger,
                                   device_id=device.id)
        session.add(row)
    else:
        row.member_id, row.ciphertext, row.key_id = member_id, sealed, cipher.key_id
        row.template_size, row.finger, row.device_id = len(template), finger, device.id
        row.updated_at = utcnow()
    session.flush()
    return TemplateStored(member_id=member_id, slot=slot, finger=finger, template_size=len(template),
                          updated_at=row.updated_at)


def delete_slot(session: Session, *, device: Device, slot: int) -> bool:
    """The device cleared `slot` on its module; forget the backup. True if there was one."""
    result = session.execute(
        delete(FingerprintEnrolment).where(FingerprintEnrolment.branch_id == device.branch_id,
                                           FingerprintEnrolment.slot == slot)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def branch_templates(session: Session, *, branch_id: int, cipher: TemplateCipher) -> BranchTemplates:
    """Decrypted templates of the branch's active members, by slot: what a restore writes."""
    rows = session.execute(
        select(FingerprintEnrolment, Member.active)
        .join(Member, Member.id == FingerprintEnrolment.member_id)
        .where(FingerprintEnrolment.branch_id == branch_id, Member.branch_id == branch_id)
        .order_by(FingerprintEnrolment.slot)
    ).all()
    templates = []
    for row, active in rows:
        if not active:
            continue
        plain = cipher.open(row.ciphertext, key_id=row.key_id, branch_id=row.branch_id,
                            member_id=row.member_id, slot=row.slot)
        templates.append(TemplateBackup(member_id=row.member_id, slot=row.slot, finger=row.finger,
                                        template_b64=base64.b64encode(plain).decode(), updated_at=row.updated_at))
    return BranchTemplates(branch_id=branch_id, templates=templates)


def enrolled_members(session: Session, *, branch_id: int) -> list[EnrolledMember]:
    rows = session.execute(
        select(FingerprintEnrolment, Member)
        .join(Member, Member.id == FingerprintEnrolment.member_id)
        .where(FingerprintEnrolment.branch_id == branch_id)
        .order_by(Member.member_no, FingerprintEnrolment.slot)
    ).all()
    fingers: dict[int, list[EnrolledFinger]] = defaultdict(list)
    members: dict[int, Member] = {}
    for row, member in rows:
        members[member.id] = member
        fingers[member.id].append(EnrolledFinger(slot=row.slot, finger=row.finger, enrolled_at=row.updated_at,
                                                 device_id=row.device_id))
    return [EnrolledMember(member_id=m.id, member_no=m.member_no, name=m.name, active=m.active, fingers=fingers[m.id])
            for m in members.values()]


def delete_member_enrolment(session: Session, *, member: Member) -> list[int]:
    """Forget every finger of `member` (the kiosks drop them at their next fingerprint sync)."""
    slots = list(session.scalars(
        select(FingerprintEnrolment.slot).where(FingerprintEnrolment.member_id == member.id).order_by(FingerprintEnrolment.slot)
    ))
    session.execute(delete(FingerprintEnrolment).where(FingerprintEnrolment.member_id == member.id))
    return slots
