"""The fleet view: which agent version and settings each hall's PC runs,
and which halls run an agent older than this hub expects."""

from __future__ import annotations

import re
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from hub.api.deps import Ctx, CurrentOperator, SessionDep
from hub.devices import service
from hub.devices.models import Device
from hub.organisations.models import OrgUnit

router = APIRouter(prefix="/api/v1", tags=["devices"])


def hub_release() -> str:
    try:
        return version("branchlive")
    except PackageNotFoundError:
        return "0.0.0+source"


def _key(v: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", v.split("+", 1)[0])[:3])


def is_older(agent: str | None, expected: str) -> bool:
    """An agent release below the hub's (major, minor, patch); unknown is not older."""
    return bool(agent) and _key(agent or "") < _key(expected)


class FleetDevice(BaseModel):
    device_id: int
    name: str
    branch_id: int
    branch_name: str
    agent_version: str | None
    settings_digest: str | None
    last_seen_at: datetime | None
    outdated: bool
    # The hall's last heartbeat (reader, camera, microphone, disk, backfill,
    # faults: devices/agent/app.py EdgeApp._health), kept by the wall per
    # branch; empty until the hall's PC has sent one since the hub started.
    online: bool = False
    health: dict[str, Any] = {}


class Fleet(BaseModel):
    expected_agent_version: str
    versions: dict[str, int]
    outdated: int
    devices: list[FleetDevice]


@router.get("/fleet", response_model=Fleet, summary="Agent versions and settings of the halls' PCs")
def fleet(session: SessionDep, op: CurrentOperator, ctx: Ctx) -> Fleet:
    expected = hub_release()
    rows = session.execute(
        select(Device, OrgUnit).join(OrgUnit, OrgUnit.id == Device.branch_id)
        .where(Device.revoked_at.is_(None), OrgUnit.path.startswith(op.scope_path))
        .order_by(OrgUnit.path, Device.id)
    ).all()
    devices = [FleetDevice(device_id=d.id, name=d.name, branch_id=b.id, branch_name=b.name,
                           agent_version=d.agent_version, settings_digest=d.settings_digest,
                           last_seen_at=service.last_seen(d.last_seen_at, ctx.edge.last_heard(d.id) if ctx.edge else None),
                           outdated=is_older(d.agent_version, expected),
                           **_live(ctx, b.id))
               for d, b in rows]
    versions: dict[str, int] = {}
    for d in devices:
        versions[d.agent_version or "unknown"] = versions.get(d.agent_version or "unknown", 0) + 1
    return Fleet(expected_agent_version=expected, versions=versions,
                 outdated=sum(d.outdated for d in devices), devices=devices)


def _live(ctx: Ctx, branch_id: int) -> dict[str, Any]:
    tile = ctx.wall.tiles.get(branch_id) if ctx.wall else None
    if tile is None:
        return {}
    return {"online": tile.device_online, "health": dict(tile.health)}
