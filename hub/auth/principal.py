"""Who is asking, and what part of the organisation tree they may see.

One identity for every route (REST, media, sockets): the role and the scope
travel with it, so the same checks and the same sweeping tests cover all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.errors import Forbidden

# Higher ranks may do everything lower ranks may; an operator manages only
# accounts of a lower rank than its own (a county admin: any rank).
# A branch secretary (支部书记) ranks with a viewer: a township operator
# creates and manages both, for the branches of its own township.
ROLE_RANK = {"viewer": 1, "branch_secretary": 1, "township_operator": 2, "county_admin": 3}
BRANCH_SECRETARY = "branch_secretary"


@dataclass(frozen=True)
class OperatorPrincipal:
    id: int
    username: str
    display_name: str
    role: str
    scope_id: int
    scope_path: str
    session_id: int | None = None
    session_expires_at: datetime | None = None
    must_change_password: bool = False

    def can_see(self, path: str) -> bool:
        return path.startswith(self.scope_path)

    @property
    def can_write(self) -> bool:
        return self.role in ("county_admin", "township_operator")

    @property
    def can_talk(self) -> bool:
        """Talkback into a hall is an operator's act, never a viewer's."""
        return self.can_write

    @property
    def is_branch_secretary(self) -> bool:
        """Scoped to exactly one branch (its `scope_id` is the branch)."""
        return self.role == BRANCH_SECRETARY

    @property
    def can_watch(self) -> bool:
        """The wall and live media are the county's and townships' control
        room, not a branch's: a secretary sees its records, not the halls."""
        return not self.is_branch_secretary

    @property
    def can_act_for_branch(self) -> bool:
        """The branch's own paperwork (plans, leave, rectification evidence,
        its inbox): operators anywhere in their area, a secretary in its branch."""
        return self.can_write or self.is_branch_secretary

    @property
    def is_admin(self) -> bool:
        return self.role == "county_admin"

    def can_manage_role(self, role: str) -> bool:
        """May this operator create or edit an account with `role`?"""
        if self.is_admin:
            return role in ROLE_RANK
        return self.can_write and ROLE_RANK.get(role, 99) < ROLE_RANK[self.role]

    def require_write(self) -> None:
        if not self.can_write:
            raise Forbidden("Your account can only view. Ask a county administrator for an operator role.",
                            code="operator_role_required")

    def require_branch_act(self) -> None:
        if not self.can_act_for_branch:
            raise Forbidden("Your account can only view. Ask a county administrator for an operator role.",
                            code="operator_role_required")

    def require_watch(self) -> None:
        if not self.can_watch:
            raise Forbidden("The wall and live video are for the county's and townships' operators; a branch "
                            "secretary works under 我的支部.", code="branch_secretary_no_wall")

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("Only a county administrator may do this.", code="county_admin_required")
