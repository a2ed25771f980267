"""Fixtures shared by the whole suite. Real servers live in ``tests/servers``; register new ones here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.servers.dovecot",
    "tests.servers.postgres",
    "tests.servers.browser",
    "tests.servers.smtp_server",
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLAlchemy URL to an empty database: a SQLite file, then a fresh database on the test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'relance.db'}"
    else:
        yield request.getfixturevalue("postgres_url")
