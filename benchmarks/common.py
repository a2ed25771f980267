"""Shared pieces of the benchmark runner: timing statistics and fast synthetic ledgers (Core inserts)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from bot.adapters.db.engine import open_database
from bot.adapters.db.models import Client, Contact, ImportRun, Invoice
from bot.domain.matching import normalise_invoice_number

REPO = Path(__file__).resolve().parents[1]
PROFILES = {"standard", "key_account", "public_sector", "risky"}
# The same calendar as tests/app/test_dunning.py: due Monday 2 Nov 2026, reminder_1 due on Tuesday 3 Nov.
DUE = date(2026, 11, 2)
AS_OF_DAY = date(2026, 11, 3)
IMPORTED_AT = datetime(2026, 11, 1, 8, tzinfo=UTC)


def stats(samples: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def client_id(i: int) -> str:
    return f"C{i:06d}"


def invoice_number(i: int) -> str:
    return f"INV-{i:07d}"


def contact_email(i: int) -> str:
    return f"ap{i}@client{i}.test"


def clients_csv(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as f:
        f.write("client_id,name,email,language,profile\n")
        for i in range(n):
            f.write(f"{client_id(i)},Client {i},{contact_email(i)},{'fr' if i % 2 else 'en'},standard\n")
    return path


def invoices_csv(path: Path, n: int, clients: int) -> Path:
    with path.open("w", encoding="utf-8") as f:
        f.write("invoice_number,client_id,issue_date,due_date,amount,currency,amount_paid\n")
        for i in range(n):
            f.write(f"{invoice_number(i)},{client_id(i % clients)},2026-10-01,2026-11-02,{100 + i % 900}.50,EUR,0\n")
    return path


def invoice_rows(n: int, clients: int, *, varied: bool = True) -> Iterator[dict[str, Any]]:
    """Invoice rows; with ``varied=False`` exactly what ``import_invoices`` creates from ``invoices_csv``."""
    for i in range(n):
        number = invoice_number(i)
        yield {
            "number": number,
            "normalised_number": normalise_invoice_number(number),
            "client_id": client_id(i % clients),
            "issue_date": date(2026, 10, 1),
            "due_date": DUE - timedelta(days=(i % 3) * 20) if varied else DUE,
            "amount": Decimal(100 + i % 900) + Decimal("0.50"),
            "currency": "EUR",
            "amount_paid": Decimal(0),
            "state": "paid" if varied and i % 10 == 0 else "open",
            "cycle": 0,
            "created_at": IMPORTED_AT,
            "updated_at": IMPORTED_AT,
        }


def chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def build_ledger(url: str, *, clients: int, invoices: int, all_open: bool = False) -> Engine:
    """A migrated database holding ``clients`` clients (one contact each) and ``invoices`` invoices."""
    engine = open_database(url)
    with engine.begin() as conn:
        for batch in chunks(
            (
                {
                    "client_id": client_id(i),
                    "name": f"Client {i}",
                    "language": "fr" if i % 2 else "en",
                    "profile": "standard",
                    "created_at": IMPORTED_AT,
                    "updated_at": IMPORTED_AT,
                }
                for i in range(clients)
            ),
            10_000,
        ):
            conn.execute(insert(Client), batch)
        for batch in chunks(
            (
                {"client_id": client_id(i), "email": contact_email(i), "position": 0, "updated_at": IMPORTED_AT}
                for i in range(clients)
            ),
            10_000,
        ):
            conn.execute(insert(Contact), batch)
        for batch in chunks(invoice_rows(invoices, clients, varied=not all_open), 10_000):
            conn.execute(insert(Invoice), batch)
        # A fresh payments import, so the ledger is not stale and reminders are really due.
        conn.execute(
            insert(ImportRun),
            [
                {
                    "kind": "payments",
                    "source": "bench",
                    "sha256": "0" * 64,
                    "rows": 0,
                    "imported_at": IMPORTED_AT,
                }
            ],
        )
    return engine


def versions() -> dict[str, str]:
    import importlib.metadata as md
    import platform
    import sqlite3

    out = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version, "machine": platform.platform()}
    for dist in (
        "relance",
        "SQLAlchemy",
        "alembic",
        "aiosmtplib",
        "aiosmtpd",
        "IMAPClient",
        "mail-parser",
        "psycopg",
        "Jinja2",
    ):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "absent"
    return out
