"""Users and API tokens: argon2 hashes, validation, token lifecycle."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from bot.adapters.db.engine import open_database, session_factory
from bot.adapters.db.models import ApiToken
from bot.app.users import (
    UserError,
    add_user,
    check_token,
    configure_hashing,
    create_token,
    revoke_token,
    set_active,
    verify_login,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
configure_hashing(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = open_database(f"sqlite:///{tmp_path}/u.db")
    with session_factory(engine)() as s:
        yield s
    engine.dispose()


def test_password_is_hashed_with_argon2_and_verifies(session: Session) -> None:
    user = add_user(session, "claire", "collector", "a long passphrase", now=NOW)
    assert user.password_hash.startswith("$argon2id$")
    assert "a long passphrase" not in user.password_hash
    assert verify_login(session, "claire", "a long passphrase") is user
    assert verify_login(session, "claire", "a long passphrasE") is None
    assert verify_login(session, "nobody", "a long passphrase") is None


@pytest.mark.parametrize(
    ("name", "role", "password"),
    [
        ("bob", "superuser", "long enough pw"),
        ("bob", "viewer", "short"),
        ("bo b", "viewer", "long enough pw"),
        ("", "viewer", "long enough pw"),
    ],
)
def test_invalid_users_refused(session: Session, name: str, role: str, password: str) -> None:
    with pytest.raises(UserError):
        add_user(session, name, role, password, now=NOW)


def test_duplicate_username_refused(session: Session) -> None:
    add_user(session, "dup", "viewer", "long enough pw", now=NOW)
    with pytest.raises(UserError, match="already exists"):
        add_user(session, "dup", "admin", "long enough pw", now=NOW)


def test_inactive_user_cannot_log_in(session: Session) -> None:
    user = add_user(session, "gone", "viewer", "long enough pw", now=NOW)
    set_active(session, user, False)
    assert verify_login(session, "gone", "long enough pw") is None


def test_token_lifecycle(session: Session) -> None:
    user = add_user(session, "erp", "admin", "long enough pw", now=NOW)
    clear = create_token(session, user, "erp sync", NOW + timedelta(days=30), now=NOW)
    stored = session.query(ApiToken).one()
    assert clear not in stored.token_hash and len(stored.token_hash) == 64
    assert check_token(session, clear, now=NOW) is user
    assert check_token(session, clear + "x", now=NOW) is None
    assert check_token(session, clear, now=NOW + timedelta(days=31)) is None  # expired
    assert revoke_token(session, stored.id, now=NOW)
    assert not revoke_token(session, stored.id, now=NOW)
    assert check_token(session, clear, now=NOW) is None


def test_token_of_deactivated_user_stops_working(session: Session) -> None:
    user = add_user(session, "erp2", "admin", "long enough pw", now=NOW)
    clear = create_token(session, user, "sync", None, now=NOW)
    set_active(session, user, False)
    assert check_token(session, clear, now=NOW) is None
