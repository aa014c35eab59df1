"""Operators: creation, login (rate-limited, audited), sessions."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.audit import service as audit
from hub.auth.models import ROLES, Operator, OperatorSession
from hub.auth.principal import OperatorPrincipal
from hub.auth.ratelimit import LoginLimiter
from hub.auth.security import hash_password, hash_token, new_token, verify_password
from hub.db import utcnow
from hub.errors import Conflict, Invalid, NotFound, TooManyRequests, Unauthorized
from hub.organisations.models import OrgUnit


def create_operator(
    session: Session, *, username: str, password: str, role: str, scope_id: int, display_name: str = ""
) -> Operator:
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise Invalid("The password must have at least 8 characters.")
    if session.get(OrgUnit, scope_id) is None:
        raise NotFound(f"Organisation unit {scope_id} does not exist; pick the operator's area from the tree.")
    if session.scalar(select(Operator).where(Operator.username == username)):
        raise Conflict(f"The user name {username!r} is taken; choose another.")
    op = Operator(username=username, password_hash=hash_password(password), role=role, scope_id=scope_id, display_name=display_name or username)
    session.add(op)
    session.flush()
    return op


def principal_for(session: Session, op: Operator) -> OperatorPrincipal:
    scope = session.get(OrgUnit, op.scope_id)
    assert scope is not None
    return OperatorPrincipal(op.id, op.username, op.display_name, op.role, op.scope_id, scope.path)


def login(
    session: Session, *, username: str, password: str, address: str, limiter: LoginLimiter, hours: float
) -> tuple[str, OperatorPrincipal]:
    keys = (f"user:{username}", f"addr:{address}")
    wait = limiter.retry_after(*keys)
    if wait > 0:
        raise TooManyRequests(f"Too many failed sign-ins. Wait {int(wait) + 1} seconds and try again.", retry_after=int(wait) + 1)
    op = session.scalar(select(Operator).where(Operator.username == username))
    if not verify_password(op.password_hash if op else None, password) or op is None or not op.active:
        limiter.failed(*keys)
        audit.record(session, actor=username, action="login_failed", address=address)
        session.commit()
        raise Unauthorized("Wrong user name or password. Check both and try again.")
    limiter.succeeded(*keys)
    token = new_token()
    session.add(OperatorSession(token_hash=hash_token(token), operator_id=op.id, expires_at=utcnow() + timedelta(hours=hours)))
    audit.record(session, actor=op.username, action="login", address=address)
    return token, principal_for(session, op)


def resolve(session: Session, token: str) -> OperatorPrincipal | None:
    row = session.scalar(select(OperatorSession).where(OperatorSession.token_hash == hash_token(token)))
    if row is None or row.revoked or row.expires_at <= utcnow():
        return None
    op = session.get(Operator, row.operator_id)
    if op is None or not op.active:
        return None
    return principal_for(session, op)


def logout(session: Session, token: str) -> None:
    row = session.scalar(select(OperatorSession).where(OperatorSession.token_hash == hash_token(token)))
    if row is not None:
        row.revoked = True
