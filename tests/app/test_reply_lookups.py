"""The batch's reads: what they return, and that they stay within the batch's clients on a large ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.app import inbox_batch, reply_lookups
from bot.app.keyed_select import KeyedSelect
from bot.app.reply_lookups import _OUTSTANDING_OF, ClientRow, ReplyLookups
from bot.app.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def plan_of(session: Session, statement: KeyedSelect[*tuple[Any, ...]], keys: list[Any], **params: Any) -> str:
    """SQLite's query plan for ``statement`` over ``keys`` (the parameters written into the SQL)."""
    connection = session.connection()
    form, values = statement.form("sqlite", keys, **params)
    sql = form.params(**values).compile(connection, compile_kwargs={"literal_binds": True})
    return " | ".join(str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))


def test_the_outstanding_invoices_of_a_batch_are_read_through_the_clients_index(
    two_client_ledger: sessionmaker[Session],
) -> None:
    with two_client_ledger() as session:
        # A batch's hundred senders' clients: with that many, SQLite preferred the state's index.
        plan = plan_of(session, _OUTSTANDING_OF, ["A1", "B2", *(f"X{i}" for i in range(98))])
    # Not through the state's index: that would read every outstanding invoice of the ledger for each batch.
    assert "ix_invoices_client" in plan
    assert "ix_invoices_state" not in plan


KEYED = {
    "contacts by email": (reply_lookups._CONTACTS_BY_EMAIL, "contacts", {}),
    "clients": (reply_lookups._CLIENTS, "clients", {}),
    "outstanding invoices": (reply_lookups._OUTSTANDING_OF, "invoices", {}),
    "invoice rows": (reply_lookups.INVOICE_ROWS, "invoices", {}),
    "pending promises": (reply_lookups._PENDING_PROMISES, "promises", {}),
    "acknowledgements": (reply_lookups._ACKS_SINCE, "outbox", {"since": datetime(2026, 11, 1, tzinfo=UTC)}),
    "normalised numbers": (reply_lookups._NUMBERED, "invoices", {}),
    "numbers of clients": (reply_lookups._NUMBERS_OF, "invoices", {}),
    "known Message-IDs": (inbox_batch._KNOWN_IDS, "inbound_messages", {}),
    "seen UIDs": (inbox_batch._SEEN, "inbound_messages", {"mailbox": "m:INBOX", "validity": 7}),
}


@pytest.mark.parametrize("name", list(KEYED))
def test_each_batch_read_looks_its_keys_up_in_an_index(two_client_ledger: sessionmaker[Session], name: str) -> None:
    """The keys go to SQLite as one JSON array (``keyed_select``): each is still looked up in an index, never
    by reading the whole table."""
    statement, table, params = KEYED[name]
    with two_client_ledger() as session:
        plan = plan_of(session, statement, [f"K{i}" for i in range(200)], **params)
    assert "LIST SUBQUERY" in plan and "VIRTUAL TABLE" in plan  # the keys, unfolded by json_each
    assert f"SEARCH {table} USING" in plan and f"SCAN {table}" not in plan, plan


@pytest.mark.parametrize("keys", [[], ["INV-1"], ["INV-3", "INV-1", "nope", "INV-1"], ["é\"'; --", "INV-2"]])
def test_the_json_form_finds_what_the_expanding_form_finds(
    two_client_ledger: sessionmaker[Session], keys: list[str]
) -> None:
    with two_client_ledger() as session:
        connection = session.connection()
        found = sorted(map(tuple, reply_lookups.INVOICE_ROWS.execute(connection, keys).all()))
        expanding = sorted(map(tuple, connection.execute(reply_lookups.INVOICE_ROWS.expanding, {"keys": keys})))
    assert found == expanding
    assert [row[0] for row in found] == sorted(set(keys) & {"INV-1", "INV-2", "INV-3"})


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
