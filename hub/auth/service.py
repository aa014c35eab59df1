"""Operators: creation and lifecycle, login (rate-limited, audited), sessions.

Plain keyword-only functions taking a session; views commit, then close the
live connections of sessions that ended (hub/auth/live.py)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.audit import service as audit
from hub.audit.models import AuditEntry
from hub.auth.models import ROLES, Operator, OperatorSession
from hub.auth.principal import BRANCH_SECRETARY, OperatorPrincipal
from hub.auth.ratelimit import LoginLimiter
from hub.auth.security import hash_password, hash_token, new_token, verify_password
from hub.db import utcnow
from hub.errors import Conflict, Forbidden, Invalid, NotFound, TooManyRequests, Unauthorized
from hub.organisations.models import OrgUnit

MIN_PASSWORD = 8
# zxcvbn's score: 0-1 fall to an online guesser (12345678, password1, the
# user name with a digit); 2 and up resist throttled guessing at the sign-in.
MIN_PASSWORD_SCORE = 2


def _check_password(password: str, *, user_inputs: list[str] | None = None) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"The password must have at least {MIN_PASSWORD} characters.", code="password_too_short")
    # imported here, not at start-up: its word lists cost every hub process 15 MB, and only
    # setting a password needs them. It is slow on long inputs (it scans every substring);
    # its own docs cut at 100.
    from zxcvbn import zxcvbn

    if zxcvbn(password[:100], user_inputs=[u for u in user_inputs or [] if u])["score"] < MIN_PASSWORD_SCORE:
        raise Invalid("The password is too easy to guess (a common password, a run of digits or keys, or the "
                      "user name): use three or more words, or mix letters, digits and signs.",
                      code="password_too_weak")


def create_operator(
    session: Session, *, username: str, password: str, role: str, scope_id: int, display_name: str = "",
    must_change_password: bool = False,
) -> Operator:
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    _check_password(password, user_inputs=[username, display_name])
    unit = session.get(OrgUnit, scope_id)
    if unit is None:
        raise NotFound(f"Organisation unit {scope_id} does not exist; pick the operator's area from the tree.")
    _check_secretary_scope(role, unit)
    if session.scalar(select(Operator).where(Operator.username == username)):
        raise Conflict(f"The user name {username!r} is taken; choose another.")
    op = Operator(username=username, password_hash=hash_password(password), role=role, scope_id=scope_id,
                  display_name=display_name or username, must_change_password=must_change_password)
    session.add(op)
    session.flush()
    return op


def _check_secretary_scope(role: str, unit: OrgUnit) -> None:
    if role == BRANCH_SECRETARY and unit.kind != "branch":
        raise Invalid(f"A branch secretary belongs to exactly one branch; {unit.name} is not a branch. Pick the "
                      "secretary's branch.", code="secretary_scope_not_branch")


def principal_for(session: Session, op: Operator, row: OperatorSession | None = None) -> OperatorPrincipal:
    scope = session.get(OrgUnit, op.scope_id)
    assert scope is not None
    return OperatorPrincipal(op.id, op.username, op.display_name, op.role, op.scope_id, scope.path,
                             session_id=row.id if row is not None else None,
                             session_expires_at=row.expires_at if row is not None else None,
                             must_change_password=bool(op.must_change_password))


def known_address(session: Session, username: str, address: str) -> bool:
    """Has this account signed in from this address before? (The audit
    trail remembers; it survives restarts.)"""
    return session.scalar(select(AuditEntry.id).where(
        AuditEntry.action == "login", AuditEntry.actor == username, AuditEntry.address == address).limit(1)) is not None


def login(
    session: Session, *, username: str, password: str, address: str, limiter: LoginLimiter, hours: float
) -> tuple[str, OperatorPrincipal]:
    keys = [f"addr:{address}"]
    if not known_address(session, username, address):
        keys.append(f"user:{username}")
    wait = limiter.retry_after(*keys)
    if wait > 0:
        raise TooManyRequests(f"Too many failed sign-ins. Wait {int(wait) + 1} seconds and try again.",
                              retry_after=int(wait) + 1)
    op = session.scalar(select(Operator).where(Operator.username == username))
    if not verify_password(op.password_hash if op else None, password) or op is None or not op.active:
        limiter.failed(f"addr:{address}", f"user:{username}")
        audit.record(session, actor=username[:100], action="login_failed", address=address)
        session.commit()
        raise Unauthorized("Wrong user name or password. Check both and try again.")
    limiter.succeeded(f"addr:{address}")
    token = new_token()
    row = OperatorSession(token_hash=hash_token(token), operator_id=op.id,
                          expires_at=utcnow() + timedelta(hours=hours))
    session.add(row)
    session.flush()
    audit.record(session, actor=op.username, action="login", address=address)
    return token, principal_for(session, op, row)


def _principal_of_session(session: Session, row: OperatorSession | None) -> OperatorPrincipal | None:
    if row is None or row.revoked or row.expires_at <= utcnow():
        return None
    op = session.get(Operator, row.operator_id)
    if op is None or not op.active:
        return None
    return principal_for(session, op, row)


def resolve(session: Session, token: str) -> OperatorPrincipal | None:
    row = session.scalar(select(OperatorSession).where(OperatorSession.token_hash == hash_token(token)))
    return _principal_of_session(session, row)


def resolve_session(session: Session, session_id: int) -> OperatorPrincipal | None:
    return _principal_of_session(session, session.get(OperatorSession, session_id))


def revoke_session_id(session: Session, session_id: int) -> None:
    row = session.get(OperatorSession, session_id)
    if row is not None:
        row.revoked = True


def revoke_sessions(session: Session, operator_id: int, *, keep: int | None = None) -> None:
    stmt = update(OperatorSession).where(OperatorSession.operator_id == operator_id, OperatorSession.revoked.is_(False))
    if keep is not None:
        stmt = stmt.where(OperatorSession.id != keep)
    session.execute(stmt.values(revoked=True))


# -- lifecycle -------------------------------------------------------------------

def visible_operators(session: Session, actor: OperatorPrincipal) -> list[tuple[Operator, OrgUnit]]:
    rows = session.execute(select(Operator, OrgUnit).join(OrgUnit, OrgUnit.id == Operator.scope_id)
                           .where(OrgUnit.path.startswith(actor.scope_path)).order_by(Operator.username))
    return [(o, u) for o, u in rows]


def managed_operator(session: Session, actor: OperatorPrincipal, operator_id: int) -> Operator:
    """The operator `actor` may manage: inside its area and of a lower rank
    (a county admin: any rank). Others answer like missing ones."""
    actor.require_write()
    op = session.get(Operator, operator_id)
    scope = session.get(OrgUnit, op.scope_id) if op is not None else None
    if op is None or scope is None or not actor.can_see(scope.path):
        raise NotFound(f"Operator {operator_id} does not exist or is outside your area.")
    if not actor.can_manage_role(op.role):
        raise Forbidden("You may manage only accounts of a lower role than yours; ask a county administrator.",
                        code="role_not_manageable")
    return op


def check_grant(session: Session, actor: OperatorPrincipal, *, role: str, scope_id: int) -> None:
    actor.require_write()
    if not actor.can_manage_role(role):
        raise Forbidden(f"You may not give the role {role!r}; a township operator creates viewers and branch "
                        "secretaries only.",
                        code="role_not_manageable")
    unit = session.get(OrgUnit, scope_id)
    if unit is None or not actor.can_see(unit.path):
        raise NotFound(f"Unit {scope_id} does not exist or is outside your area.")
    _check_secretary_scope(role, unit)


def update_operator(session: Session, actor: OperatorPrincipal, operator_id: int, changes: dict[str, Any]) -> Operator:
    op = managed_operator(session, actor, operator_id)
    if op.id == actor.id and ({"role", "scope_id"} & changes.keys() or changes.get("active") is False):
        raise Forbidden("You cannot change your own role or area, or deactivate yourself; ask another county "
                        "administrator.", code="self_change_refused")
    role = changes.get("role", op.role)
    scope_id = changes.get("scope_id", op.scope_id)
    if "role" in changes or "scope_id" in changes:
        check_grant(session, actor, role=role, scope_id=scope_id)
    for key, value in changes.items():
        setattr(op, key, value)
    if {"role", "scope_id"} & changes.keys() or changes.get("active") is False:
        # The old sessions carry the old rights: end them.
        revoke_sessions(session, op.id)
    return op


def reset_password(session: Session, actor: OperatorPrincipal, operator_id: int) -> tuple[Operator, str]:
    op = managed_operator(session, actor, operator_id)
    if op.id == actor.id:
        raise Forbidden("Change your own password with POST /api/v1/auth/password.", code="self_change_refused")
    password = secrets.token_urlsafe(9)
    op.password_hash = hash_password(password)
    op.must_change_password = True
    revoke_sessions(session, op.id)
    return op, password


def change_password(session: Session, actor: OperatorPrincipal, *, current: str, new: str) -> None:
    op = session.get(Operator, actor.id)
    assert op is not None
    if not verify_password(op.password_hash, current):
        raise Forbidden("The current password is wrong; type it again.", code="wrong_password")
    _check_password(new, user_inputs=[op.username, op.display_name or ""])
    if new == current:
        raise Invalid("Choose a new password different from the current one.", code="password_unchanged")
    op.password_hash = hash_password(new)
    op.must_change_password = False
    revoke_sessions(session, op.id, keep=actor.session_id)
