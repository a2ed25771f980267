"""``relance demo``: several weeks of dunning played in seconds on a fresh machine, then the web UI.

Everything runs through the real code: the CSV imports, the planner and ``run_cycle``, the outbox delivering
to a local folder (each reminder saved as ``.eml``), debtors' replies dropped into a Maildir and read by the
``InboxProcessor`` (parsing, classification, matching, actions, review queue). Only the clock is simulated:
a ``FixedClock`` moved day by day, with a morning run (imports, promises, cycle, sending) and an afternoon
run (replies arrive, the inbox is read, acknowledgements leave).

The demo ignores RELANCE_* server settings on purpose: it never touches a real database, IMAP or SMTP server.
"""

from __future__ import annotations

import asyncio
import logging
import mailbox
import os
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.models import (
    ClassificationRecord,
    Client,
    Contact,
    Invoice,
    OutboxMessage,
    Promise,
    ReviewItem,
    Task,
)
from bot.app.client_import import import_clients
from bot.app.clock import FixedClock
from bot.app.demo_replies import RESOURCES, Debtor, ReminderSent, build_reply, load_debtors
from bot.app.dunning import run_cycle
from bot.app.inbound import InboxReport
from bot.app.inbox import InboxProcessor
from bot.app.invoice_import import import_invoices
from bot.app.outbox_delivery import deliver_due
from bot.app.pause_checks import check_payment_claims, check_promises
from bot.app.payment_import import import_payments
from bot.app.runtime import Runtime
from bot.app.settings import Settings, load_settings
from bot.app.wiring import make_renderer, sender_factory

log = logging.getLogger(__name__)

START = date(2026, 10, 5)  # a Monday; the sample ledger's dates are set around it
DAYS = 42
ZONE = ZoneInfo("Europe/Paris")
#: Weekdays the (simulated) accountant exports payments, so the ledger never goes stale.
IMPORT_DAYS = (0, 3)  # Monday, Thursday
DEMO_ROLES = (
    ("admin", "admin"),
    ("collector", "collector"),
    ("author", "template_author"),
    ("viewer", "viewer"),
)


@dataclass
class DemoResult:
    folder: Path
    settings: Settings
    clock: FixedClock
    summary: dict[str, Any]
    users: dict[str, str] = field(default_factory=dict)  # name -> password


def demo_settings(
    folder: Path, config_dir: Path | None = None, *, web_host: str = "127.0.0.1", web_port: int = 8000
) -> Settings:
    """The shipped settings pointed at the demo folder; never an outside server, whatever the env says."""
    # Only where the configuration lives is taken from the environment (the Docker image sets it).
    env = {k: v for k, v in os.environ.items() if k in ("RELANCE_CONFIG_DIR", "RELANCE_TEMPLATES_DIR")}
    base = load_settings(config_dir, env=env)
    return replace(
        base,
        database_url=f"sqlite:///{folder / 'relance.sqlite3'}",
        outbox_dir=folder / "outbox",
        maildir=folder / "maildir",
        imap_host=None,
        smtp_host=None,
        web_host=web_host,
        web_port=web_port,
        secret_key=secrets.token_urlsafe(32),
    )


def reset_folder(folder: Path) -> None:
    """Remove what an earlier demo left in the folder (only the demo's own files)."""
    for name in ("relance.sqlite3", "relance.sqlite3-wal", "relance.sqlite3-shm"):
        (folder / name).unlink(missing_ok=True)
    for name in ("outbox", "maildir", "imports"):
        shutil.rmtree(folder / name, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)


@dataclass
class _Pending:
    due: date
    debtor: Debtor
    reminder: ReminderSent


class Simulation:
    def __init__(
        self,
        folder: Path,
        settings: Settings,
        *,
        start: date = START,
        days: int = DAYS,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.folder, self.settings, self.start, self.days = folder, settings, start, days
        self.progress = progress or (lambda _line: None)
        self.clock = FixedClock(self._at(start, 11))
        self.rt = Runtime(settings, _clock=self.clock)
        self.debtors = load_debtors()
        self.inbox = InboxReport()
        self.reminders_seen: Counter[str] = Counter()
        self.last_outbox_id = 0
        self.pending: list[_Pending] = []
        self.payments: list[tuple[date, str, Decimal, str]] = []  # (paid_on, invoice, amount, reference)
        self.imported: set[str] = set()
        self.serial = 0
        self.stale_days = 0

    @staticmethod
    def _at(day: date, hour: int, minute: int = 0) -> datetime:
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)

    @property
    def factory(self) -> sessionmaker[Session]:
        return self.rt.sessions

    def run(self) -> dict[str, Any]:
        from bot.adapters.maildir import MaildirMailbox
        from bot.adapters.profiles_yaml import load_profiles

        started = time.monotonic()
        now = self.clock.now()
        profiles = set(load_profiles(self.rt.profiles_path).profiles)
        import_clients(self.factory, RESOURCES / "clients.csv", now=now, profiles=profiles)
        import_invoices(self.factory, RESOURCES / "invoices.csv", now=now)
        import_payments(self.factory, RESOURCES / "payments.csv", now=now)
        self.renderer = make_renderer(self.settings, self.factory)
        self.processor = InboxProcessor(self.factory, self.settings, self.clock, self.renderer)
        self.maildir = MaildirMailbox(self.settings.maildir)
        try:
            for offset in range(self.days):
                self._day(self.start + timedelta(days=offset), first=offset == 0)
        finally:
            self.maildir.close()
        return self.summary(time.monotonic() - started)

    # ------------------------------------------------------------- one simulated day

    def _day(self, day: date, *, first: bool) -> None:
        self.clock.set(self._at(day, 11))
        if not first and (day.weekday() in IMPORT_DAYS or any(p[0] == day for p in self.payments)):
            self._import_payments(day)
        check_promises(self.factory, self.settings, self.clock)
        check_payment_claims(self.factory, self.settings, self.clock)
        report = run_cycle(self.factory, self.settings, self.clock, self.renderer, refuse_when_stale=False)
        self.stale_days += bool(report.blocked.get("stale ledger"))
        self._deliver()
        self._note_reminders(day)
        self.clock.set(self._at(day, 15))
        self._replies(day)
        self.processor.run_once(self.maildir, self.inbox)
        self._deliver()  # acknowledgements (invoice copies, promise confirmations)
        if day.weekday() == 6:
            self.progress(
                f"week to {day.isoformat()}: {sum(self.reminders_seen.values())} reminders so far, "
                f"{sum(self.inbox.intents.values())} replies read"
            )

    def _deliver(self) -> None:
        asyncio.run(
            deliver_due(
                self.factory,
                sender_factory(self.settings),
                self.clock,
                envelope_from=self.settings.from_address,
                worker="demo",
            )
        )

    def _import_payments(self, day: date) -> None:
        due = [p for p in self.payments if p[0] <= day and p[3] not in self.imported]
        folder = self.folder / "imports"
        folder.mkdir(exist_ok=True)
        path = folder / f"payments-{day.isoformat()}.csv"
        lines = ["invoice_number,amount,paid_on,reference"]
        lines += [
            f"{number},{amount:.2f},{paid_on.isoformat()},{ref}" for paid_on, number, amount, ref in due
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        import_payments(self.factory, path, now=self.clock.now())
        self.imported.update(p[3] for p in due)

    def _note_reminders(self, day: date) -> None:
        """Reminders that left today: the debtors who answer that one get a reply scheduled."""
        with self.factory() as session:
            rows = list(
                session.scalars(
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.kind == "reminder",
                        OutboxMessage.status == "sent",
                        OutboxMessage.id > self.last_outbox_id,
                    )
                    .order_by(OutboxMessage.id)
                )
            )
            for row in rows:
                self.last_outbox_id = row.id
                self.reminders_seen[row.client_id] += 1
                debtor = self.debtors.get(row.client_id)
                if debtor is None or debtor.reply_to_reminder != self.reminders_seen[row.client_id]:
                    continue
                client = session.get(Client, row.client_id)
                invoices = [session.get(Invoice, n) for n in row.invoice_numbers]
                open_invoices = [i for i in invoices if i is not None]
                assert client is not None and open_invoices
                balance = sum((i.amount - i.amount_paid for i in open_invoices), Decimal(0))
                reminder = ReminderSent(
                    message_id=row.message_id,
                    recipient=row.recipients[0],
                    subject=row.subject,
                    raw=row.raw,
                    sent_at=row.sent_at or self.clock.now(),
                    client_id=client.client_id,
                    client_name=client.name,
                    language=client.language,
                    invoice_numbers=tuple(row.invoice_numbers),
                    balance=balance,
                    currency=open_invoices[0].currency,
                )
                self.pending.append(_Pending(day + timedelta(days=debtor.delay_days), debtor, reminder))

    def _replies(self, day: date) -> None:
        """Debtors whose reply is due today write it; it lands in the Maildir like a delivered message."""
        box = mailbox.Maildir(self.settings.maildir, create=True)
        for item in [p for p in self.pending if p.due <= day]:
            self.pending.remove(item)
            self.serial += 1
            at = self._at(day, 14, 10 + self.serial % 40)
            raw, promised, _paid = build_reply(
                item.debtor,
                item.reminder,
                at=at,
                serial=self.serial,
                creditor_address=self.settings.from_address,
                creditor_name=self.settings.company.name,
            )
            box.add(raw)
            self._schedule_payment(item, day, promised)
        box.close()

    def _schedule_payment(self, item: _Pending, day: date, promised: date | None) -> None:
        when = {"on_promise": promised, "after_reply": day + timedelta(days=2)}.get(item.debtor.pays)
        if when is None:
            return
        with self.factory() as session:
            for number in item.reminder.invoice_numbers:
                invoice = session.get(Invoice, number)
                if invoice is not None and invoice.amount > invoice.amount_paid:
                    self.payments.append(
                        (when, number, invoice.amount - invoice.amount_paid, f"VIR-{number}-{when:%m%d}")
                    )

    # ------------------------------------------------------------- what happened

    def summary(self, duration_s: float) -> dict[str, Any]:
        def grouped(session: Session, *columns: Any, where: Any = None) -> dict[str, int]:
            query = select(*columns, func.count()).group_by(*columns)
            if where is not None:
                query = query.where(where)
            return {":".join(str(v) for v in row[:-1]): row[-1] for row in session.execute(query)}

        with self.factory() as session:
            reminder = OutboxMessage.kind == "reminder"
            return {
                "simulated": {
                    "from": self.start.isoformat(),
                    "to": (self.start + timedelta(days=self.days - 1)).isoformat(),
                    "days": self.days,
                },
                "duration_s": round(duration_s, 2),
                "reminders": grouped(
                    session, OutboxMessage.step, where=reminder & (OutboxMessage.status == "sent")
                ),
                "acknowledgements": grouped(
                    session,
                    OutboxMessage.template,
                    where=(OutboxMessage.kind != "reminder") & (OutboxMessage.status == "sent"),
                ),
                "outbox_not_sent": grouped(
                    session, OutboxMessage.status, where=OutboxMessage.status != "sent"
                ),
                "replies": grouped(session, ClassificationRecord.intent),
                "inbox": self.inbox.as_dict(),
                "invoices": grouped(session, Invoice.state),
                "review_items": grouped(
                    session, ReviewItem.kind, ReviewItem.intent, where=ReviewItem.status == "open"
                ),
                "tasks": grouped(session, Task.kind, where=Task.status == "open"),
                "promises": grouped(session, Promise.status),
                "contacts_bouncing": sorted(
                    session.scalars(select(Contact.email).where(Contact.status == "bouncing"))
                ),
                "clients_paused": sorted(
                    session.scalars(select(Client.client_id).where(Client.paused_until.is_not(None)))
                ),
                "days_with_stale_ledger": self.stale_days,
                "paths": {
                    "folder": str(self.folder),
                    "database": self.settings.database_url,
                    "outbox": str(self.settings.outbox_dir),
                    "maildir": str(self.settings.maildir),
                },
            }


def create_demo_users(factory: sessionmaker[Session]) -> dict[str, str]:
    """One user per role with a fresh random password (printed once by the CLI)."""
    from bot.app.users import add_user

    passwords: dict[str, str] = {}
    with factory() as session, session.begin():
        for name, role in DEMO_ROLES:
            passwords[name] = secrets.token_urlsafe(12)
            add_user(session, name, role, passwords[name])
    return passwords


def run_demo(
    folder: Path,
    *,
    config_dir: Path | None = None,
    web_host: str = "127.0.0.1",
    web_port: int = 8000,
    days: int = DAYS,
    progress: Callable[[str], None] | None = None,
) -> DemoResult:
    """Reset the folder, play the simulation, create the demo users; returns the summary and passwords."""
    folder = folder.resolve()
    reset_folder(folder)
    settings = demo_settings(folder, config_dir, web_host=web_host, web_port=web_port)
    simulation = Simulation(folder, settings, days=days, progress=progress)
    summary = simulation.run()
    users = create_demo_users(simulation.factory)
    simulation.rt.engine.dispose()
    return DemoResult(folder, settings, simulation.clock, summary, users)
