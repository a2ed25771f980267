"""What a reply that needs no strategy does: a bounce, an out-of-office, a review item for a person.

The intent strategies (promise, dispute, paid claim...) are ``reply_actions``; these are the outcomes the inbox
decides on its own. With ``writes`` (an inbox batch) the write-only rows are collected for the batch's multi-row
INSERTs instead of being added to the session.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db.models import Client, Contact, InboundMessage, ReviewItem
from bot.app.audit import audit
from bot.app.follow_up import mark_bouncing, raise_call_task
from bot.app.inbound import NewInbound
from bot.app.reply_writes import BatchWrites
from bot.domain.decision import Match
from bot.domain.intent import Intent
from bot.domain.message import ParsedMessage

if TYPE_CHECKING:
    from bot.app.inbound import InboxReport

#: Where a message is filed once recorded (IMAP folders / Maildir subfolders).
FOLDER_PROCESSED = "relance/processed"
FOLDER_REVIEW = "relance/review"
FOLDER_QUARANTINE = "relance/quarantine"


def bounce(
    session: Session,
    row: InboundMessage | NewInbound,
    parsed: ParsedMessage,
    match: Match,
    report: InboxReport,
    writes: BatchWrites | None,
    now: datetime,
) -> str:
    """A delivery failure: the contact marked bouncing and a call task, or a review when no contact is known."""
    bounce = parsed.bounce
    assert bounce is not None
    recipient = (bounce.recipient or "").lower()
    contacts = list(session.scalars(select(Contact).where(Contact.email == recipient))) if recipient else []
    if not contacts and match.client_id:
        contacts = (
            [
                c
                for c in session.scalars(select(Contact).where(Contact.client_id == match.client_id))
                if c.status == "active"
            ][:1]
            if not recipient
            else []
        )
    if not bounce.is_permanent:
        report.processed += 1
        return FOLDER_PROCESSED  # a delay warning: the server is still trying; nothing to change yet
    if not contacts:
        set_values(row, writes, status="review")
        add_review(
            session,
            writes,
            now=now,
            kind="unmatched",
            inbound_id=row.id,
            client_id=match.client_id,
            invoice_numbers=list(match.invoice_numbers),
            intent=Intent.BOUNCE.value,
            reason=f"bounce for {recipient or 'an unknown recipient'}: no contact found",
            source_key=f"reply:{row.id}",
        )
        report.review += 1
        return FOLDER_REVIEW
    for contact in contacts:
        mark_bouncing(
            session,
            contact,
            now=now,
            detail=f"{bounce.status or ''} {bounce.diagnostic or ''}".strip(),
            reason=f"delivery failure notice {parsed.message_id or row.id}",
            writes=writes,
            bounce_status=bounce.status,
        )
        raise_call_task(
            session,
            key=f"bounce:{contact.email}:{bounce.status}",
            client_id=contact.client_id,
            invoice_numbers=match.invoice_numbers,
            reason=f"e-mail to {contact.email} bounced ({bounce.status}): find a new address",
            now=now,
            writes=writes,
        )
    report.processed += 1
    return FOLDER_PROCESSED


def defer_for_absence(
    session: Session, parsed: ParsedMessage, match: Match, writes: BatchWrites | None, now: datetime
) -> None:
    """An out-of-office stating a return date: the client's reminders wait until then."""
    if not (parsed.return_date and match.client_id):
        return
    client = session.get(Client, match.client_id)
    if client is None or (client.paused_until and client.paused_until >= parsed.return_date):
        return
    old = client.paused_until
    set_values(client, writes, paused_until=parsed.return_date, updated_at=now)
    values: dict[str, Any] = {
        "at": now,
        "actor": "bot",
        "entity": "client",
        "entity_id": client.client_id,
        "action": "paused",
        "old": {"paused_until": old.isoformat() if old else None},
        "new": {"paused_until": parsed.return_date.isoformat()},
        "reason": f"out-of-office notice: back on {parsed.return_date.isoformat()}",
    }
    if writes is not None:
        writes.add_audit(**values)
    else:
        audit(session, **values)


def set_values(obj: Any, writes: BatchWrites | None, **values: Any) -> None:
    """Set attributes of a loaded row: on the ORM object, or through the batch's UPDATEs (``BatchWrites.change``)."""
    if writes is not None:
        writes.change(obj, **values)
        return
    for name, value in values.items():
        setattr(obj, name, value)


def add_review(session: Session, writes: BatchWrites | None, *, now: datetime, **values: Any) -> None:
    """A review item in the session, or collected for the batch's multi-row INSERT."""
    if writes is not None:
        writes.add_review(now=now, **values)
    else:
        session.add(ReviewItem(status="open", created_at=now, **values))
