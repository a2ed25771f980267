"""One inbound message before it is recorded: its database row, its classification, and the counts a pass of
the inbox reports.

These are what both the inbox's batch path and its one-message path need (and the reader process, which
classifies), kept apart from the processor that records and files messages.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from bot.adapters.db.models import InboundMessage
from bot.domain.intent import Classification
from bot.domain.message import ParsedMessage
from bot.ports import InboundMail

REMITTANCE_WORDS = (
    "virement",
    "remittance",
    "avis",
    "payment",
    "paiement",
    "transfer",
    "releve",
    "ticket",
    "cb",
)


@dataclass(slots=True)
class NewInbound:
    """An inbox batch's record of one readable message, inserted with the batch's other rows at its end.

    The batch changes it freely until then (its client, its status): those values are simply part of the
    INSERT. Its ``id`` is allocated up front (``bulk_insert.allocate_ids``), as the batch's other rows refer
    to it. The columns are those of ``InboundMessage``.
    """

    mailbox: str
    uidvalidity: int
    uid: int
    message_id: str | None
    raw: bytes
    status: str
    sender: str | None
    subject: str | None
    received_at: datetime
    processed_at: datetime
    client_id: str | None = None
    error: str | None = None
    id: int = 0

    def values(self) -> dict[str, Any]:
        """The row's column values, for the INSERT."""
        return {name: getattr(self, name) for name in _NEW_INBOUND_FIELDS}


_NEW_INBOUND_FIELDS = tuple(f.name for f in fields(NewInbound))


def new_inbound(mail: InboundMail, parsed: ParsedMessage, now: datetime) -> NewInbound:
    """The record of one readable message, raw bytes and coordinates included (status decided later)."""
    return NewInbound(
        mailbox=mail.mailbox,
        uidvalidity=mail.uidvalidity,
        uid=mail.uid,
        message_id=parsed.message_id,
        raw=mail.raw,
        status="processed",
        sender=parsed.sender,
        subject=parsed.subject[:2000],
        received_at=parsed.date or now,
        processed_at=now,
    )


def unreadable_inbound(mail: InboundMail, error: str, now: datetime, message_id: str | None = None) -> NewInbound:
    """The record of a message that could not be read (quarantined for a person, with why)."""
    return NewInbound(
        mailbox=mail.mailbox,
        uidvalidity=mail.uidvalidity,
        uid=mail.uid,
        message_id=message_id,
        raw=mail.raw,
        status="quarantined",
        sender=None,
        subject=None,
        received_at=now,
        processed_at=now,
        error=error[:2000],
    )


def quarantine_reason(error: str) -> str:
    """The review item's reason for an unreadable message."""
    return f"unreadable message: {error[:300]}"


def inbound_row(mail: InboundMail, parsed: ParsedMessage, now: datetime) -> InboundMessage:
    """:func:`new_inbound` as an ORM object (one message per transaction: the session inserts it)."""
    return as_orm(new_inbound(mail, parsed, now))


def as_orm(row: NewInbound) -> InboundMessage:
    """A record as an ORM object, for the session to insert (its id left to the database)."""
    values = row.values()
    del values["id"]
    return InboundMessage(**values)


@dataclass
class InboxReport:
    processed: int = 0
    review: int = 0
    quarantined: int = 0
    duplicates: int = 0
    intents: Counter[str] = field(default_factory=Counter)

    def __iadd__(self, other: InboxReport) -> InboxReport:
        self.processed += other.processed
        self.review += other.review
        self.quarantined += other.quarantined
        self.duplicates += other.duplicates
        self.intents += other.intents
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "processed": self.processed,
            "review": self.review,
            "quarantined": self.quarantined,
            "duplicates": self.duplicates,
            "intents": dict(self.intents),
        }


def classify_parsed(parsed: ParsedMessage) -> Classification:
    """The classifier on a parsed message (also what ``relance inbox classify`` prints)."""
    from bot.domain.classifier import classify

    return classify(
        parsed.reply_text,
        subject=parsed.subject,
        language_hint=parsed.language,
        sent_at=parsed.date,
        auto_reply=parsed.auto_reply,
        bounce=parsed.bounce is not None,
        has_remittance_attachment=has_remittance(parsed),
    )


def has_remittance(parsed: ParsedMessage) -> bool:
    return any(
        a.content_type.endswith("pdf") and any(w in a.filename.lower() for w in REMITTANCE_WORDS)
        for a in parsed.attachments
    )
