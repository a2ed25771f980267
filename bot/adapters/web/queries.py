"""Read models for the pages and the API: review rows, client timelines, KPI inputs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.adapters.db.models import (
    AuditEntry,
    ClassificationRecord,
    Client,
    InboundMessage,
    Invoice,
    OutboxMessage,
    Payment,
    Promise,
    ReviewItem,
)
from bot.domain.errors import UnreadableMessageError
from bot.domain.invoice import InvoiceState
from bot.domain.kpi import InvoiceFact

log = logging.getLogger(__name__)


@dataclass
class ReviewRow:
    item: ReviewItem
    inbound: InboundMessage | None
    classification: ClassificationRecord | None
    client: Client | None
    invoices: list[Invoice]
    reply_text: str
    quoted_text: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    reply_html: Any = None  # the reply with evidence marked, set by the page

    @property
    def phrases(self) -> list[str]:
        return [str(e.get("text", "")) for e in self.evidence if e.get("text")]


def latest_classification(session: Session, inbound_id: int) -> ClassificationRecord | None:
    return session.scalars(
        select(ClassificationRecord)
        .where(ClassificationRecord.inbound_id == inbound_id)
        .order_by(ClassificationRecord.id.desc())
        .limit(1)
    ).first()


def _texts(inbound: InboundMessage | None, record: ClassificationRecord | None) -> tuple[str, str]:
    """(the sender's new text, the quoted part) — parsed again from the raw message kept in the database."""
    reply = record.reply_text if record else ""
    if inbound is None:
        return reply, ""
    from bot.adapters.parse import parse_message

    try:
        parsed = parse_message(inbound.raw)
    except UnreadableMessageError:
        return reply, ""
    return reply or parsed.reply_text, parsed.quoted_text


def review_row(session: Session, item: ReviewItem) -> ReviewRow:
    inbound = session.get(InboundMessage, item.inbound_id) if item.inbound_id else None
    record = latest_classification(session, inbound.id) if inbound else None
    client = session.get(Client, item.client_id) if item.client_id else None
    invoices = [inv for n in item.invoice_numbers if (inv := session.get(Invoice, n)) is not None]
    reply, quoted = _texts(inbound, record)
    return ReviewRow(
        item, inbound, record, client, invoices, reply, quoted, list(record.evidence) if record else []
    )


def open_review_items(session: Session, *, limit: int = 50, offset: int = 0) -> tuple[list[ReviewItem], int]:
    """Open items, newest day first and, within a day, the largest amounts first."""
    total = (
        session.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.status == "open")) or 0
    )
    items = list(
        session.scalars(
            select(ReviewItem)
            .where(ReviewItem.status == "open")
            .order_by(ReviewItem.created_at.desc(), ReviewItem.id.desc())
            .limit(2000)
        )
    )
    items.sort(key=lambda i: (i.created_at.date(), i.amount or Decimal(0), i.id), reverse=True)
    return items[offset : offset + limit], total


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    kind: str  # reminder | reply | change | payment
    title: str
    detail: str = ""
    link: str | None = None


def timeline(
    session: Session, client_id: str, *, invoice_number: str | None = None, limit: int = 300
) -> list[TimelineEvent]:
    """Everything that happened to a client (or one of its invoices), newest first."""
    events: list[TimelineEvent] = []
    numbers = (
        [invoice_number]
        if invoice_number
        else list(session.scalars(select(Invoice.number).where(Invoice.client_id == client_id)))
    )
    for row in session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.client_id == client_id)
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    ):
        if invoice_number and invoice_number not in row.invoice_numbers:
            continue
        events.append(
            TimelineEvent(
                row.sent_at or row.created_at,
                "reminder",
                f"{row.kind} {row.step or row.template} ({row.status})",
                f"{row.subject} — to {', '.join(row.recipients)}; invoices {', '.join(row.invoice_numbers)}",
            )
        )
    inbound_rows = session.scalars(
        select(InboundMessage)
        .where(InboundMessage.client_id == client_id)
        .order_by(InboundMessage.id.desc())
        .limit(limit)
    )
    for msg in inbound_rows:
        record = latest_classification(session, msg.id)
        if invoice_number and (record is None or invoice_number not in record.invoice_numbers):
            continue
        title = f"reply: {record.intent}" if record else f"reply ({msg.status})"
        detail = f"from {msg.sender or '?'} — {msg.subject or ''}"
        if record:
            detail += f" — confidence {record.confidence:.2f}"
        events.append(TimelineEvent(msg.received_at, "reply", title, detail))
    conditions = [(AuditEntry.entity == "client") & (AuditEntry.entity_id == client_id)]
    if numbers:
        conditions.append((AuditEntry.entity == "invoice") & AuditEntry.entity_id.in_(numbers[:900]))
    for entry in session.scalars(
        select(AuditEntry).where(or_(*conditions)).order_by(AuditEntry.id.desc()).limit(limit)
    ):
        change = ""
        if entry.old or entry.new:
            keys = sorted(set(entry.old or {}) | set(entry.new or {}))
            change = ", ".join(
                f"{k}: {(entry.old or {}).get(k, '—')} → {(entry.new or {}).get(k, '—')}" for k in keys
            )
        events.append(
            TimelineEvent(
                entry.at,
                "change",
                f"{entry.entity} {entry.entity_id}: {entry.action}",
                f"{entry.reason} ({entry.actor}){' — ' + change if change else ''}",
            )
        )
    if numbers:
        for pay in session.scalars(
            select(Payment)
            .where(Payment.invoice_number.in_(numbers[:900]))
            .order_by(Payment.id.desc())
            .limit(limit)
        ):
            events.append(
                TimelineEvent(
                    pay.recorded_at,
                    "payment",
                    f"payment on {pay.invoice_number}",
                    f"{pay.amount} paid on {pay.paid_on.isoformat()} {pay.reference}",
                )
            )
    events.sort(key=lambda e: e.at, reverse=True)
    return events[:limit]


def invoice_facts(session: Session, currency: str | None = None) -> list[InvoiceFact]:
    """Every invoice as KPI input, with its last payment date."""
    last_query = select(Payment.invoice_number, func.max(Payment.paid_on)).group_by(Payment.invoice_number)
    last_paid = {number: paid_on for number, paid_on in session.execute(last_query)}
    query = select(
        Invoice.number,
        Invoice.client_id,
        Invoice.issue_date,
        Invoice.due_date,
        Invoice.amount,
        Invoice.amount_paid,
        Invoice.state,
        Invoice.currency,
    )
    if currency:
        query = query.where(Invoice.currency == currency)
    return [
        InvoiceFact(number, client_id, issue, due, amount, paid, InvoiceState(state), last_paid.get(number))
        for number, client_id, issue, due, amount, paid, state, _cur in session.execute(query)
    ]


def currencies(session: Session) -> list[str]:
    """Currencies in use, the most invoiced first."""
    rows = session.execute(
        select(Invoice.currency, func.count()).group_by(Invoice.currency).order_by(func.count().desc())
    )
    return [c for c, _ in rows]


def broken_promises_by_client(session: Session) -> dict[str, int]:
    query = (
        select(Promise.client_id, func.count()).where(Promise.status == "broken").group_by(Promise.client_id)
    )
    return {client_id: int(count) for client_id, count in session.execute(query)}
