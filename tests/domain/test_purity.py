"""bot/domain must stay pure: no I/O library may be imported there (STYLE.md, dependencies point inward)."""

from __future__ import annotations

import ast
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "bot" / "domain"
FORBIDDEN = {
    "sqlalchemy",
    "alembic",
    "imapclient",
    "aiosmtplib",
    "aiosmtpd",
    "smtplib",
    "imaplib",
    "jinja2",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "requests",
    "socket",
    "ssl",
    "mailparser",
    "mailbox",
    "subprocess",
    "asyncio",
    "apscheduler",
    "psycopg",
    "sqlite3",
    "bot.adapters",
    "bot.app",
    "urllib.request",
    "shutil",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_domain_imports_no_io_library() -> None:
    files = sorted(DOMAIN.rglob("*.py"))
    assert files, "domain package not found"
    offenders = {str(p.relative_to(DOMAIN)): sorted(n for n in _imports(p) if _forbidden(n)) for p in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_checker_itself_catches_an_offender(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import sqlalchemy\nfrom bot.adapters.db import models\n", encoding="utf-8")
    assert sorted(n for n in _imports(bad) if _forbidden(n)) == ["bot.adapters.db", "sqlalchemy"]
