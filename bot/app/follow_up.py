"""Effects several use cases share: raise a call task once per key, mark a contact bouncing with its audit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db.models import Contact, Task
from bot.app.audit import audit
from bot.app.reply_lookups import pending


def raise_call_task(
    session: Session,
    *,
    key: str,
    client_id: str,
    invoice_numbers: Sequence[str],
    reason: str,
    now: datetime,
    due_on: date | None = None,
) -> bool:
    """Add a call task unless one with ``key`` exists (stored or still unflushed); True when added."""
    with session.no_autoflush:
        known = session.scalar(select(Task.id).where(Task.source_key == key))
    if known is not None or pending(session, Task, source_key=key):
        return False
    session.add(
        Task(
            kind="call",
            client_id=client_id,
            invoice_numbers=list(invoice_numbers),
            reason=reason,
            source_key=key,
            status="open",
            due_on=due_on or now.date(),
            created_at=now,
        )
    )
    return True


def mark_bouncing(
    session: Session, contact: Contact, *, now: datetime, detail: str, reason: str, **new: Any
) -> None:
    """Stop e-mails to an active contact (``detail`` kept on the contact, ``reason`` in the audit log)."""
    if contact.status != "active":
        return
    contact.status, contact.status_reason, contact.updated_at = "bouncing", detail[:500], now
    audit(
        session,
        at=now,
        actor="bot",
        entity="contact",
        entity_id=contact.email,
        action="bouncing",
        old={"status": "active"},
        new={"status": "bouncing"} | new,
        reason=reason,
    )
