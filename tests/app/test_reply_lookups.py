"""The batch's reads: what they return, and that they stay within the batch's clients on a large ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.models import ClassificationRecord, InboundMessage, Invoice
from bot.app import inbox_batch, reply_lookups
from bot.app.clock import FixedClock
from bot.app.inbox import InboxProcessor
from bot.app.keyed_select import KeyedSelect
from bot.app.reply_lookups import _OUTSTANDING_OF, ClientRow, ReplyLookups
from bot.app.settings import load_settings
from bot.app.wiring import make_renderer
from tests.fakes import ListMailbox

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


def test_outstanding_rows_hold_what_the_orm_reads(two_client_ledger: sessionmaker[Session]) -> None:
    """Read raw and converted on demand by the columns' own processors: the same values and types as the ORM's
    (amounts as two-decimal Decimals, due dates as dates), the numbers alone without converting."""
    settings = load_settings(ROOT / "config", env={})
    with two_client_ledger() as session:
        with session.begin():
            session.execute(text("UPDATE invoices SET amount_paid = 0.1 WHERE number = 'INV-2'"))
        lookups = ReplyLookups(session, settings)
        lookups.preload_invoices(["A1", "B2"])
        assert lookups.outstanding_numbers("A1") == ["INV-1", "INV-2"]
        for client in ("A1", "B2"):
            expected = [
                (i.number, i.amount, i.amount_paid, i.due_date)
                for i in session.scalars(select(Invoice).where(Invoice.client_id == client).order_by(Invoice.number))
            ]
            got = lookups.outstanding(client)
            assert got == expected
            assert [tuple(map(type, row)) for row in got] == [tuple(map(type, row)) for row in expected]
            assert [str(row[1]) for row in got] == [str(row[1]) for row in expected]  # 1200.00, 99.90
        assert lookups.outstanding("A1")[1][2] == Decimal("0.10") and str(lookups.outstanding("A1")[1][2]) == "0.10"


def _reply(i: int, sender: str, body: str) -> bytes:
    return (
        f"From: <{sender}>\r\nTo: collections@relance.test\r\nSubject: Paiement\r\n"
        f"Date: Tue, 03 Nov 2026 10:0{i}:00 +0100\r\nMessage-ID: <a{i}@test>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def test_a_batch_matches_replies_without_numbers_by_amount_or_only_invoice(
    two_client_ledger: sessionmaker[Session],
) -> None:
    settings = load_settings(ROOT / "config", env={})
    processor = InboxProcessor(
        two_client_ledger, settings, FixedClock(datetime(2026, 11, 3, 11, tzinfo=UTC)), make_renderer(settings)
    )
    messages = [
        _reply(1, "compta@alpha.test", "Bonjour,\r\n\r\nNous réglerons 300,00 EUR le 20/11/2026.\r\n"),
        _reply(2, "ap@beta.test", "Hello,\r\n\r\nWe will pay on 20 November 2026.\r\n"),
        _reply(3, "compta@alpha.test", "Bonjour,\r\n\r\nNous réglerons le 20/11/2026.\r\n"),
    ]
    processor.run_once(ListMailbox(messages))
    with two_client_ledger() as session:
        rows = session.execute(
            select(InboundMessage.message_id, ClassificationRecord.invoice_numbers, ClassificationRecord.match_reasons)
            .join(ClassificationRecord, ClassificationRecord.inbound_id == InboundMessage.id)
            .order_by(InboundMessage.uid)
        ).all()
    assert [(r[0], r[1]) for r in rows] == [("a1@test", ["INV-2"]), ("a2@test", ["INV-3"]), ("a3@test", [])]
    assert "INV-2: amount 300.00 equals its balance" in rows[0][2]
    assert "INV-3: the client's only open invoice" in rows[1][2]
