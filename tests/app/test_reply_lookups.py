"""The batch's reads: what they return, and that they stay within the batch's clients on a large ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session, sessionmaker

from bot.app.reply_lookups import _OUTSTANDING_OF, ClientRow, ReplyLookups
from bot.app.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def plan_of(session: Session, statement: Select[Any], **params: Any) -> str:
    """SQLite's query plan for ``statement`` with these parameters (written into the SQL)."""
    connection = session.connection()
    sql = statement.params(**params).compile(connection, compile_kwargs={"literal_binds": True})
    return " | ".join(str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))


def test_the_outstanding_invoices_of_a_batch_are_read_through_the_clients_index(
    two_client_ledger: sessionmaker[Session],
) -> None:
    with two_client_ledger() as session:
        # A batch's hundred senders' clients: with that many, SQLite preferred the state's index.
        plan = plan_of(session, _OUTSTANDING_OF, keys=["A1", "B2", *(f"X{i}" for i in range(98))])
    # Not through the state's index: that would read every outstanding invoice of the ledger for each batch.
    assert "ix_invoices_client" in plan
    assert "ix_invoices_state" not in plan


def test_a_batch_reads_its_clients_and_their_outstanding_invoices(
    two_client_ledger: sessionmaker[Session],
) -> None:
    settings = load_settings(ROOT / "config", env={})
    with two_client_ledger() as session:
        lookups = ReplyLookups(session, settings)
        lookups.preload_senders(["compta@alpha.test", "nobody@example.test"])
        assert lookups.preloaded_clients("COMPTA@alpha.test") == ["A1"]
        assert lookups.loaded_client("A1") == ClientRow("A1", "Atelier Alpha", "fr", "standard")
        assert lookups.loaded_client("B2") is None
        assert [row[0] for row in lookups.outstanding("A1")] == ["INV-1", "INV-2"]
