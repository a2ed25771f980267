"""The durable outbox: record first, then send, then mark sent (DESIGN.md, "Reliability promises").

A message is rendered and stored with a unique idempotency key and a deterministic Message-ID in the same
transaction as the decision that caused it. Workers then claim due rows, send them, and record the outcome.
A crash after the server accepted a message but before the "sent" commit leaves the row in ``sending``; once
its claim expires another worker sends it again and logs it as *possibly sent twice* — the only window where a
duplicate can happen, and the Message-ID lets the recipient's mail system drop it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import WalCheckpointer, transaction
from bot.adapters.db.models import Contact, OutboxMessage
from bot.app.bulk_insert import insert_many
from bot.app.follow_up import mark_bouncing, raise_call_task
from bot.app.outbox_claim import ClaimedMessage, SentMarker, claim
from bot.domain.errors import ConfigError, PermanentError, TemporaryError
from bot.ports import Clock, MailSender, OutgoingMail

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    possibly_duplicated: list[str] = field(default_factory=list)

    def __iadd__(self, other: DeliveryReport) -> DeliveryReport:
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.possibly_duplicated += other.possibly_duplicated
        return self


def add_to_outbox(
    session: Session,
    *,
    key: str,
    mail: OutgoingMail,
    kind: str,
    client_id: str,
    invoice_numbers: Sequence[str],
    step: str | None,
    template: str,
    language: str,
    subject: str,
    now: datetime,
    deadline: timedelta,
    not_before: datetime | None = None,
    fresh_key: bool = False,
) -> OutboxMessage | None:
    """Record a message to send; returns None when the key is already there (never twice).

    ``fresh_key``: the caller knows no stored row can hold ``key`` (made from something recorded for the first
    time in this transaction), so only the keys this session added are checked; the unique index still guards.
    """
    return add_outbox_row(
        session,
        outbox_values(
            key=key,
            mail=mail,
            kind=kind,
            client_id=client_id,
            invoice_numbers=invoice_numbers,
            step=step,
            template=template,
            language=language,
            subject=subject,
            now=now,
            deadline=deadline,
            not_before=not_before,
        ),
        fresh_key=fresh_key,
    )


def add_outbox_row(session: Session, values: dict[str, Any], *, fresh_key: bool = False) -> OutboxMessage | None:
    """Add the row of ``outbox_values`` to the session; None when its key is already recorded (never twice)."""
    key = values["idempotency_key"]
    # Callers record many messages per transaction: reading without a flush lets their rows go to the database
    # in a few multi-row INSERTs; the rows not flushed yet are checked in memory.
    known = None
    if not fresh_key:
        with session.no_autoflush:
            known = session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key))
    if known is not None or not claim_key(session, key):
        return None
    row = OutboxMessage(**values)
    session.add(row)
    return row


def claim_key(session: Session, key: str) -> bool:
    """True the first time this session records ``key``; False if it already did (flushed or not)."""
    # A set, because a cycle adds hundreds of keys per transaction.
    added: set[str] = session.info.setdefault("outbox_keys", set())
    if key in added:
        return False
    added.add(key)
    return True


def outbox_values(
    *,
    key: str,
    mail: OutgoingMail,
    kind: str,
    client_id: str,
    invoice_numbers: Sequence[str],
    step: str | None,
    template: str,
    language: str,
    subject: str,
    now: datetime,
    deadline: timedelta,
    not_before: datetime | None = None,
) -> dict[str, Any]:
    """Every column of a new ``pending`` outbox row, for ``OutboxMessage(**values)`` or ``insert_outbox``."""
    return {
        "idempotency_key": key,
        "message_id": mail.message_id,
        "kind": kind,
        "client_id": client_id,
        "invoice_numbers": list(invoice_numbers),
        "step": step,
        "template": template,
        "language": language,
        "recipients": list(mail.recipients),
        "subject": subject,
        "raw": mail.data,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": not_before or now,
        "deadline_at": (not_before or now) + deadline,
        "created_at": now,
        "last_error": None,
        "claimed_by": None,
        "claimed_at": None,
        "sent_at": None,
    }


def insert_outbox(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Write new outbox rows (from ``outbox_values``) in the caller's transaction, a few multi-row INSERTs.

    Durable when the caller's transaction commits, which is before anything is sent: the rows carry their
    idempotency key and Message-ID, and the unique indexes refuse a second row for either.
    """
    # On the table, not the mapped class: the ORM's bulk-insert layer cost as much as the INSERT itself.
    insert_many(session.connection(), cast(Table, OutboxMessage.__table__), rows)


def _backoff(attempts: int) -> timedelta:
    base = min(timedelta(seconds=30 * 2 ** min(attempts, 10)), MAX_BACKOFF)
    return base * random.uniform(0.8, 1.2)


async def _send_one(sender: MailSender, row: ClaimedMessage, envelope_from: str) -> Exception | None:
    try:
        await sender.send(OutgoingMail(row.message_id, envelope_from, tuple(row.recipients), row.raw))
        return None
    except (TemporaryError, PermanentError) as exc:
        return exc


def _record(
    factory: sessionmaker[Session],
    clock: Clock,
    results: list[tuple[ClaimedMessage, Exception | None]],
    report: DeliveryReport,
) -> None:
    now = clock.now()
    with transaction(factory) as session:
        sent = [row.id for row, error in results if error is None]
        for start in range(0, len(sent), 500):
            # Every accepted message of the batch in one statement (they were all claimed by this worker).
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(sent[start : start + 500]))
                .values(
                    status="sent",
                    sent_at=now,
                    attempts=OutboxMessage.attempts + 1,
                    claimed_by=None,
                    last_error=None,
                )
                .execution_options(synchronize_session=False)
            )
        report.sent += len(sent)
        for row, error in results:
            if error is None:
                continue
            delay = _backoff(row.attempts + 1)  # drawn once: the deadline check and the schedule must agree
            if isinstance(error, TemporaryError) and now + delay < row.deadline_at:
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row.id)
                    .values(
                        status="pending",
                        attempts=row.attempts + 1,
                        next_attempt_at=now + delay,
                        claimed_by=None,
                        last_error=str(error)[:500],
                    )
                )
                report.retried += 1
            else:
                _fail(session, row, error, now)
                report.failed += 1


def _fail(session: Session, row: ClaimedMessage, error: Exception, now: datetime) -> None:
    permanent = isinstance(error, PermanentError)
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row.id)
        .values(status="failed", attempts=row.attempts + 1, claimed_by=None, last_error=str(error)[:500])
    )
    if permanent:
        for contact in session.scalars(
            select(Contact).where(Contact.client_id == row.client_id, Contact.email.in_(row.recipients))
        ):
            mark_bouncing(
                session,
                contact,
                now=now,
                detail=f"SMTP refused {row.message_id}: {str(error)[:200]}",
                reason=f"permanent SMTP failure sending {row.template}: {str(error)[:200]}",
            )
    why = "refused by the mail server" if permanent else "could not be delivered before the deadline"
    raise_call_task(
        session,
        key=f"send-failed:{row.message_id}",
        client_id=row.client_id,
        invoice_numbers=row.invoice_numbers,
        reason=f"{row.template} e-mail {why}: {str(error)[:200]}",
        now=now,
    )
    log.warning("outbox %s failed (%s): %s", row.message_id, "permanent" if permanent else "deadline", error)


def _release(factory: sessionmaker[Session], ids: list[int], worker: str) -> None:
    if not ids:
        return
    with transaction(factory) as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == "sending", OutboxMessage.claimed_by == worker)
            .values(status="pending", claimed_by=None, claimed_at=None)
            .execution_options(synchronize_session=False)
        )


async def deliver_due(
    factory: sessionmaker[Session],
    senders: Callable[[], MailSender],
    clock: Clock,
    *,
    envelope_from: str,
    worker: str = "worker",
    batch: int = 20,
    concurrency: int = 1,
    lease: timedelta = timedelta(minutes=10),
    stop: asyncio.Event | None = None,
) -> DeliveryReport:
    """Send everything due now, ``concurrency`` SMTP sessions at a time; returns counts.

    Rows are claimed ``batch`` at a time, the next batch as soon as the last one is all handed out: a session
    that finished does not wait for the slowest of the batch (at most ``batch`` claimed rows wait to be sent,
    plus one on the wire per session). The first error stops every session after its current message.
    """
    report = DeliveryReport()
    pool = [senders() for _ in range(max(1, concurrency))]
    sent_marker = SentMarker(factory.kw["bind"])
    checkpointer = WalCheckpointer(factory.kw["bind"])
    queue: deque[ClaimedMessage] = deque()
    unrecorded: dict[int, ClaimedMessage] = {}  # claimed by this run, outcome not recorded yet
    failures: list[BaseException] = []
    exhausted = False

    def next_row() -> ClaimedMessage | None:
        nonlocal exhausted
        if failures:
            return None
        if not queue and not exhausted:
            if stop is not None and stop.is_set():
                exhausted = True
                return None
            rows, takeovers = claim(factory, clock, worker, batch, lease)
            report.possibly_duplicated += takeovers
            exhausted = len(rows) < batch
            queue.extend(rows)
            unrecorded.update((row.id, row) for row in rows)
        return queue.popleft() if queue else None

    async def work(sender: MailSender) -> None:
        try:
            while (row := next_row()) is not None:
                outcome = await _send_one(sender, row, envelope_from)
                # Recorded as soon as known: a worker killed mid-run leaves only the messages that were on the
                # wire to be sent again (and logged "possibly sent twice"), not the whole batch.
                if outcome is None:
                    sent_marker.mark(row.id, clock.now())
                    report.sent += 1
                else:
                    _record(factory, clock, [(row, outcome)], report)
                del unrecorded[row.id]
        except BaseException as exc:
            failures.append(exc)
            raise

    try:
        await asyncio.gather(*(work(s) for s in pool), return_exceptions=True)
        if failures:
            if isinstance(failures[0], ConfigError):
                # Bad certificate, refused login: raised before any message data goes out, so nothing is wrong
                # with the messages. Give back every row without an outcome at once, so they neither wait out
                # the lease nor come back as "possibly sent twice".
                _release(factory, list(unrecorded), worker)
            raise failures[0]
    finally:
        checkpointer.close()
        sent_marker.close()
        for sender in pool:
            await sender.close()
    return report
