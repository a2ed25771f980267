"""Delivering the outbox: claim due rows, send them over a few SMTP sessions, record each outcome.

An accepted message is marked sent at once (``outbox_claim.SentMarker``); a temporary failure is retried
with backoff until the row's deadline, after which (or on a permanent refusal) the row fails and a person
gets a call task.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import WalCheckpointer, transaction
from bot.adapters.db.models import Contact, OutboxMessage
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
