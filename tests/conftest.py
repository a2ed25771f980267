"""Fixtures shared by the whole suite. Real servers live in ``tests/servers``; register new ones here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hypothesis  # noqa: F401  (see below)
import pytest

# hypothesis is imported here, at start-up, on purpose: its pytest plugin imports it lazily at the very end of a
# run, and on CPython 3.11.7 that late import (through pytest's assertion rewriting, ast.parse) has crashed with
# "SystemError: AST constructor recursion depth mismatch" after tests that hit deep recursion (MIME nesting).
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
