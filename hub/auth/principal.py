"""Who is asking, and what part of the organisation tree they may see."""

from __future__ import annotations

from dataclasses import dataclass

from hub.errors import Forbidden


@dataclass(frozen=True)
class OperatorPrincipal:
    id: int
    username: str
    display_name: str
    role: str
    scope_id: int
    scope_path: str

    def can_see(self, path: str) -> bool:
        return path.startswith(self.scope_path)

    @property
    def can_write(self) -> bool:
        return self.role in ("county_admin", "township_operator")

    @property
    def is_admin(self) -> bool:
        return self.role == "county_admin"

    def require_write(self) -> None:
        if not self.can_write:
            raise Forbidden("Your account can only view. Ask a county administrator for an operator role.")

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("Only a county administrator may do this.")
