"""Fixtures shared by the app tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import open_database, session_factory
from bot.app.client_import import import_clients
from bot.app.invoice_import import import_invoices

#: The clock of the inbox scenarios: the day after INV-1..3 fell due.
LEDGER_NOW = datetime(2026, 11, 3, 11, 0, tzinfo=UTC)


@pytest.fixture
def two_client_ledger(tmp_path: Path) -> sessionmaker[Session]:
    """A1 (fr, compta@alpha.test) owes INV-1 and INV-2; B2 (en, ap@beta.test) owes INV-3; all due 2026-11-02."""
    factory = session_factory(open_database(f"sqlite:///{tmp_path / 'r.db'}"))
    (tmp_path / "c.csv").write_text(
        "client_id,name,email,language,profile\n"
        "A1,Atelier Alpha,compta@alpha.test,fr,standard\n"
        "B2,Beta Ltd,ap@beta.test,en,standard\n",
        encoding="utf-8",
    )
    (tmp_path / "i.csv").write_text(
        "invoice_number,client_id,issue_date,due_date,amount,currency,amount_paid\n"
        "INV-1,A1,2026-10-01,2026-11-02,1200.00,EUR,0\n"
        "INV-2,A1,2026-10-01,2026-11-02,300.00,EUR,0\n"
        "INV-3,B2,2026-10-05,2026-11-02,99.90,EUR,0\n",
        encoding="utf-8",
    )
    import_clients(factory, tmp_path / "c.csv", now=LEDGER_NOW, profiles={"standard"})
    import_invoices(factory, tmp_path / "i.csv", now=LEDGER_NOW)
    return factory
