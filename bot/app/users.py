"""Web users and API tokens: passwords hashed with argon2id, tokens hashed with SHA-256 at rest.

Passwords are low-entropy secrets chosen by people, so they get a slow, salted hash (argon2id). API tokens are
32 random bytes made here, so a fast hash is enough and lets a request find its token by an indexed lookup;
the clear token is shown once, at creation, and never stored.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db.models import ApiToken, User
from bot.domain.errors import RelanceError

log = logging.getLogger(__name__)

ROLES: tuple[str, ...] = ("admin", "collector", "template_author", "viewer")
MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "rl_"

_hasher = PasswordHasher()
# Verifying against a fixed hash when the user does not exist keeps the answer time the same either way,
# so response times do not reveal which usernames exist. Made on first use (hashing is deliberately slow).
_dummy_hash: str | None = None


def configure_hashing(*, time_cost: int, memory_cost: int, parallelism: int = 1) -> None:
    """Change argon2's cost (default: argon2-cffi's RFC 9106 low-memory profile).

    Tests and the demo lower it to stay fast on small machines; existing hashes keep verifying because each
    hash records its own parameters, and are upgraded at the next successful login.
    """
    global _hasher, _dummy_hash
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    _dummy_hash = None


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("relance-dummy-password")
    return _dummy_hash


class UserError(RelanceError):
    """A refused user operation (unknown role, short password, duplicate name...)."""

    code = "user_error"


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return role


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
    return password


def add_user(session: Session, username: str, role: str, password: str, *,
             now: datetime | None = None) -> User:
    """Create an active user; raises :class:`UserError` for a bad role, short password or taken name."""
    name = username.strip()
    if not name or len(name) > 120 or any(c.isspace() or not c.isprintable() for c in name):
        raise UserError("username must be 1-120 printable characters without spaces")
    _check_role(role)
    _check_password(password)
    if session.scalar(select(User).where(User.username == name)) is not None:
        raise UserError(f"user {name!r} already exists")
    user = User(username=name, password_hash=_hasher.hash(password), role=role, active=True,
                created_at=_now(now))
    session.add(user)
    session.flush()
    log.info("user %s created with role %s", name, role)
    return user


def verify_login(session: Session, username: str, password: str) -> User | None:
    """The active user whose password matches, else ``None`` (same work whether the user exists or not)."""
    user = session.scalar(select(User).where(User.username == username.strip()))
    stored = user.password_hash if user is not None else _dummy()
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def set_password(session: Session, user: User, password: str) -> None:
    user.password_hash = _hasher.hash(_check_password(password))


def set_role(session: Session, user: User, role: str) -> None:
    user.role = _check_role(role)


def set_active(session: Session, user: User, active: bool) -> None:
    user.active = active


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, user: User, name: str, expires_at: datetime | None,
                 *, now: datetime | None = None) -> str:
    """Create an API token for ``user``; returns the clear token, which is never stored or shown again."""
    label = name.strip()
    if not label or len(label) > 120:
        raise UserError("token name must be 1-120 characters")
    if expires_at is not None and expires_at.tzinfo is None:
        raise UserError("token expiry must be timezone-aware")
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=label, token_hash=_token_hash(clear), created_at=_now(now),
                         expires_at=expires_at))
    session.flush()
    log.info("API token %r created for user %s", label, user.username)
    return clear


def revoke_token(session: Session, token_id: int, *, now: datetime | None = None) -> bool:
    """Revoke a token by id; returns False when there is no such token or it was already revoked."""
    token = session.get(ApiToken, token_id)
    if token is None or token.revoked_at is not None:
        return False
    token.revoked_at = _now(now)
    return True


def check_token(session: Session, token: str, *, now: datetime | None = None) -> User | None:
    """The active user owning this clear token if it is known, not revoked and not expired."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= _now(now):
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return user
