"""Dunning cycle + outbox on a real database with a recording sender: the right step, once, to the right person."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import open_database, session_factory
from bot.adapters.db.models import Contact, Invoice, OutboxMessage, Task
from bot.app.client_import import import_clients
from bot.app.clock import FixedClock, noon_in
from bot.app.dunning import run_cycle
from bot.app.invoice_import import import_invoices
from bot.app.outbox_delivery import deliver_due
from bot.app.pause_checks import check_promises
from bot.app.payment_import import import_payments
from bot.app.settings import load_settings
from bot.app.wiring import make_renderer
from bot.domain.errors import PermanentError, StaleLedgerError, TemporaryError
from tests.fakes import RecordingSender

ROOT = Path(__file__).resolve().parents[2]
PROFILES = {"standard", "key_account", "public_sector", "risky"}


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> tuple[sessionmaker[Session], FixedClock]:
    factory = session_factory(open_database(db_url))
    clients = tmp_path / "clients.csv"
    clients.write_text(
        "client_id,name,email,language,profile\n"
        "A1,Atelier Alpha,compta@alpha.test;boss@alpha.test,fr,standard\n"
        "B2,Beta Ltd,ap@beta.test,en,standard\n",
        encoding="utf-8",
    )
    invoices = tmp_path / "invoices.csv"
    invoices.write_text(
        "invoice_number,client_id,issue_date,due_date,amount,currency,amount_paid\n"
        "INV-1,A1,2026-10-01,2026-11-02,1200.00,EUR,0\n"
        "INV-2,A1,2026-10-01,2026-11-02,300.00,EUR,0\n"
        "INV-3,B2,2026-10-05,2026-11-20,99.90,EUR,0\n",
        encoding="utf-8",
    )
    now = datetime(2026, 11, 1, 8, tzinfo=UTC)
    import_clients(factory, clients, now=now, profiles=PROFILES)
    import_invoices(factory, invoices, now=now)
    payments = tmp_path / "payments.csv"
    payments.write_text("invoice_number,amount,paid_on,reference\n", encoding="utf-8")
    import_payments(factory, payments, now=now)
    return factory, FixedClock(now)


def _settings():  # type: ignore[no-untyped-def]
    return load_settings(ROOT / "config", env={})


def cycle(factory: sessionmaker[Session], clock: FixedClock, sender: RecordingSender) -> None:
    settings = _settings()
    check_promises(factory, settings, clock)
    run_cycle(factory, settings, clock, make_renderer(settings))
    asyncio.run(deliver_due(factory, lambda: sender, clock, envelope_from=settings.from_address))


def test_first_reminder_groups_invoices_goes_to_first_contact_and_never_twice(world) -> None:  # type: ignore[no-untyped-def]
    factory, clock = world
    sender = RecordingSender()
    clock.set(noon_in(date(2026, 11, 3)))  # Tuesday, day after the due date of INV-1 and INV-2
    cycle(factory, clock, sender)
    assert len(sender.sent) == 1
    mail = sender.sent[0]
    assert mail.recipients == ("compta@alpha.test",)
    assert b"INV-1" in mail.data and b"INV-2" in mail.data and b"Auto-Submitted: auto-generated" in mail.data
    cycle(factory, clock, sender)  # same day again: nothing new
    assert len(sender.sent) == 1
    with factory() as s:
        assert {i.last_step for i in s.scalars(select(Invoice).where(Invoice.client_id == "A1"))} == {
            "reminder_1"
        }


def test_the_ladder_over_sixty_days(world) -> None:  # type: ignore[no-untyped-def]
    factory, clock = world
    sender = RecordingSender()
    seen: list[str] = []
    day = date(2026, 11, 2)
    for _ in range(60):
        clock.set(noon_in(day))
        # keep the ledger fresh as a real user would
        with factory() as s, s.begin():
            from bot.adapters.db.models import ImportRun

            s.add(ImportRun(kind="payments", source="t", sha256="x", rows=0, imported_at=clock.now()))
        cycle(factory, clock, sender)
        day += timedelta(days=1)
    with factory() as s:
        rows = s.scalars(
            select(OutboxMessage).where(OutboxMessage.client_id == "A1").order_by(OutboxMessage.id)
        )
        seen = [r.step or "" for r in rows]
        tasks = [t.kind for t in s.scalars(select(Task).where(Task.client_id == "A1").order_by(Task.id))]
        states = {i.state for i in s.scalars(select(Invoice).where(Invoice.client_id == "A1"))}
    assert seen == ["courtesy", "reminder_1", "reminder_2", "formal_notice", "final_notice"]
    assert tasks == ["call", "escalate"]
    assert states == {"escalated"}
    assert len({m.message_id for m in sender.sent}) == len(sender.sent)


def test_stale_ledger_refuses_to_send(world) -> None:  # type: ignore[no-untyped-def]
    factory, clock = world
    clock.set(noon_in(date(2026, 11, 20)))
    with pytest.raises(StaleLedgerError, match="import payments"):
        run_cycle(factory, _settings(), clock, make_renderer(_settings()))


def test_temporary_failure_retries_permanent_marks_contact(world) -> None:  # type: ignore[no-untyped-def]
    factory, clock = world
    sender = RecordingSender()
    clock.set(noon_in(date(2026, 11, 3)))
    sender.fail_with = [TemporaryError("451 try later", smtp_code=451)]
    cycle(factory, clock, sender)
    assert sender.sent == []
    clock.advance(timedelta(hours=2))
    asyncio.run(deliver_due(factory, lambda: sender, clock, envelope_from="x@y.test"))
    assert len(sender.sent) == 1
    # a permanent failure on the next client
    clock.set(noon_in(date(2026, 11, 10)))
    sender.fail_with = [PermanentError("550 no such user", smtp_code=550)]
    with factory() as s, s.begin():
        from bot.adapters.db.models import ImportRun

        s.add(ImportRun(kind="payments", source="t", sha256="x", rows=0, imported_at=clock.now()))
    cycle(factory, clock, sender)
    with factory() as s:
        courtesy = s.scalar(select(OutboxMessage).where(OutboxMessage.client_id == "B2"))
        assert courtesy is not None and courtesy.status == "failed"
        contact = s.scalar(select(Contact).where(Contact.email == "ap@beta.test"))
        assert contact is not None and contact.status == "bouncing"
        assert s.scalar(select(Task).where(Task.client_id == "B2", Task.kind == "call")) is not None
