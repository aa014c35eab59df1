from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth.security import hash_token, new_enrolment_code, new_token, normalise_code
from hub.db import utcnow
from hub.devices.models import Device
from hub.errors import Invalid, Unauthorized
from hub.organisations.models import OrgUnit

ENROL_VALID = timedelta(days=7)


def register(session: Session, *, branch: OrgUnit, name: str) -> tuple[Device, str]:
    if branch.kind != "branch":
        raise Invalid("Devices belong to a branch; pick the branch whose hall it is in.", code="not_a_branch")
    code = new_enrolment_code()
    device = Device(branch_id=branch.id, name=name, enrol_code_hash=hash_token(code), enrol_expires_at=utcnow() + ENROL_VALID)
    session.add(device)
    session.flush()
    return device, code


def new_enrolment_code_for(session: Session, device: Device) -> str:
    """Re-enrol a device (replacement mini PC): old token stops working."""
    code = new_enrolment_code()
    device.enrol_code_hash = hash_token(code)
    device.enrol_expires_at = utcnow() + ENROL_VALID
    device.token_hash = None
    device.revoked_at = None
    return code


def enrol(session: Session, code: str) -> tuple[Device, str]:
    device = session.scalar(select(Device).where(Device.enrol_code_hash == hash_token(normalise_code(code))))
    if device is None or device.revoked_at is not None:
        raise Unauthorized("This enrolment code is not valid. Ask the county for a new code.")
    if device.enrol_expires_at is None or device.enrol_expires_at <= utcnow():
        raise Unauthorized("This enrolment code has expired. Ask the county for a new code.")
    token = new_token()
    device.token_hash = hash_token(token)
    device.enrol_code_hash = None  # one-time
    device.enrol_expires_at = None
    device.enrolled_at = utcnow()
    return device, token


def authenticate(session: Session, token: str) -> Device | None:
    if not token:
        return None
    device = session.scalar(select(Device).where(Device.token_hash == hash_token(token)))
    if device is None or device.revoked_at is not None:
        return None
    return device


def revoke(session: Session, device: Device) -> None:
    device.revoked_at = utcnow()
    device.token_hash = None
    device.enrol_code_hash = None


def last_seen(stored: datetime | None, live: datetime | None) -> datetime | None:
    """最后在线: the later of the stored time (written on connecting and then
    about once a minute, hub/edge/gateway.py) and a connected hall's last frame."""
    known = [t for t in (stored, live) if t is not None]
    return max(known) if known else None
