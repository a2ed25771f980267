"""Effects several use cases share: raise a call task once per key, mark a contact bouncing with its audit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db.models import Contact, Task
from bot.app.audit import audit
from bot.app.reply_lookups import pending

if TYPE_CHECKING:
    from bot.app.reply_writes import BatchWrites


def raise_call_task(
    session: Session,
    *,
    key: str,
    client_id: str,
    invoice_numbers: Sequence[str],
    reason: str,
    now: datetime,
    due_on: date | None = None,
    writes: BatchWrites | None = None,
) -> bool:
    """Add a call task unless one with ``key`` exists (stored or still unflushed); True when added.

    ``writes``: an inbox batch's collected rows, where the task goes instead of the session.
    """
    with session.no_autoflush:
        known = session.scalar(select(Task.id).where(Task.source_key == key))
    if known is not None or (writes.has_task(key) if writes is not None else pending(session, Task, source_key=key)):
        return False
    values: dict[str, Any] = {
        "kind": "call",
        "client_id": client_id,
        "invoice_numbers": list(invoice_numbers),
        "reason": reason,
        "source_key": key,
        "status": "open",
        "due_on": due_on or now.date(),
        "created_at": now,
    }
    if writes is not None:
        writes.add_task(**values)
    else:
        session.add(Task(**values))
    return True


def mark_bouncing(
    session: Session,
    contact: Contact,
    *,
    now: datetime,
    detail: str,
    reason: str,
    writes: BatchWrites | None = None,
    **new: Any,
) -> None:
    """Stop e-mails to an active contact (``detail`` kept on the contact, ``reason`` in the audit log).

    ``writes``: an inbox batch's collected rows, where the audit entry goes instead of the session.
    """
    if contact.status != "active":
        return
    contact.status, contact.status_reason, contact.updated_at = "bouncing", detail[:500], now
    values: dict[str, Any] = {
        "at": now,
        "actor": "bot",
        "entity": "contact",
        "entity_id": contact.email,
        "action": "bouncing",
        "old": {"status": "active"},
        "new": {"status": "bouncing"} | new,
        "reason": reason,
    }
    if writes is not None:
        writes.add_audit(**values)
    else:
        audit(session, **values)
