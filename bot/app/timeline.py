"""An invoice's story: reminders sent, replies received, state changes with their reasons, payments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db.models import (
    AuditEntry,
    ClassificationRecord,
    Client,
    InboundMessage,
    Invoice,
    OutboxMessage,
    Payment,
)
from bot.app.profiles import profile_for
from bot.app.settings import Settings
from bot.domain.invoice import InvoiceState
from bot.domain.planner import InvoiceSnapshot, upcoming_step


def invoice_view(session: Session, settings: Settings, number: str, now: datetime) -> dict[str, Any] | None:
    inv = session.get(Invoice, number)
    if inv is None:
        return None
    client = session.get(Client, inv.client_id)
    view = profile_for(client.profile if client else None, settings, session)
    snapshot = InvoiceSnapshot(
        inv.number,
        inv.client_id,
        inv.issue_date,
        inv.due_date,
        inv.amount,
        inv.amount_paid,
        inv.currency,
        InvoiceState(inv.state),
        inv.paused_until,
        inv.promise_date,
        inv.last_step,
        inv.last_step_on,
        inv.cycle,
    )
    upcoming = upcoming_step(snapshot, view.profile) if inv.state == "open" else None
    next_step = None
    if upcoming is not None:
        step = view.profile.steps[upcoming[0]]
        next_step = {"step": step.name, "channel": step.channel.value, "on": upcoming[1].isoformat()}
    events: list[dict[str, Any]] = []
    for entry in session.scalars(
        select(AuditEntry).where(AuditEntry.entity == "invoice", AuditEntry.entity_id == number)
    ):
        events.append(
            {
                "at": entry.at.isoformat(),
                "kind": "change",
                "what": f"{entry.action}: {entry.reason}",
                "by": entry.actor,
                "old": entry.old,
                "new": entry.new,
                "evidence": entry.evidence,
            }
        )
    for out in session.scalars(select(OutboxMessage).where(OutboxMessage.client_id == inv.client_id)):
        if number in out.invoice_numbers:
            events.append(
                {
                    "at": (out.sent_at or out.created_at).isoformat(),
                    "kind": "sent",
                    "what": f"{out.template} to {', '.join(out.recipients)} ({out.status})",
                    "message_id": out.message_id,
                }
            )
    for rec, inbound in session.execute(
        select(ClassificationRecord, InboundMessage)
        .join(InboundMessage, InboundMessage.id == ClassificationRecord.inbound_id)
        .where(InboundMessage.client_id == inv.client_id)
    ):
        if number in rec.invoice_numbers:
            events.append(
                {
                    "at": inbound.processed_at.isoformat(),
                    "kind": "reply",
                    "what": f"{rec.intent} ({rec.confidence:.2f}) from {inbound.sender}: "
                    f"{rec.reply_text[:140]}",
                }
            )
    for pay in session.scalars(select(Payment).where(Payment.invoice_number == number)):
        events.append(
            {
                "at": pay.recorded_at.isoformat(),
                "kind": "payment",
                "what": f"{pay.amount} paid on {pay.paid_on.isoformat()} ({pay.reference})",
            }
        )
    events.sort(key=lambda e: e["at"])
    return {
        "number": inv.number,
        "client_id": inv.client_id,
        "client_name": client.name if client else None,
        "state": inv.state,
        "amount": f"{inv.amount:.2f}",
        "amount_paid": f"{inv.amount_paid:.2f}",
        "balance": f"{inv.balance:.2f}",
        "currency": inv.currency,
        "issue_date": inv.issue_date.isoformat(),
        "due_date": inv.due_date.isoformat(),
        "days_late": max(0, (now.date() - inv.due_date).days),
        "promise_date": inv.promise_date.isoformat() if inv.promise_date else None,
        "paused_until": inv.paused_until.isoformat() if inv.paused_until else None,
        "last_step": inv.last_step,
        "next_step": next_step,
        "profile": client.profile if client else None,
        "timeline": events,
    }
