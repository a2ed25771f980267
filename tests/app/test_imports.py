"""CSV imports: all-or-nothing, every error named by line and field, idempotent re-imports."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import open_database, session_factory
from bot.adapters.db.models import AuditEntry, Client, Contact, Invoice, Payment
from bot.app.client_import import import_clients
from bot.app.invoice_import import import_invoices
from bot.app.payment_import import import_payments
from bot.domain.errors import InputError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "ledger"
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PROFILES = {"standard", "key_account", "public_sector", "risky"}


@pytest.fixture
def db(db_url: str) -> sessionmaker[Session]:
    return session_factory(open_database(db_url))


def snapshot(db: sessionmaker[Session]) -> list[tuple[object, ...]]:
    with db() as s:
        rows: list[tuple[object, ...]] = []
        for model in (Client, Contact, Invoice, Payment, AuditEntry):
            rows.append((model.__name__, s.scalar(select(func.count()).select_from(model))))
        rows.extend(tuple(r) for r in s.execute(select(Invoice.number, Invoice.amount_paid, Invoice.state)))
        return rows


def load(db: sessionmaker[Session]) -> None:
    import_clients(db, FIX / "clients.csv", now=NOW, profiles=PROFILES)
    import_invoices(db, FIX / "invoices_fr_export.csv", now=NOW)


def test_french_export_with_bom_semicolons_and_decimal_commas(db: sessionmaker[Session]) -> None:
    load(db)
    with db() as s:
        inv = s.get(Invoice, "F2026-0001")
        assert (
            inv is not None and inv.amount == Decimal("1234.56") and inv.due_date.isoformat() == "2026-10-31"
        )
        assert s.get(Invoice, "F2026-0002").amount_paid == Decimal("100.00")  # type: ignore[union-attr]
        emails = s.scalars(
            select(Contact.email).where(Contact.client_id == "C001").order_by(Contact.position)
        )
        assert list(emails) == ["compta@durand.test", "jean.durand@durand.test"]


def test_reimport_changes_nothing_and_an_updated_row_updates(
    db: sessionmaker[Session], tmp_path: Path
) -> None:
    load(db)
    before = snapshot(db)
    again = import_invoices(db, FIX / "invoices_fr_export.csv", now=NOW)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 5)
    assert import_clients(db, FIX / "clients.csv", now=NOW, profiles=PROFILES).unchanged == 4
    assert snapshot(db) == before
    changed = tmp_path / "inv.csv"
    changed.write_text(
        (FIX / "invoices_fr_export.csv").read_text(encoding="utf-8-sig").replace("75,90", "80,00"),
        encoding="utf-8",
    )
    result = import_invoices(db, changed, now=NOW)
    assert (result.created, result.updated) == (0, 1)
    with db() as s:
        assert s.get(Invoice, "F2026-0005").amount == Decimal("80.00")  # type: ignore[union-attr]
        reasons = s.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == "F2026-0005"))
        assert list(reasons) == ["created", "updated"]


def test_a_broken_file_reports_every_error_and_changes_nothing(db: sessionmaker[Session]) -> None:
    load(db)
    before = snapshot(db)
    with pytest.raises(InputError) as info:
        import_invoices(db, FIX / "invoices_bad.csv", now=NOW)
    text = str(info.value)
    assert "invoices_bad.csv" in text and "nothing was changed" in text
    found = {(p.line, p.field) for p in info.value.problems}
    assert {
        (3, "client_id"),
        (4, "due_date"),
        (5, "amount"),
        (6, "invoice_number"),
        (7, "issue_date"),
        (7, "currency"),
    } <= found
    assert snapshot(db) == before


def test_missing_column_and_bad_encoding(db: sessionmaker[Session], tmp_path: Path) -> None:
    f = tmp_path / "c.csv"
    f.write_text("client_id,name,language,profile\nC1,X,fr,standard\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 1, field 'email': missing column"):
        import_clients(db, f, now=NOW, profiles=PROFILES)
    f.write_bytes(
        "client_id,name,email,language,profile\nC1,Caf\xe9,a@b.test,fr,standard\n".encode("latin-1")
    )
    with pytest.raises(InputError, match="line 2, field 'encoding'"):
        import_clients(db, f, now=NOW, profiles=PROFILES)


def test_client_errors_name_the_field(db: sessionmaker[Session], tmp_path: Path) -> None:
    f = tmp_path / "c.csv"
    f.write_text(
        'client_id,name,email,language,profile\nC1,X,nope,de,gold\nC2,"A\nB",a@b.test,fr,standard\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        import_clients(db, f, now=NOW, profiles=PROFILES)
    assert {(p.line, p.field) for p in info.value.problems} == {
        (2, "email"),
        (2, "language"),
        (2, "profile"),
        (4, "name"),
    }


def test_payments_update_balances_and_states(db: sessionmaker[Session], tmp_path: Path) -> None:
    load(db)
    result = import_payments(db, FIX / "payments.csv", now=NOW)
    assert result.created == 2
    with db() as s:
        full = s.get(Invoice, "F2026-0002")
        partial = s.get(Invoice, "F2026-0001")
        assert full is not None and full.state == "paid" and full.amount_paid == Decimal("480.00")
        assert partial is not None and partial.state == "open" and partial.balance == Decimal("1034.56")
    assert import_payments(db, FIX / "payments.csv", now=NOW).created == 0  # idempotent
    over = tmp_path / "p.csv"
    over.write_text(
        "invoice_number,amount,paid_on,reference\nF2026-0001,5000,2026-11-22,X\nF2026-9999,1,2026-11-22,Y\n",
        encoding="utf-8",
    )
    before = snapshot(db)
    with pytest.raises(InputError) as info:
        import_payments(db, over, now=NOW)
    assert {(p.line, p.field) for p in info.value.problems} == {(2, "amount"), (3, "invoice_number")}
    assert snapshot(db) == before


def test_shared_corpus_ledger_imports(db: sessionmaker[Session], tmp_path: Path) -> None:
    ledger = SHARED / "corpus" / "replies"
    if not (ledger / "clients.csv").exists():
        pytest.skip(f"shared corpus not present at {ledger}")
    shutil.copy(ledger / "clients.csv", tmp_path / "clients.csv")
    assert import_clients(db, tmp_path / "clients.csv", now=NOW, profiles=PROFILES).created == 47
    assert import_invoices(db, ledger / "invoices.csv", now=NOW).created == 110
