"""The inbox's batched transactions give the same outcome as one transaction per message.

Ledger: client A1 (contact compta@alpha.test) owes INV-1 and INV-2; client B2 (ap@beta.test) owes INV-3.
Replies are generated here; several come from the same address in one batch, which is what the batch's
held-back flushes must get right (acknowledgement cap, superseded promises, checkpoint).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import open_database, session_factory
from bot.adapters.db.models import (
    AuditEntry,
    InboundMessage,
    MailboxCheckpoint,
    OutboxMessage,
    Promise,
    ReviewItem,
)
from bot.app.clock import FixedClock
from bot.app.inbox import InboxProcessor, InboxReport
from bot.app.settings import load_settings
from bot.app.wiring import make_renderer
from bot.ports import RenderedMail, Renderer
from tests.fakes import ListMailbox

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 3, 11, 0, tzinfo=UTC)


@pytest.fixture
def db(two_client_ledger: sessionmaker[Session]) -> sessionmaker[Session]:
    return two_client_ledger


def promise(i: int, sender: str, invoice: str, day: int) -> bytes:
    return (
        f"From: Compta <{sender}>\r\nTo: collections@relance.test\r\nSubject: Re: Relance facture {invoice}\r\n"
        f"Date: Tue, 03 Nov 2026 10:{i:02d}:00 +0100\r\nMessage-ID: <p{i}@test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Bonjour,\r\n\r\nNous réglerons la facture {invoice} le {day}/11/2026.\r\n\r\nCordialement\r\n"
    ).encode()


MESSAGES = [
    promise(1, "compta@alpha.test", "INV-1", 20),
    promise(2, "compta@alpha.test", "INV-1", 21),
    promise(3, "ap@beta.test", "INV-3", 22),
    promise(4, "compta@alpha.test", "INV-1", 23),
    promise(5, "compta@alpha.test", "INV-2", 24),
    promise(6, "compta@alpha.test", "INV-2", 25),
    promise(2, "compta@alpha.test", "INV-1", 21),  # the same Message-ID again: a duplicate
]


def processor(db: sessionmaker[Session], batch_size: int, renderer: Renderer | None = None) -> InboxProcessor:
    settings = load_settings(ROOT / "config", env={})
    return InboxProcessor(
        db, settings, FixedClock(NOW), renderer or make_renderer(settings), batch_size=batch_size
    )


def outcome(db: sessionmaker[Session]) -> dict[str, Any]:
    with db() as s:
        return {
            "inbound": sorted(tuple(r) for r in s.execute(select(InboundMessage.uid, InboundMessage.status))),
            "promises": sorted(
                tuple(r) for r in s.execute(select(Promise.invoice_number, Promise.promised_date, Promise.status))
            ),
            "acks": sorted(s.scalars(select(OutboxMessage.idempotency_key).where(OutboxMessage.kind == "ack"))),
            "audit": s.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.actor == "bot")),
            "reviews": s.scalar(select(func.count(ReviewItem.id))),
            "checkpoint": s.scalar(select(MailboxCheckpoint.last_uid)),
        }


def test_batches_give_the_outcome_of_one_transaction_per_message(
    db: sessionmaker[Session], tmp_path: Path
) -> None:
    """GIVEN replies from one address in one batch WHEN read in batches THEN same rows as one by one."""
    one_by_one = session_factory(open_database(f"sqlite:///{tmp_path / 'one.db'}"))
    with db() as src, one_by_one() as dst, dst.begin():
        for table in ("clients", "contacts", "invoices"):
            for row in src.execute(select(InboundMessage.metadata.tables[table])).mappings():
                dst.execute(InboundMessage.metadata.tables[table].insert().values(**row))
    report_batched = processor(db, batch_size=100).run_once(ListMailbox(MESSAGES))
    report_single = InboxReport()
    single = processor(one_by_one, batch_size=1)
    for mail in ListMailbox(MESSAGES).fetch_new(0, None):
        single.process(mail, report_single)
    batched = outcome(db)
    assert batched == outcome(one_by_one)
    assert report_batched.as_dict() == report_single.as_dict()
    # The cap (3 automatic answers per address per day) held inside one batch, and each invoice kept one
    # pending promise, the latest.
    assert len([k for k in batched["acks"] if "@test" in k]) == 4  # 3 to compta@alpha.test + 1 to ap@beta.test
    pending = [(n, d.day) for n, d, status in batched["promises"] if status == "pending"]
    assert sorted(pending) == [("INV-1", 23), ("INV-2", 25), ("INV-3", 22)]
    assert batched["checkpoint"] == len(MESSAGES) and report_batched.duplicates == 1


def test_a_second_pass_changes_nothing(db: sessionmaker[Session]) -> None:
    proc = processor(db, batch_size=4)
    proc.run_once(ListMailbox(MESSAGES))
    before = outcome(db)
    with db() as s, s.begin():  # a lost checkpoint: everything is fetched again
        s.execute(MailboxCheckpoint.__table__.delete())
    again = proc.run_once(ListMailbox(MESSAGES))
    after = outcome(db)
    assert after["inbound"] == before["inbound"] and after["acks"] == before["acks"]
    assert after["promises"] == before["promises"] and again.duplicates == len(MESSAGES)
    assert again.processed == 0


class FailingFor:
    """A renderer that breaks on one client's messages (a template bug met in the middle of a batch)."""

    def __init__(self, inner: Renderer, client_name: str) -> None:
        self.inner = inner
        self.client_name = client_name

    def render(self, name: str, language: str, context: dict[str, object]) -> RenderedMail:
        client = context.get("client")
        if getattr(client, "name", None) == self.client_name or (
            isinstance(client, dict) and client.get("name") == self.client_name
        ):
            raise RuntimeError("template exploded")
        return self.inner.render(name, language, context)


def test_a_failing_message_is_quarantined_alone_and_the_batch_is_not_half_applied(
    db: sessionmaker[Session],
) -> None:
    settings = load_settings(ROOT / "config", env={})
    proc = processor(db, batch_size=100, renderer=FailingFor(make_renderer(settings), "Beta Ltd"))
    mailbox = ListMailbox(MESSAGES)
    report = proc.run_once(mailbox)
    statuses = dict(outcome(db)["inbound"])
    assert statuses[3] == "quarantined" and report.quarantined == 1
    assert [statuses[u] for u in (1, 2, 4, 5, 6)] == ["processed"] * 5 and statuses[7] == "duplicate"
    assert mailbox.filed[3] == "relance/quarantine" and mailbox.filed[1] == "relance/processed"
    with db() as s:  # nothing of the failed message's effects was kept (its promise on INV-3)
        assert s.scalar(select(func.count(Promise.id)).where(Promise.invoice_number == "INV-3")) == 0
