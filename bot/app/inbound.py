"""One inbound message before it is recorded: its database row, its classification, and the counts a pass of
the inbox reports.

These are what both the inbox's batch path and its one-message path need (and the reader process, which
classifies), kept apart from the processor that records and files messages.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
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


def inbound_row(mail: InboundMail, parsed: ParsedMessage, now: datetime) -> InboundMessage:
    """The record of one readable message, raw bytes and coordinates included (status decided later)."""
    return InboundMessage(
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
