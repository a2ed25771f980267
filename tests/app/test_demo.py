"""The embedded demo, in process: the simulation goes through the real pipeline and leaves coherent traces."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.adapters.db.engine import open_database, session_factory
from bot.adapters.db.models import Client, Contact, InboundMessage, OutboxMessage, Promise, ReviewItem
from bot.app.demo import DemoResult, demo_settings, run_demo
from bot.app.demo_replies import REPLIES, RESOURCES, ReminderSent, build_reply, format_amount, load_debtors
from bot.app.users import verify_login


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    return run_demo(tmp_path_factory.mktemp("demo") / "relance-demo")


def test_every_reply_template_is_used_and_both_languages_are_covered() -> None:
    debtors = load_debtors()
    used = {d.template for d in debtors.values() if d.template}
    on_disk = {p.stem for p in REPLIES.glob("*.eml")}
    assert used == on_disk  # no template left unplayed, none missing
    assert 15 <= len(on_disk) <= 25
    clients = (RESOURCES / "clients.csv").read_text(encoding="utf-8")
    assert ",fr," in clients and ",en," in clients


def test_reply_is_threaded_on_the_reminder_and_dated_in_the_simulated_day() -> None:
    debtor = load_debtors()["C01"]
    raw_reminder = (
        b"From: Credit control <collections@relance.test>\r\nTo: compta@atelier-durand.test\r\n"
        b"Subject: =?utf-8?q?Rappel_facture?=\r\nMessage-ID: <relance.abc@relance.test>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nBonjour,\r\nFacture F2026-0412.\r\n"
    )
    sent = datetime(2026, 10, 12, 9, 0, tzinfo=UTC)
    reminder = ReminderSent(
        "<relance.abc@relance.test>",
        "compta@atelier-durand.test",
        "Rappel facture",
        raw_reminder,
        sent,
        "C01",
        "Atelier Durand SARL",
        "fr",
        ("F2026-0412",),
        Decimal("1840.00"),
        "EUR",
    )
    at = datetime(2026, 10, 13, 12, 10, tzinfo=UTC)
    raw, promised, _paid = build_reply(
        debtor, reminder, at=at, serial=1, creditor_address="collections@relance.test", creditor_name="Relance Demo SAS"
    )
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["In-Reply-To"] == "<relance.abc@relance.test>"
    assert "compta@atelier-durand.test" in str(message["From"]) and "Jean Durand" in str(message["From"])
    assert message["Subject"] == "Re: Rappel facture"
    assert message["Date"].datetime == at
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert promised is not None and promised.strftime("%d/%m/%Y") in text
    assert "1 840,00 €" in text and "> Facture F2026-0412." in text
    assert format_amount(Decimal("2400"), "GBP", "en") == "£2,400.00"


def test_demo_ignores_server_settings_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELANCE_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("RELANCE_DATABASE_URL", "postgresql://prod/relance")
    settings = demo_settings(tmp_path)
    assert settings.smtp_host is None and settings.imap_host is None
    assert settings.database_url == f"sqlite:///{tmp_path / 'relance.sqlite3'}"


def test_simulation_sends_reminders_and_reads_every_reply(demo: DemoResult) -> None:
    summary = demo.summary
    assert summary["duration_s"] < 60
    assert {"courtesy", "reminder_1", "reminder_2"} <= summary["reminders"].keys()
    replies_written = sum(1 for d in load_debtors().values() if d.template)
    inbox = summary["inbox"]
    assert inbox["processed"] + inbox["review"] == replies_written
    assert inbox["quarantined"] == 0 and inbox["duplicates"] == 0
    assert summary["days_with_stale_ledger"] == 0  # the simulated accountant imports payments twice a week
    outbox_files = list(Path(summary["paths"]["outbox"]).glob("*.eml"))
    sent = sum(summary["reminders"].values()) + sum(summary["acknowledgements"].values())
    assert len(outbox_files) == sent


def test_simulation_outcomes_per_intent(demo: DemoResult) -> None:
    summary = demo.summary
    replies = summary["replies"]
    for intent in ("bounce", "auto_reply", "dispute", "missing_invoice", "payment_plan_request", "promise_to_pay"):
        assert replies.get(intent, 0) >= 1, f"no {intent} in {replies}"
    engine = open_database(demo.settings.database_url)
    factory = session_factory(engine)
    with factory() as session:
        # Bounces mark the contact; out-of-office notices pause the client until the stated return.
        bouncing = session.scalars(select(Contact).where(Contact.status == "bouncing")).all()
        assert {c.email for c in bouncing} == set(summary["contacts_bouncing"]) and bouncing
        assert session.scalars(select(Client).where(Client.paused_until.is_not(None))).all()
        assert session.scalars(select(Promise)).all()
        disputes = session.scalars(
            select(ReviewItem).where(ReviewItem.intent == "dispute", ReviewItem.status == "open")
        ).all()
        assert disputes
        # Every reply a person wrote is threaded on one of our reminders (In-Reply-To = its Message-ID).
        ours = set(session.scalars(select(OutboxMessage.message_id)))
        for row in session.scalars(select(InboundMessage)):
            parsed = email.message_from_bytes(row.raw, policy=email.policy.default)
            if parsed["In-Reply-To"]:
                assert parsed["In-Reply-To"] in ours
        # Users exist with the passwords the demo printed.
        for name, password in demo.users.items():
            assert verify_login(session, name, password) is not None
    engine.dispose()
