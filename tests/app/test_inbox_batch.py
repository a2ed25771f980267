"""The inbox's batched transactions give the same outcome as one transaction per message.

Ledger: client A1 (contact compta@alpha.test) owes INV-1 and INV-2; client B2 (ap@beta.test) owes INV-3.
Replies are generated here; several come from the same address in one batch, which is what the batch's
held-back flushes must get right (acknowledgement cap, superseded promises, checkpoint).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import open_database, session_factory
from bot.adapters.db.models import (
    AuditEntry,
    ClassificationRecord,
    InboundMessage,
    MailboxCheckpoint,
    OutboxMessage,
    Promise,
    ReviewItem,
    Task,
)
from bot.app.clock import FixedClock
from bot.app.inbound import InboxReport
from bot.app.inbox import InboxProcessor
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
    return InboxProcessor(db, settings, FixedClock(NOW), renderer or make_renderer(settings), batch_size=batch_size)


def reply(i: int, sender: str, subject: str, body: str, headers: str = "") -> bytes:
    return (
        f"From: <{sender}>\r\nTo: collections@relance.test\r\nSubject: {subject}\r\n"
        f"Date: Tue, 03 Nov 2026 10:{i:02d}:00 +0100\r\nMessage-ID: <m{i}@test>\r\n{headers}MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def bounce(i: int, recipient: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.relance.test\r\nTo: collections@relance.test\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nDate: Tue, 03 Nov 2026 10:{i:02d}:00 +0100\r\n"
        f"Message-ID: <b{i}@mx.relance.test>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="r1"\r\n\r\n'
        "--r1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\r\n"
        "--r1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.relance.test\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n--r1--\r\n"
    ).encode()


#: Every kind of effect, several times from one address in one batch: the reads that must see an earlier
#: reply's rows (review and task keys, "invoice copy sent" twice, acknowledgement cap) are exercised.
MIXED = [
    reply(1, "ap@beta.test", "Re: facture INV-3", "We dispute invoice INV-3: the goods never arrived."),
    reply(2, "compta@alpha.test", "Re: Relance INV-1", "Nous avons déjà payé la facture INV-1 le 28/10/2026."),
    reply(7, "someone@unknown.test", "Question", "Bonjour, pouvez-vous me rappeler ?"),
    # Batches grow 1, 2, 4, 8...: messages 4 to 7 are one batch, where the second of each pair must see the first.
    reply(
        3, "compta@alpha.test", "Re: Relance INV-2", "Nous n'avons jamais reçu la facture INV-2, merci de la renvoyer."
    ),
    reply(4, "compta@alpha.test", "Re: Relance INV-2", "Nous n'avons toujours pas reçu la facture INV-2."),
    bounce(5, "ap@beta.test"),
    bounce(6, "ap@beta.test"),
    reply(
        8,
        "compta@alpha.test",
        "Absence du bureau",
        "Je suis absent jusqu'au 20/11/2026.",
        "Auto-Submitted: auto-replied\r\n",
    ),
    reply(9, "compta@alpha.test", "Re: Relance INV-1", "Nous réglerons la facture INV-1 le 25/11/2026."),
    reply(10, "compta@alpha.test", "Re: INV-1", "Pouvons-nous payer INV-1 en trois fois ?"),
]


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


def every_row(db: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the inbox writes, as stored (JSON as text), without ids; inbound ids as the message's UID."""
    tables = (
        "inbound_messages",
        "classifications",
        "audit_log",
        "promises",
        "outbox",
        "review_items",
        "tasks",
        "invoices",
        "clients",
        "contacts",
        "mailbox_checkpoints",
    )
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db() as s:
        uid: dict[Any, Any] = {i: u for i, u in s.execute(text("SELECT id, uid FROM inbound_messages"))}
        for table in tables:
            rows = s.execute(text(f"SELECT * FROM {table}")).mappings()
            out[table] = sorted(
                (
                    tuple((k, uid.get(v) if k == "inbound_id" else v) for k, v in row.items() if k != "id")
                    for row in rows
                ),
                key=repr,
            )
    return out


def copy_ledger(db: sessionmaker[Session], path: Path) -> sessionmaker[Session]:
    other = session_factory(open_database(f"sqlite:///{path}"))
    with db() as src, other() as dst, dst.begin():
        for table in ("clients", "contacts", "invoices", "audit_log"):  # audit: the import's entries
            for row in src.execute(select(InboundMessage.metadata.tables[table])).mappings():
                dst.execute(InboundMessage.metadata.tables[table].insert().values(**row))
    return other


def batched_and_one_by_one(
    db: sessionmaker[Session], tmp_path: Path, messages: Sequence[bytes]
) -> tuple[sessionmaker[Session], InboxReport, InboxReport]:
    """``messages`` read in batches into ``db`` and one transaction each into a copy of its ledger: (the copy,
    the batched report, the one-by-one report)."""
    one_by_one = copy_ledger(db, tmp_path / "one.db")
    report_batched = processor(db, batch_size=100).run_once(ListMailbox(list(messages)))
    report_single = InboxReport()
    single = processor(one_by_one, batch_size=1)
    for mail in ListMailbox(list(messages)).fetch_new(0, None):
        single.process(mail, report_single)
    return one_by_one, report_batched, report_single


def test_every_row_of_a_mixed_batch_is_the_row_of_one_transaction_per_message(
    db: sessionmaker[Session], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """GIVEN replies of every kind, several per address WHEN read in one batch THEN every table holds the
    rows (audit, classifications, review items, tasks, outbox) one transaction per message gives."""
    one_by_one = copy_ledger(db, tmp_path / "one.db")
    with caplog.at_level(logging.WARNING, logger="bot.app.inbox_batch"):
        report_batched = processor(db, batch_size=100).run_once(ListMailbox(MIXED))
    assert not caplog.records  # no batch fell back to one transaction per message (the unique keys held)
    report_single = InboxReport()
    single = processor(one_by_one, batch_size=1)
    for mail in ListMailbox(MIXED).fetch_new(0, None):
        single.process(mail, report_single)
    assert report_batched.as_dict() == report_single.as_dict()
    batched, alone = every_row(db), every_row(one_by_one)
    for table in batched:
        assert batched[table] == alone[table], table
    # The batch did meet every path it claims to cover.
    assert {"dispute", "already_paid", "missing_invoice", "bounce", "promise_to_pay"} <= set(report_batched.intents)
    assert report_batched.quarantined == 0
    with db() as s:
        actions = set(s.scalars(select(AuditEntry.action)))
        assert {"dispute", "paid_claim", "invoice_copy_sent", "bouncing", "promise"} <= actions
        assert s.scalar(select(func.count(Task.id))) == 1  # two bounces of one address: one call task
        kinds = set(s.scalars(select(ReviewItem.kind)))
        assert {"reply", "unmatched", "client_flag"} <= kinds  # client_flag: the second "not received"
        assert s.scalar(select(func.count(ClassificationRecord.id))) == len(MIXED)


def test_an_unreadable_message_in_a_batch_is_recorded_as_one_transaction_per_message_records_it(
    db: sessionmaker[Session], tmp_path: Path
) -> None:
    """GIVEN an empty message between replies WHEN read in one batch THEN it is quarantined with its review
    item, in the order read (ids included), and every other row is the one-transaction-per-message row."""
    messages = [*MIXED[:5], b"  \r\n", *MIXED[5:]]
    one_by_one, report_batched, report_single = batched_and_one_by_one(db, tmp_path, messages)
    assert report_batched.as_dict() == report_single.as_dict() and report_batched.quarantined == 1
    batched, alone = every_row(db), every_row(one_by_one)
    for table in batched:
        assert batched[table] == alone[table], table
    with db() as s, one_by_one() as t:
        ids = [tuple(x.execute(text("SELECT id, uid, status FROM inbound_messages ORDER BY id"))) for x in (s, t)]
        assert ids[0] == ids[1] and ("quarantined" in {status for _, _, status in ids[0]})
        review = s.execute(select(ReviewItem.kind, ReviewItem.inbound_id, ReviewItem.reason)).all()
        assert ("quarantine", ids[0][5][0], "unreadable message: empty message") in review


def test_the_checkpoint_is_moved_once_per_batch_as_by_every_message() -> None:
    from bot.app.inbox_batch import checkpoint_mails
    from bot.ports import InboundMail

    def mail(uid: int, validity: int = 7) -> InboundMail:
        return InboundMail("INBOX", validity, uid, b"")

    batch = [mail(3), mail(9), mail(5)]
    assert checkpoint_mails(batch) == [batch[1]]
    mixed = [mail(3), mail(2, validity=8), mail(1)]  # never from one fetch: every call, in order
    assert checkpoint_mails(mixed) == mixed


def test_batches_give_the_outcome_of_one_transaction_per_message(db: sessionmaker[Session], tmp_path: Path) -> None:
    """GIVEN replies from one address in one batch WHEN read in batches THEN same rows as one by one."""
    one_by_one, report_batched, report_single = batched_and_one_by_one(db, tmp_path, MESSAGES)
    batched = outcome(db)
    assert batched == outcome(one_by_one)
    assert every_row(db) == every_row(one_by_one)
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

    def names(self) -> Sequence[str]:
        return self.inner.names()

    def variables(self, name: str, language: str) -> frozenset[str] | None:
        return self.inner.variables(name, language)


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


def test_batches_are_read_ahead_of_the_recording_and_recorded_in_order(
    db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a backlog WHEN processed THEN each batch is recorded only once the next READ_AHEAD batches are being
    read (both sides keep working through short stalls), batches are recorded in fetch order, the last ones
    when the mailbox has no more, and the outcome is that of batches of one."""
    from bot.app import inbox, inbox_batch

    events: list[tuple[str, list[int]]] = []
    start, finish = inbox_batch.BatchRunner.start, inbox_batch.BatchRunner.finish

    def started(self: inbox_batch.BatchRunner, mails: Sequence[Any]) -> inbox_batch.Started:
        events.append(("read", [m.uid for m in mails]))
        return start(self, mails)

    def finished(self: inbox_batch.BatchRunner, mailbox: Any, batch: inbox_batch.Started, report: Any) -> None:
        events.append(("record", [m.uid for m in batch.mails]))
        finish(self, mailbox, batch, report)

    monkeypatch.setattr(inbox_batch.BatchRunner, "start", started)
    monkeypatch.setattr(inbox_batch.BatchRunner, "finish", finished)
    messages = [
        promise(i, "compta@alpha.test" if i % 2 else "ap@beta.test", "INV-1" if i % 2 else "INV-3", 20)
        for i in range(1, 12)
    ]
    processor(db, batch_size=4).run_once(ListMailbox(messages))
    reads = [uids for kind, uids in events if kind == "read"]
    records = [uids for kind, uids in events if kind == "record"]
    assert reads == [[1], [2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]  # batches double up to batch_size
    assert records == reads
    for k, batch in enumerate(records):
        # Recorded after the reading of the following READ_AHEAD batches (or of all that remain) began.
        ahead = reads[k + 1 : k + 1 + inbox.READ_AHEAD]
        assert events.index(("record", batch)) > max(events.index(("read", r)) for r in [batch, *ahead])
    held = 0
    for kind, _ in events:
        held += 1 if kind == "read" else -1
        assert held <= inbox.READ_AHEAD + 1
    with db() as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 11
        assert s.scalar(select(MailboxCheckpoint.last_uid)) == 11
