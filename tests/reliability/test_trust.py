"""Trust (issue 9 §4): who may change an invoice by writing to relance, and how often relance answers.

Ledger: client A1 (contact compta@alpha.test) owes INV-1 and INV-2; client B2 (contact ap@beta.test) owes INV-3.
A reminder for INV-3 went to B2 (Message-ID ``<rem-b2@relance.test>``). Each reply goes through the whole inbox
pipeline (parse → classify → match → safety rule → act) on a real database; "nothing changes" is checked on the
invoices, the audit log, the promises and the outbox, not only on the returned counts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import open_database, session_factory
from bot.adapters.db.models import AuditEntry, Invoice, OutboxMessage, Promise, ReviewItem
from bot.app.client_import import import_clients
from bot.app.clock import FixedClock
from bot.app.inbound import InboxReport
from bot.app.inbox import InboxProcessor
from bot.app.invoice_import import import_invoices
from bot.app.outbox import add_to_outbox
from bot.app.settings import Settings, load_settings
from bot.app.wiring import make_renderer
from bot.ports import InboundMail, OutgoingMail

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 3, 11, 0, tzinfo=UTC)
REMINDER_B2 = "rem-b2@relance.test"


@pytest.fixture
def db(tmp_path: Path) -> sessionmaker[Session]:
    factory = session_factory(open_database(f"sqlite:///{tmp_path / 'r.db'}"))
    (tmp_path / "c.csv").write_text(
        "client_id,name,email,language,profile\n"
        "A1,Atelier Alpha,compta@alpha.test,fr,standard\nB2,Beta Ltd,ap@beta.test,en,standard\n",
        encoding="utf-8",
    )
    (tmp_path / "i.csv").write_text(
        "invoice_number,client_id,issue_date,due_date,amount,currency,amount_paid\n"
        "INV-1,A1,2026-10-01,2026-11-02,1200.00,EUR,0\nINV-2,A1,2026-10-01,2026-11-02,300.00,EUR,0\n"
        "INV-3,B2,2026-10-05,2026-11-02,99.90,EUR,0\n",
        encoding="utf-8",
    )
    import_clients(factory, tmp_path / "c.csv", now=NOW, profiles={"standard"})
    import_invoices(factory, tmp_path / "i.csv", now=NOW)
    with factory() as s, s.begin():
        add_to_outbox(
            s,
            key="reminder:B2:INV-3:first",
            mail=OutgoingMail(REMINDER_B2, "collections@relance.test", ("ap@beta.test",), b"Subject: x\r\n\r\nx"),
            kind="reminder",
            client_id="B2",
            invoice_numbers=["INV-3"],
            step="first",
            template="reminder_1",
            language="en",
            subject="Payment reminder INV-3",
            now=NOW - timedelta(days=1),
            deadline=timedelta(hours=48),
        )
    return factory


_numbers = iter(range(1, 1_000_000))


def mail(sender: str, body: str, subject: str = "RE: Payment reminder", **headers: str) -> bytes:
    n = next(_numbers)
    extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return (
        f"From: {sender}\r\nTo: collections@relance.test\r\nSubject: {subject}\r\n"
        f"Date: Tue, 03 Nov 2026 10:12:00 +0000\r\nMessage-ID: <trust{n}@sender.test>\r\n{extra}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body.replace("\n", "\r\n")
    ).encode()


def process(
    db: sessionmaker[Session], *raws: bytes, now: datetime = NOW, settings: Settings | None = None
) -> InboxReport:
    cfg = settings or load_settings(ROOT / "config", env={})
    processor = InboxProcessor(db, cfg, FixedClock(now), make_renderer(cfg))
    report = InboxReport()
    for raw in raws:
        processor.process(InboundMail("trust:INBOX", 1, next(_numbers), raw), report)
    return report


def snapshot(db: sessionmaker[Session]) -> dict[str, object]:
    """Everything an automatic action could change."""
    with db() as s:
        return {
            "invoices": {i.number: (i.state, i.paused_until, i.promise_date) for i in s.scalars(select(Invoice))},
            "audit": sorted(
                (a.entity, a.entity_id, a.action)
                for a in s.scalars(select(AuditEntry).where(AuditEntry.entity != "import"))
            ),
            "promises": len(list(s.scalars(select(Promise)))),
            "outbox": sorted(o.idempotency_key for o in s.scalars(select(OutboxMessage))),
        }


def open_reviews(db: sessionmaker[Session]) -> list[ReviewItem]:
    with db() as s:
        return list(s.scalars(select(ReviewItem).where(ReviewItem.status == "open")))


PAID_INV3 = "Hi,\n\nInvoice INV-3 has already been paid by bank transfer yesterday.\n\nRegards"
PROMISE_INV3 = "Hello,\n\nWe will pay invoice INV-3 by bank transfer on 20/11/2026.\n\nRegards"


@pytest.mark.parametrize(
    "sender",
    [
        "someone@gmail.com",  # public domain: says nothing about who writes
        "ap@beta-payments.test",  # look-alike: extra word
        "ap@betaa.test",  # look-alike: doubled letter
        "ap@beta.test.attacker.test",  # look-alike: the real domain as a sub-domain of another
        "ap@xn--bta-yed.test",  # look-alike: homoglyph (Cyrillic e), punycode
        "ap@beta.tset",  # look-alike: swapped letters in the TLD
    ],
)
@pytest.mark.parametrize("body", [PAID_INV3, PROMISE_INV3])
def test_unknown_or_lookalike_sender_changes_nothing(db: sessionmaker[Session], sender: str, body: str) -> None:
    before = snapshot(db)
    report = process(db, mail(sender, body))
    assert snapshot(db) == before, f"{sender} changed the ledger by writing"
    assert report.review == 1 and report.processed == 0
    assert any("sender" in r.reason or "unmatched" in r.reason for r in open_reviews(db))


def test_lookalike_with_the_thread_of_a_real_reminder_still_changes_nothing(db: sessionmaker[Session]) -> None:
    """A stranger who replies on the real thread (forged In-Reply-To) gets a client, never trust."""
    before = snapshot(db)
    report = process(db, mail("ap@beta-payments.test", PAID_INV3, In_Reply_To=f"<{REMINDER_B2}>"))
    assert snapshot(db) == before and report.review == 1
    (item,) = open_reviews(db)
    assert item.client_id == "B2" and "sender is not a known contact" in item.reason


def test_reply_naming_another_clients_invoice_does_not_change_it(db: sessionmaker[Session]) -> None:
    """A1's real contact says B2's invoice is paid: neither B2's nor A1's invoices move."""
    before = snapshot(db)
    report = process(db, mail("compta@alpha.test", PAID_INV3))
    assert snapshot(db) == before
    assert report.review == 1
    (item,) = open_reviews(db)
    assert "INV-3" not in (item.invoice_numbers or []) or item.client_id != "B2"


def test_forged_in_reply_to_from_another_client_goes_to_review(db: sessionmaker[Session]) -> None:
    """A1's contact replies on B2's reminder thread (In-Reply-To forged or reused): a person decides."""
    before = snapshot(db)
    body = "Bonjour,\n\nC'est réglé, nous avons payé par virement hier.\n\nCordialement"
    report = process(db, mail("compta@alpha.test", body, In_Reply_To=f"<{REMINDER_B2}>", References=f"<{REMINDER_B2}>"))
    assert snapshot(db) == before
    assert report.review == 1 and report.processed == 0
    (item,) = open_reviews(db)
    assert "another client" in item.reason


def test_genuine_contact_on_its_own_thread_still_acts(db: sessionmaker[Session]) -> None:
    """The control: the same claim from B2's own contact on B2's thread is acted on (the checks can fail)."""
    process(db, mail("ap@beta.test", PAID_INV3, In_Reply_To=f"<{REMINDER_B2}>"))
    with db() as s:
        inv = s.get(Invoice, "INV-3")
        assert inv is not None and inv.state == "payment_claimed"


def acks_to(db: sessionmaker[Session], address: str) -> int:
    with db() as s:
        rows = s.scalars(select(OutboxMessage.recipients).where(OutboxMessage.kind == "ack"))
        return sum(1 for recipients in rows if address in recipients)


def test_automatic_answers_are_capped_per_address_per_day(db: sessionmaker[Session]) -> None:
    """An auto-responder (or a chatty debtor) writing ten times a day gets at most the cap of answers."""
    cfg = load_settings(ROOT / "config", env={"RELANCE_AUTO_ANSWER_CAP_PER_DAY": "2"})
    assert cfg.auto_answer_cap_per_day == 2
    bodies = [PROMISE_INV3.replace("20/11/2026", f"{20 + i % 5}/11/2026") if i % 2 else PAID_INV3 for i in range(10)]
    process(db, *(mail("ap@beta.test", b) for b in bodies), settings=cfg)
    assert acks_to(db, "ap@beta.test") == 2
    # Later the same day: still capped. The next day: one more answer is allowed.
    process(db, mail("ap@beta.test", PROMISE_INV3), now=NOW + timedelta(hours=6), settings=cfg)
    assert acks_to(db, "ap@beta.test") == 2
    process(
        db,
        mail("ap@beta.test", PROMISE_INV3.replace("20/11", "27/11")),
        now=NOW + timedelta(days=1, hours=1),
        settings=cfg,
    )
    assert acks_to(db, "ap@beta.test") == 3


def test_auto_replies_are_never_answered(db: sessionmaker[Session]) -> None:
    """Two auto-responders answering each other is how mail loops start: an out-of-office gets no answer."""
    ooo = [
        mail(
            "ap@beta.test",
            "I am out of the office until 16 November 2026 with limited access to e-mail.",
            subject="Automatic reply: Payment reminder INV-3",
            Auto_Submitted="auto-replied",
        )
        for _ in range(5)
    ]
    process(db, *ooo)
    assert acks_to(db, "ap@beta.test") == 0
