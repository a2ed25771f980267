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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, bindparam, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import transaction
from bot.adapters.db.models import Contact, OutboxMessage
from bot.app.follow_up import mark_bouncing, raise_call_task
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
    # Callers record many messages per transaction: reading without a flush lets their rows go to the database
    # in a few multi-row INSERTs; the rows not flushed yet are checked in memory.
    known = None
    if not fresh_key:
        with session.no_autoflush:
            known = session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key))
    # Keys recorded by this session so far (flushed or not): a set, because a cycle adds hundreds per transaction.
    added: set[str] = session.info.setdefault("outbox_keys", set())
    if known is not None or key in added:
        return None
    added.add(key)
    row = OutboxMessage(
        idempotency_key=key,
        message_id=mail.message_id,
        kind=kind,
        client_id=client_id,
        invoice_numbers=list(invoice_numbers),
        step=step,
        template=template,
        language=language,
        recipients=list(mail.recipients),
        subject=subject,
        raw=mail.data,
        status="pending",
        attempts=0,
        next_attempt_at=not_before or now,
        deadline_at=(not_before or now) + deadline,
        created_at=now,
    )
    session.add(row)
    return row


def _claim(
    factory: sessionmaker[Session], clock: Clock, worker: str, limit: int, lease: timedelta
) -> tuple[list[OutboxMessage], list[str]]:
    """Take up to ``limit`` due rows for this worker. Stale claims (a worker that died) are taken over."""
    now = clock.now()
    # Leases measure whether a worker process is alive: wall-clock time, even under a simulated clock (--as-of).
    wall = datetime.now(UTC)
    stale_before = wall - lease
    with transaction(factory) as session:
        due = (
            select(OutboxMessage)
            .where(
                or_(
                    (OutboxMessage.status == "pending") & (OutboxMessage.next_attempt_at <= now),
                    (OutboxMessage.status == "sending") & (OutboxMessage.claimed_at < stale_before),
                )
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = list(session.scalars(due))
        claimed: list[OutboxMessage] = []
        takeovers: list[str] = []
        if not rows:
            return claimed, takeovers
        if session.get_bind().dialect.update_returning:
            # One guarded UPDATE for the whole batch: the WHERE re-checks that each row is still due, so a row
            # another worker claimed meanwhile (fresh claimed_at) or sent is left out; RETURNING says which.
            got = set(
                session.scalars(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id.in_([r.id for r in rows]),
                        or_(
                            (OutboxMessage.status == "pending") & (OutboxMessage.next_attempt_at <= now),
                            (OutboxMessage.status == "sending") & (OutboxMessage.claimed_at < stale_before),
                        ),
                    )
                    .values(status="sending", claimed_by=worker, claimed_at=wall)
                    .returning(OutboxMessage.id)
                    .execution_options(synchronize_session=False)
                )
            )
            taken = [row for row in rows if row.id in got]
        else:
            taken = [row for row in rows if _claim_one(session, row, worker, wall)]
        for row in taken:
            claimed.append(row)
            if row.status == "sending":  # as selected: a claim whose worker died
                takeovers.append(row.message_id)
                log.warning(
                    "possibly sent twice: %s was claimed by %s, which stopped mid-send; sending again",
                    row.message_id,
                    row.claimed_by,
                )
    return claimed, takeovers


def _claim_one(session: Session, row: OutboxMessage, worker: str, wall: datetime) -> bool:
    """Claim one row if nobody changed it since it was selected (databases without UPDATE ... RETURNING)."""
    # The guarded UPDATE makes the claim safe on SQLite too, where FOR UPDATE does not exist.
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == row.id,
            OutboxMessage.status == row.status,
            OutboxMessage.claimed_at.is_(None)
            if row.claimed_at is None
            else OutboxMessage.claimed_at == row.claimed_at,
        )
        .values(status="sending", claimed_by=worker, claimed_at=wall)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _backoff(attempts: int) -> timedelta:
    base = min(timedelta(seconds=30 * 2 ** min(attempts, 10)), MAX_BACKOFF)
    return base * random.uniform(0.8, 1.2)


async def _send_one(sender: MailSender, row: OutboxMessage, envelope_from: str) -> Exception | None:
    try:
        await sender.send(OutgoingMail(row.message_id, envelope_from, tuple(row.recipients), row.raw))
        return None
    except (TemporaryError, PermanentError) as exc:
        return exc


def _record(
    factory: sessionmaker[Session],
    clock: Clock,
    results: list[tuple[OutboxMessage, Exception | None]],
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


def _fail(session: Session, row: OutboxMessage, error: Exception, now: datetime) -> None:
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


class _SentMarker:
    """Marks one message sent in its own short transaction, on a connection kept for the whole delivery run.

    This is the hot path (one commit per accepted message, so a crash re-sends at most the message on the
    wire); a prepared Core UPDATE on a held connection costs a fraction of an ORM session per message.
    """

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._engine = factory.kw["bind"]
        self._conn: Connection | None = None
        self._stmt = (
            update(OutboxMessage)
            .where(OutboxMessage.id == bindparam("rid"))
            .values(
                status="sent",
                sent_at=bindparam("now"),
                attempts=OutboxMessage.attempts + 1,
                claimed_by=None,
                last_error=None,
            )
        )

    def mark(self, row_id: int, now: datetime) -> None:
        if self._conn is None:
            self._conn = self._engine.connect()
        try:
            self._conn.execute(self._stmt, {"rid": row_id, "now": now})
            self._conn.commit()
        except Exception:
            self.close()  # a broken connection is not reused; the next mark opens a new one
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


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
    """Send everything due now, ``concurrency`` SMTP sessions at a time; returns counts."""
    report = DeliveryReport()
    pool = [senders() for _ in range(max(1, concurrency))]
    sent_marker = _SentMarker(factory)
    try:
        while not (stop and stop.is_set()):
            rows, takeovers = _claim(factory, clock, worker, batch, lease)
            report.possibly_duplicated += takeovers
            if not rows:
                break
            queue: asyncio.Queue[OutboxMessage] = asyncio.Queue()
            for row in rows:
                queue.put_nowait(row)
            recorded: set[int] = set()

            async def work(
                sender: MailSender, queue: asyncio.Queue[OutboxMessage] = queue, recorded: set[int] = recorded
            ) -> None:
                while not queue.empty():
                    row = queue.get_nowait()
                    outcome = await _send_one(sender, row, envelope_from)
                    # Recorded as soon as known: a worker killed mid-batch leaves only the message that was on
                    # the wire to be sent again (and logged "possibly sent twice"), not the whole batch.
                    if outcome is None:
                        sent_marker.mark(row.id, clock.now())
                        report.sent += 1
                    else:
                        _record(factory, clock, [(row, outcome)], report)
                    recorded.add(row.id)

            try:
                await asyncio.gather(*(work(s) for s in pool))
            except ConfigError:
                # Bad certificate, refused login: raised before any message data goes out, so nothing is wrong
                # with the messages. Give back every row without an outcome at once, so they neither wait out
                # the lease nor come back as "possibly sent twice".
                _release(factory, [r.id for r in rows if r.id not in recorded], worker)
                raise
            if len(rows) < batch:
                break
    finally:
        sent_marker.close()
        for sender in pool:
            await sender.close()
    return report
