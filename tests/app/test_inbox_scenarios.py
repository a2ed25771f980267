"""Inbox scenarios: one named .eml per behaviour, through parse → classify → match → act, on a real database.

Ledger for every scenario: client A1 (fr, contact compta@alpha.test) owes INV-1 and INV-2; client B2 (en,
contact ap@beta.test) owes INV-3. The clock reads 2026-11-03.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.models import (
    AuditEntry,
    Client,
    Contact,
    InboundMessage,
    Invoice,
    OutboxMessage,
    ReviewItem,
    Task,
)
from bot.app.clock import FixedClock
from bot.app.inbound import InboxReport
from bot.app.inbox import InboxProcessor
from bot.app.settings import load_settings
from bot.app.wiring import make_renderer
from tests.fakes import ListMailbox

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "tests" / "fixtures" / "scenarios"
NOW = datetime(2026, 11, 3, 11, 0, tzinfo=UTC)


@pytest.fixture
def db(two_client_ledger: sessionmaker[Session]) -> sessionmaker[Session]:
    return two_client_ledger


def run(db: sessionmaker[Session], *names: str) -> tuple[InboxReport, ListMailbox]:
    settings = load_settings(ROOT / "config", env={})
    mailbox = ListMailbox([(SCENARIOS / n).read_bytes() for n in names])
    processor = InboxProcessor(db, settings, FixedClock(NOW), make_renderer(settings))
    return processor.run_once(mailbox), mailbox


def invoice(db: sessionmaker[Session], number: str) -> Invoice:
    with db() as s:
        inv = s.get(Invoice, number)
        assert inv is not None
        return inv


def acks(db: sessionmaker[Session]) -> list[str]:
    with db() as s:
        return [o.template for o in s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "ack"))]


def audit_actions(db: sessionmaker[Session], entity_id: str) -> list[str]:
    with db() as s:
        return list(
            s.scalars(
                select(AuditEntry.action).where(AuditEntry.entity_id == entity_id, AuditEntry.actor == "bot")
            )
        )


def test_promise_pauses_and_is_confirmed_in_writing(db: sessionmaker[Session]) -> None:
    """GIVEN a known contact promising to pay INV-1 on 20/11 WHEN read THEN promised, paused, promise_ack sent."""
    report, mailbox = run(db, "promise_fr.eml")
    inv = invoice(db, "INV-1")
    assert inv.state == "promised" and inv.promise_date == date(2026, 11, 20)
    assert inv.paused_until is not None and inv.paused_until > date(2026, 11, 20)
    assert acks(db) == ["promise_ack"] and "promise" in audit_actions(db, "INV-1")
    assert mailbox.filed == {1: "relance/processed"} and report.processed == 1


def test_dispute_stops_reminders_and_asks_a_person(db: sessionmaker[Session]) -> None:
    """GIVEN a dispute on INV-3 WHEN read THEN disputed (no more reminders) and a review item."""
    report, _ = run(db, "dispute_en.eml")
    assert invoice(db, "INV-3").state == "disputed"
    with db() as s:
        assert s.scalar(select(ReviewItem).where(ReviewItem.intent == "dispute")) is not None
    assert acks(db) == [] and report.review == 1


def test_missing_invoice_sends_a_copy(db: sessionmaker[Session]) -> None:
    """GIVEN 'never received INV-2' WHEN read THEN the invoice copy is queued and reminders wait."""
    run(db, "missing_fr.eml")
    assert acks(db) == ["invoice_copy"]
    assert invoice(db, "INV-2").paused_until is not None


def test_already_paid_pauses_and_asks_for_remittance(db: sessionmaker[Session]) -> None:
    """GIVEN 'already paid INV-3' from the contact WHEN read THEN payment_claimed and remittance details asked."""
    run(db, "paid_en.eml")
    assert invoice(db, "INV-3").state == "payment_claimed"
    assert acks(db) == ["payment_claim_ack"]


def test_unknown_sender_claiming_paid_changes_nothing(db: sessionmaker[Session]) -> None:
    """GIVEN a look-alike domain claiming INV-3 is paid WHEN read THEN nothing changes, a person reviews."""
    report, _ = run(db, "paid_unknown_sender.eml")
    assert invoice(db, "INV-3").state == "open" and acks(db) == []
    with db() as s:
        item = s.scalar(select(ReviewItem))
        assert item is not None and "sender" in item.reason
    assert report.review == 1


def test_out_of_office_defers_reminders_to_the_return_date(db: sessionmaker[Session]) -> None:
    """GIVEN an out-of-office back on 16 November WHEN read THEN the client is paused until then, no invoice changes."""
    run(db, "ooo_fr.eml")
    with db() as s:
        client = s.get(Client, "A1")
        assert client is not None and client.paused_until == date(2026, 11, 16)
    assert invoice(db, "INV-1").state == "open" and acks(db) == []


def test_bounce_marks_the_contact_and_raises_a_call(db: sessionmaker[Session]) -> None:
    """GIVEN a 5.1.1 bounce for compta@alpha.test WHEN read THEN the contact is bouncing and a call task exists."""
    run(db, "bounce_alpha.eml")
    with db() as s:
        contact = s.scalar(select(Contact).where(Contact.email == "compta@alpha.test"))
        assert contact is not None and contact.status == "bouncing"
        assert s.scalar(select(Task).where(Task.client_id == "A1", Task.kind == "call")) is not None


def test_same_message_twice_is_processed_once(db: sessionmaker[Session]) -> None:
    """GIVEN the same promise delivered twice (a copy in the inbox) WHEN read THEN one effect only."""
    report, _ = run(db, "promise_fr.eml", "promise_fr.eml")
    assert report.duplicates == 1 and acks(db) == ["promise_ack"]
    report2, _ = run(db, "promise_fr.eml")  # restart: the checkpoint says uid 1 was done
    assert report2.processed == 0 and acks(db) == ["promise_ack"]


def test_unreadable_message_is_quarantined_and_the_loop_goes_on(db: sessionmaker[Session]) -> None:
    """GIVEN garbage then a promise WHEN read THEN garbage is quarantined for a person and the promise still acts."""
    report, mailbox = run(db, "unreadable.eml", "promise_fr.eml")
    assert invoice(db, "INV-1").state == "promised"
    with db() as s:
        statuses = sorted(s.scalars(select(InboundMessage.status)))
    assert "processed" in statuses
    if report.quarantined:  # the parser may also read it as an (empty) message; then it must be reviewed
        assert mailbox.filed[1] == "relance/quarantine"
    else:
        assert mailbox.filed[1] in ("relance/review", "relance/processed")


def test_a_broken_promise_resumes_the_ladder_and_raises_a_call(db: sessionmaker[Session]) -> None:
    """GIVEN a promise to pay INV-1 on 20/11 WHEN 20/11 + 3 grace days pass unpaid THEN open again, the promise
    is counted broken, a call task is raised, and the audit says why."""
    from bot.adapters.db.models import Promise
    from bot.app.clock import noon_in
    from bot.app.pause_checks import check_promises

    run(db, "promise_fr.eml")
    settings = load_settings(ROOT / "config", env={})
    assert check_promises(db, settings, FixedClock(noon_in(date(2026, 11, 23)))) == 0  # grace still running
    assert check_promises(db, settings, FixedClock(noon_in(date(2026, 11, 24)))) == 1
    inv = invoice(db, "INV-1")
    assert inv.state == "open" and inv.promise_date == date(2026, 11, 20)  # kept: the ladder walks step by step
    with db() as s:
        assert [p.status for p in s.scalars(select(Promise))] == ["broken"]
        task = s.scalar(select(Task).where(Task.client_id == "A1"))
        assert task is not None and task.kind == "call" and "broken" in task.reason
    assert "promise_broken" in audit_actions(db, "INV-1")
    assert check_promises(db, settings, FixedClock(noon_in(date(2026, 11, 25)))) == 0  # once only


def test_a_kept_promise_is_counted_kept(db: sessionmaker[Session], tmp_path: Path) -> None:
    """GIVEN a promise on INV-1 WHEN the payment is imported before the date THEN paid and the promise kept."""
    from bot.adapters.db.models import Promise
    from bot.app.payment_import import import_payments

    run(db, "promise_fr.eml")
    payments = tmp_path / "p.csv"
    payments.write_text("invoice_number,amount,paid_on,reference\nINV-1,1200.00,2026-11-18,VIR-1\n", encoding="utf-8")
    import_payments(db, payments, now=NOW)
    assert invoice(db, "INV-1").state == "paid"
    with db() as s:
        assert [p.status for p in s.scalars(select(Promise))] == ["kept"]


def test_an_unverified_payment_claim_goes_to_a_person(db: sessionmaker[Session]) -> None:
    """GIVEN 'already paid' for INV-3 WHEN the pause ends with no payment in the ledger THEN the invoice is open
    again and a collector is asked to check the bank."""
    from bot.app.clock import noon_in
    from bot.app.pause_checks import check_payment_claims

    run(db, "paid_en.eml")
    paused = invoice(db, "INV-3").paused_until
    assert paused is not None
    settings = load_settings(ROOT / "config", env={})
    assert check_payment_claims(db, settings, FixedClock(noon_in(paused))) == 0
    assert check_payment_claims(db, settings, FixedClock(noon_in(date.fromordinal(paused.toordinal() + 1)))) == 1
    assert invoice(db, "INV-3").state == "open"
    with db() as s:
        item = s.scalar(select(ReviewItem).where(ReviewItem.kind == "claim_unverified"))
        assert item is not None and item.invoice_numbers == ["INV-3"]
