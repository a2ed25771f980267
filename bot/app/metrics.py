"""Prometheus metrics of the daemon (served by the web UI's ``/metrics`` from the default registry).

Counters count what *this process* did since it started (Prometheus sums replicas and handles restarts);
the gauges that describe shared state (review queue, outbox by step and status) are read from the database,
so every replica reports the same truth whoever did the work.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.models import OutboxMessage, ReviewItem

log = logging.getLogger(__name__)

REMINDERS = Counter(
    "relance_reminders_total",
    "Reminders by ladder step and outcome (recorded, task, escalated)",
    ["step", "outcome"],
)
DELIVERIES = Counter(
    "relance_outbox_deliveries_total", "Outbox send attempts by outcome (sent, retried, failed)", ["outcome"]
)
REPLIES = Counter("relance_replies_total", "Inbound replies by primary intent", ["intent"])
INBOX_OUTCOMES = Counter(
    "relance_inbox_messages_total",
    "Inbound messages by outcome (processed, review, quarantined, duplicate)",
    ["outcome"],
)
SEND_ERRORS = Counter(
    "relance_send_errors_total", "SMTP send failures by kind (temporary, permanent)", ["kind"]
)
PARSE_ERRORS = Counter("relance_parse_errors_total", "Inbound messages that could not be read (quarantined)")
IMAP_RECONNECTS = Counter("relance_imap_reconnects_total", "IMAP reconnections after a lost connection")
JOB_ERRORS = Counter("relance_job_errors_total", "Scheduled jobs that raised", ["job"])
REVIEW_QUEUE = Gauge("relance_review_queue_size", "Open items in the review queue")
OUTBOX = Gauge(
    "relance_outbox_messages", "Outbox messages by kind, step and status", ["kind", "step", "status"]
)
LAST_SEND = Gauge("relance_last_successful_send_timestamp_seconds", "Unix time of the last accepted message")
HEARTBEAT = Gauge(
    "relance_scheduler_heartbeat_timestamp_seconds", "Unix time of the scheduler's last heartbeat"
)
LEADER = Gauge("relance_inbox_leader", "1 while this process holds the inbox listener lease")


def record_cycle(recorded: dict[str, int], tasks: int, escalations: int) -> None:
    for step, count in recorded.items():
        REMINDERS.labels(step=step, outcome="recorded").inc(count)
    if tasks - escalations > 0:
        REMINDERS.labels(step="*", outcome="task").inc(tasks - escalations)
    if escalations:
        REMINDERS.labels(step="*", outcome="escalated").inc(escalations)


def record_delivery(sent: int, retried: int, failed: int) -> None:
    for outcome, count in (("sent", sent), ("retried", retried), ("failed", failed)):
        if count:
            DELIVERIES.labels(outcome=outcome).inc(count)


def record_inbox(
    intents: dict[str, int], processed: int, review: int, quarantined: int, duplicates: int
) -> None:
    for intent, count in intents.items():
        REPLIES.labels(intent=intent).inc(count)
    for outcome, count in (
        ("processed", processed),
        ("review", review),
        ("quarantined", quarantined),
        ("duplicate", duplicates),
    ):
        if count:
            INBOX_OUTCOMES.labels(outcome=outcome).inc(count)
    if quarantined:
        PARSE_ERRORS.inc(quarantined)


def mark_sent() -> None:
    LAST_SEND.set(time.time())


def refresh_gauges(factory: sessionmaker[Session]) -> None:
    """Read the shared state the gauges describe; a failure only logs (metrics must not break the daemon)."""
    try:
        with factory() as session:
            REVIEW_QUEUE.set(
                session.scalar(
                    select(func.count()).select_from(ReviewItem).where(ReviewItem.status == "open")
                )
                or 0
            )
            rows = session.execute(
                select(OutboxMessage.kind, OutboxMessage.step, OutboxMessage.status, func.count()).group_by(
                    OutboxMessage.kind, OutboxMessage.step, OutboxMessage.status
                )
            ).all()
    except Exception:
        log.warning("metrics: cannot read the review queue and outbox", exc_info=True)
        return
    OUTBOX.clear()
    for kind, step, status, count in rows:
        OUTBOX.labels(kind=kind, step=step or "-", status=status).set(count)
