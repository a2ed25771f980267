"""Servers failing (issue 9 §2): SMTP 421/451/550, bad TLS certificates, a locked SQLite, a dropped PostgreSQL.

Each test drives the application code (outbox delivery, inbox processing) against a real server with a fault
injected, and checks the promise on the database afterwards: retries until the deadline then a call task; a
permanent refusal marks the contact once, without a retry storm (attempts are counted on the server); TLS is
refused rather than downgraded; a database fault leaves no half-applied state. IMAP restarts during IDLE are
in ``test_imap_restarts.py``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import open_database, session_factory
from bot.adapters.db.models import AuditEntry, Contact, InboundMessage, OutboxMessage, Promise, Task
from bot.adapters.mail_build import build_mail, make_message_id
from bot.adapters.smtp import SmtpSender
from bot.app.client_import import import_clients
from bot.app.clock import FixedClock
from bot.app.inbound import InboxReport
from bot.app.inbox import InboxProcessor
from bot.app.invoice_import import import_invoices
from bot.app.outbox import add_to_outbox
from bot.app.outbox_delivery import DeliveryReport, deliver_due
from bot.app.settings import load_settings
from bot.app.wiring import make_renderer
from bot.domain.errors import ConfigError
from bot.ports import InboundMail, MailSender, RenderedMail
from tests.servers.smtp_server import SmtpTestServer, _Fault

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
TO = "compta@alpha.test"


def ledger(url: str, folder: Path) -> sessionmaker[Session]:
    factory = session_factory(open_database(url))
    (folder / "c.csv").write_text(
        f"client_id,name,email,language,profile\nA1,Atelier Alpha,{TO},fr,standard\n", encoding="utf-8"
    )
    (folder / "i.csv").write_text(
        "invoice_number,client_id,issue_date,due_date,amount,currency,amount_paid\n"
        "INV-1,A1,2026-10-01,2026-11-02,1200.00,EUR,0\n",
        encoding="utf-8",
    )
    import_clients(factory, folder / "c.csv", now=NOW, profiles={"standard"})
    import_invoices(factory, folder / "i.csv", now=NOW)
    return factory


def queue_reminder(factory: sessionmaker[Session], deadline: timedelta) -> str:
    message_id = make_message_id("reminder:A1:INV-1:first", "relance.test")
    mail = build_mail(
        sender="collections@relance.test",
        sender_name="Credit control",
        to=[TO],
        reply_to=None,
        subject="Relance facture INV-1",
        text="Bonjour,\n",
        html="<p>Bonjour,</p>",
        message_id=message_id,
        date=NOW,
    )
    with factory() as s, s.begin():
        add_to_outbox(
            s,
            key="reminder:A1:INV-1:first",
            mail=mail,
            kind="reminder",
            client_id="A1",
            invoice_numbers=["INV-1"],
            step="first",
            template="reminder_1",
            language="fr",
            subject="Relance facture INV-1",
            now=NOW,
            deadline=deadline,
        )
    return message_id


def server_attempts(server: SmtpTestServer, budget: int) -> int:
    """How many times the injected fault answered (each answer is one delivery attempt reaching the server)."""
    fault: _Fault = server.state.faults[0]
    assert fault.remaining is not None
    return budget - fault.remaining


def deliver(factory: sessionmaker[Session], clock: FixedClock, senders: Callable[[], MailSender]) -> DeliveryReport:
    return asyncio.run(deliver_due(factory, senders, clock, envelope_from="collections@relance.test"))


def row(factory: sessionmaker[Session]) -> OutboxMessage:
    with factory() as s:
        found = s.scalar(select(OutboxMessage))
        assert found is not None
        return found


# ---------------------------------------------------------------------------------------- SMTP 4xx / 5xx


@pytest.mark.parametrize("code", [421, 451])
def test_temporary_refusals_retry_until_the_deadline_then_a_call_task(
    tmp_path: Path, smtp_server: SmtpTestServer, code: int
) -> None:
    factory = ledger(f"sqlite:///{tmp_path / 'r.db'}", tmp_path)
    queue_reminder(factory, deadline=timedelta(hours=6))
    budget = 1000
    smtp_server.fail(code, count=budget, stage="MAIL")
    clock = FixedClock(NOW)
    passes = 0
    while row(factory).status != "failed":
        passes += 1
        assert passes < 50, "still retrying long after the deadline"
        deliver(factory, clock, lambda: SmtpSender(smtp_server.host, smtp_server.port, tls="none", timeout=5))
        current = row(factory)
        if current.status == "pending":
            assert current.next_attempt_at > clock.now()  # backoff: never hammered again at once
            clock.set(current.next_attempt_at)
    final = row(factory)
    attempts = server_attempts(smtp_server, budget)
    print(f"smtp {code}: {attempts} attempts, failed at +{clock.now() - NOW}")
    assert attempts == final.attempts == passes, "one server attempt per retry, no hidden retries"
    assert 6 <= attempts <= 16, f"{attempts} attempts over 6 hours"  # backoff 60 s doubling, capped at 1 h, +-20 %
    # No retry is scheduled past the deadline (test_no_retry_is_scheduled_after_the_deadline below).
    assert clock.now() <= NOW + timedelta(hours=6, minutes=12)
    assert smtp_server.accepted == []
    with factory() as s:
        task = s.scalar(select(Task).where(Task.source_key == f"send-failed:{final.message_id}"))
        assert task is not None and task.kind == "call" and "deadline" in task.reason
        contact = s.scalar(select(Contact).where(Contact.email == TO))
        assert contact is not None and contact.status == "active"  # a busy server says nothing of the address


def test_no_retry_is_scheduled_after_the_deadline(tmp_path: Path, smtp_server: SmtpTestServer) -> None:
    factory = ledger(f"sqlite:///{tmp_path / 'r.db'}", tmp_path)
    with factory() as s, s.begin():
        for i in range(60):  # first backoff: 60 s +/- 20 %; a 65 s deadline straddles it
            mail = build_mail(
                sender="collections@relance.test",
                sender_name="Credit control",
                to=[TO],
                reply_to=None,
                subject=f"R{i}",
                text="x\n",
                html="<p>x</p>",
                message_id=make_message_id(f"k{i}", "relance.test"),
                date=NOW,
            )
            add_to_outbox(
                s,
                key=f"k{i}",
                mail=mail,
                kind="reminder",
                client_id="A1",
                invoice_numbers=["INV-1"],
                step="first",
                template="reminder_1",
                language="fr",
                subject=f"R{i}",
                now=NOW,
                deadline=timedelta(seconds=65),
            )
    smtp_server.fail(451, count=1000, stage="MAIL")
    deliver(factory, FixedClock(NOW), lambda: SmtpSender(smtp_server.host, smtp_server.port, tls="none", timeout=5))
    with factory() as s:
        late = [
            r.message_id
            for r in s.scalars(select(OutboxMessage))
            if r.status == "pending" and r.next_attempt_at > r.deadline_at
        ]
    assert late == []


def test_temporary_refusals_then_recovery_send_exactly_once(tmp_path: Path, smtp_server: SmtpTestServer) -> None:
    factory = ledger(f"sqlite:///{tmp_path / 'r.db'}", tmp_path)
    message_id = queue_reminder(factory, deadline=timedelta(hours=48))
    smtp_server.fail(451, count=3, stage="DATA")
    clock = FixedClock(NOW)
    for _ in range(10):
        deliver(factory, clock, lambda: SmtpSender(smtp_server.host, smtp_server.port, tls="none", timeout=5))
        if row(factory).status == "sent":
            break
        clock.set(row(factory).next_attempt_at)
    assert row(factory).status == "sent" and row(factory).attempts == 4
    assert smtp_server.accepted_ids() == [message_id]
    with factory() as s:
        assert s.scalar(select(Task)) is None


def test_permanent_refusal_marks_the_contact_once_without_a_retry_storm(
    tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    factory = ledger(f"sqlite:///{tmp_path / 'r.db'}", tmp_path)
    queue_reminder(factory, deadline=timedelta(hours=48))
    budget = 100
    smtp_server.fail(550, count=budget, stage="RCPT")
    clock = FixedClock(NOW)
    for _ in range(5):  # the daemon keeps running its outbox loop for days
        deliver(factory, clock, lambda: SmtpSender(smtp_server.host, smtp_server.port, tls="none", timeout=5))
        clock.advance(timedelta(hours=12))
    assert server_attempts(smtp_server, budget) == 1
    final = row(factory)
    assert final.status == "failed" and final.attempts == 1
    with factory() as s:
        contact = s.scalar(select(Contact).where(Contact.email == TO))
        assert contact is not None and contact.status == "bouncing"
        tasks = list(s.scalars(select(Task)))
        assert len(tasks) == 1 and "refused" in tasks[0].reason
        marks = list(s.scalars(select(AuditEntry).where(AuditEntry.entity == "contact")))
        assert [a.action for a in marks] == ["bouncing"]


# ---------------------------------------------------------------------------------------- TLS


@pytest.mark.parametrize("mode", ["ssl", "starttls"])
def test_untrusted_smtp_certificate_is_refused_never_plaintext(tmp_path: Path, mode: str) -> None:
    """The application path: the sender built from settings (system CAs) meets a self-signed certificate."""
    from bot.app.wiring import sender_factory

    factory = ledger(f"sqlite:///{tmp_path / 'r.db'}", tmp_path)
    queue_reminder(factory, deadline=timedelta(hours=48))
    with SmtpTestServer(tmp_path, tls=mode) as server:
        settings = load_settings(
            ROOT / "config",
            env={"RELANCE_SMTP_HOST": "localhost", "RELANCE_SMTP_PORT": str(server.port), "RELANCE_SMTP_TLS": mode},
        )
        with pytest.raises(ConfigError, match="(?i)certificate|TLS"):
            deliver(factory, FixedClock(NOW), sender_factory(settings))
        assert server.accepted == []
        assert server.connections == 0  # no MAIL FROM ever reached it: nothing was said in plaintext
    status = row(factory).status
    print(f"smtp tls {mode}: row left {status!r}")
    assert status != "sent"


def test_a_configuration_error_releases_the_claimed_rows(tmp_path: Path) -> None:
    from bot.app.wiring import sender_factory

    factory = ledger(f"sqlite:///{tmp_path / 'r.db'}", tmp_path)
    queue_reminder(factory, deadline=timedelta(hours=48))
    with SmtpTestServer(tmp_path, tls="ssl") as server:
        settings = load_settings(
            ROOT / "config",
            env={"RELANCE_SMTP_HOST": "localhost", "RELANCE_SMTP_PORT": str(server.port), "RELANCE_SMTP_TLS": "ssl"},
        )
        with pytest.raises(ConfigError):
            deliver(factory, FixedClock(NOW), sender_factory(settings))
    assert row(factory).status == "pending"


# ---------------------------------------------------------------------------------------- databases

PROMISE = (
    b"From: Claire <compta@alpha.test>\r\nTo: collections@relance.test\r\nSubject: RE: Relance facture INV-1\r\n"
    b"Date: Tue, 03 Nov 2026 10:12:00 +0100\r\nMessage-ID: <promise-db@alpha.test>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nBonjour,\r\n\r\nNous reglerons la facture INV-1 par virement "
    b"le 20/11/2026.\r\n\r\nCordialement\r\n"
)
MAIL = InboundMail("db:INBOX", 1, 1, PROMISE)


def effects(factory: sessionmaker[Session]) -> tuple[int, int, int, int]:
    """(inbound rows, invoice changes by the bot, promises, outbox rows): all or nothing of one reply."""
    with factory() as s:
        return (
            len(list(s.scalars(select(InboundMessage.id)))),
            len(
                list(s.scalars(select(AuditEntry.id).where(AuditEntry.entity == "invoice", AuditEntry.actor == "bot")))
            ),
            len(list(s.scalars(select(Promise.id)))),
            len(list(s.scalars(select(OutboxMessage.id)))),
        )


def statuses(factory: sessionmaker[Session]) -> list[str]:
    with factory() as s:
        return list(s.scalars(select(InboundMessage.status)))


def processor(factory: sessionmaker[Session], renderer: Any = None) -> InboxProcessor:
    cfg = load_settings(ROOT / "config", env={})
    return InboxProcessor(factory, cfg, FixedClock(NOW), renderer or make_renderer(cfg))


def attempt(proc: InboxProcessor) -> tuple[str | None, InboxReport, BaseException | None]:
    report = InboxReport()
    try:
        return proc.process(MAIL, report), report, None
    except Exception as exc:  # noqa: BLE001 - a clean failure is allowed; what it left behind is checked
        return None, report, exc


def hold_write_lock(path: Path, seconds: float, ready: threading.Event) -> None:
    with closing(sqlite3.connect(path, isolation_level=None, timeout=30)) as other:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE clients SET name = name")
        ready.set()
        time.sleep(seconds)
        other.execute("ROLLBACK")


def test_sqlite_locked_the_reply_fails_cleanly_or_waits_and_lands_once(tmp_path: Path) -> None:
    """Another connection holds the write lock for 2 s while a reply is processed, then the next pass runs."""
    factory = ledger(f"sqlite:///{tmp_path / 'r.db'}", tmp_path)
    ready = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(tmp_path / "r.db", 2.0, ready))
    holder.start()
    ready.wait(10)
    started = time.monotonic()
    folder, report, error = attempt(processor(factory))
    took = time.monotonic() - started
    holder.join()
    print(f"sqlite locked: first attempt -> {folder} {type(error).__name__ if error else ''} after {took:.2f} s")
    if error is not None:
        assert effects(factory) == (0, 0, 0, 0), "half-applied: something of the failed reply was kept"
    folder, report, error = attempt(processor(factory))  # the listener's next pass
    assert error is None
    assert statuses(factory) == ["processed"], "the reply was quarantined or doubled because the database was busy"
    assert effects(factory) == (1, 1, 1, 1)


def test_sqlite_locked_for_a_moment_the_reply_waits(tmp_path: Path) -> None:
    factory = ledger(f"sqlite:///{tmp_path / 'r.db'}", tmp_path)
    ready = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(tmp_path / "r.db", 1.0, ready))
    holder.start()
    ready.wait(10)
    folder, _report, error = attempt(processor(factory))
    holder.join()
    assert error is None and folder == "relance/processed"


class _CutConnection:
    """A renderer that, on its first call (inside the reply's transaction), kills every app backend."""

    def __init__(self, inner: Any, kill: Callable[[], int]) -> None:
        self.inner, self.kill, self.killed = inner, kill, 0

    def render(self, name: str, language: str, context: dict[str, object]) -> RenderedMail:
        if not self.killed:
            self.killed = self.kill()
        return self.inner.render(name, language, context)

    def names(self) -> Any:
        return self.inner.names()

    def variables(self, name: str, language: str) -> Any:
        return self.inner.variables(name, language)


def cut_mid_reply(postgres_url: str, postgres_server: Any, folder: Path) -> tuple[sessionmaker[Session], int]:
    """Process the reply while every backend of its database is terminated in the middle of its transaction."""
    import psycopg

    factory = ledger(postgres_url, folder)
    database = postgres_url.rsplit("/", 1)[1]

    def kill() -> int:
        with psycopg.connect(postgres_server.dsn(), autocommit=True) as admin:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchall()
        return len(rows)

    cut = _CutConnection(make_renderer(load_settings(ROOT / "config", env={})), kill)
    attempt(processor(factory, cut))
    assert cut.killed >= 1, "the backend was never terminated: the test did not test anything"
    return factory, cut.killed


@pytest.mark.postgres
def test_postgres_connection_lost_mid_reply_leaves_nothing_half_applied(
    tmp_path: Path, postgres_url: str, postgres_server: Any
) -> None:
    factory, _ = cut_mid_reply(postgres_url, postgres_server, tmp_path)
    _inbound, changes, promises, outbox = effects(factory)
    assert (changes, promises, outbox) == (0, 0, 0), "half-applied: effects kept from a rolled-back reply"
    assert statuses(factory) in ([], ["quarantined"])
    print(f"postgres cut: after the cut {statuses(factory)}")


@pytest.mark.postgres
def test_postgres_connection_lost_mid_reply_is_retried_not_quarantined(
    tmp_path: Path, postgres_url: str, postgres_server: Any
) -> None:
    factory, _ = cut_mid_reply(postgres_url, postgres_server, tmp_path)
    attempt(processor(factory))  # the listener's next pass
    assert statuses(factory) == ["processed"] and effects(factory) == (1, 1, 1, 1)


def test_untrusted_imap_certificate_is_refused_never_plaintext(tmp_path: Path, make_dovecot: Any) -> None:
    """The application path: the mailbox built from settings (system CAs) meets a self-signed certificate."""
    from bot.app.wiring import open_mailbox

    server = make_dovecot(tls=True)
    server.start()
    user = server.add_user()
    server.deliver(user, PROMISE)
    factory = ledger(f"sqlite:///{tmp_path / 'r.db'}", tmp_path)
    for mode, port in (("ssl", server.tls_port), ("starttls", server.port)):
        settings = load_settings(
            ROOT / "config",
            env={
                "RELANCE_IMAP_HOST": "127.0.0.1",
                "RELANCE_IMAP_PORT": str(port),
                "RELANCE_IMAP_TLS": mode,
                "RELANCE_IMAP_USER": user.name,
                "RELANCE_IMAP_PASSWORD": user.password,
            },
        )
        mailbox = open_mailbox(settings)
        try:
            with pytest.raises(ConfigError, match="TLS"):
                processor(factory).run_once(mailbox)
        finally:
            mailbox.close()
    assert f"user=<{user.name}>" not in server.log_tail(500), "credentials reached the server"
    assert statuses(factory) == []
