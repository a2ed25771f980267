"""Invoices as an inbox batch reads and changes them: the stored values, and exactly the changes written back."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.models import Invoice
from bot.app.batch_rows import INVOICES_TABLE, InvoiceRow
from bot.app.reply_lookups import INVOICE_ROWS
from bot.app.reply_writes import BatchWrites

NOW = datetime(2026, 11, 4, 9, 30, tzinfo=UTC)  # not the ledger's import time


def rows(session: Session, *numbers: str) -> dict[str, InvoiceRow]:
    return {r.number: r for r in map(InvoiceRow, INVOICE_ROWS.execute(session.connection(), list(numbers)))}


def test_a_row_holds_what_the_entity_holds(two_client_ledger: sessionmaker[Session]) -> None:
    with two_client_ledger() as session:
        read = rows(session, "INV-1", "INV-3", "NOPE")
        assert sorted(read) == ["INV-1", "INV-3"]
        for number, row in read.items():
            entity = session.get(Invoice, number)
            assert entity is not None
            for column in INVOICES_TABLE.columns:
                assert getattr(row, column.name) == getattr(entity, column.name), column.name
            assert row.balance == entity.balance


def test_changes_are_written_back_and_only_the_changed_columns(two_client_ledger: sessionmaker[Session]) -> None:
    with two_client_ledger() as session:
        before = {n: dict(r._mapping) for n, r in ((r.number, r) for r in session.execute(select(Invoice.__table__)))}
    with two_client_ledger.begin() as session:
        read = rows(session, "INV-1", "INV-2")
        writes = BatchWrites()
        writes.change(read["INV-1"], state="promised", promise_date=date(2026, 11, 20), updated_at=NOW)
        writes.change(read["INV-1"], paused_until=date(2026, 11, 23))
        # Set and set back within the batch: nothing to write.
        writes.change(read["INV-2"], state="disputed")
        writes.change(read["INV-2"], state="open")
        assert read["INV-1"].state == "promised"  # later replies of the batch read the new value
        writes.flush(session)
    with two_client_ledger() as session:
        after = {n: dict(r._mapping) for n, r in ((r.number, r) for r in session.execute(select(Invoice.__table__)))}
    assert after["INV-2"] == before["INV-2"] and after["INV-3"] == before["INV-3"]
    changed = {k: v for k, v in after["INV-1"].items() if before["INV-1"][k] != v}
    assert changed == {
        "state": "promised",
        "promise_date": date(2026, 11, 20),
        "paused_until": date(2026, 11, 23),
        "updated_at": NOW,
    }
