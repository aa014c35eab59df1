"""Imports every domain's tables so Alembic and create_all see one metadata."""

import hub.fingerprints.models  # noqa: F401
import hub.recordings.models  # noqa: F401  (recording index)
import hub.supervision.models  # noqa: F401  (supervision tables)
from hub.attendance.models import CheckIn, LeaveRequest
from hub.audit.models import AuditEntry
from hub.auth.models import Operator, OperatorSession
from hub.db import Base
from hub.devices.models import Device
from hub.edge.models import EdgeMessage
from hub.meetings.models import Meeting
from hub.members.models import Member
from hub.organisations.models import OrgUnit

__all__ = [
    "AuditEntry", "Base", "CheckIn", "Device", "EdgeMessage", "LeaveRequest",
    "Meeting", "Member", "Operator", "OperatorSession", "OrgUnit",
]
