"""Value objects describing one inbound e-mail once parsed.

The parse adapter (``bot.adapters.parse``) builds a :class:`ParsedMessage` from raw bytes; everything after it
(matching, classification, actions) reads only this plain value, never the MIME tree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class BounceInfo:
    """A delivery status notification (RFC 3464) or a non-standard bounce, reduced to what we act on."""

    recipient: str | None
    status: str | None  # enhanced status code such as "5.1.1"
    action: str | None  # "failed", "delayed", "delivered", "relayed", "expanded"
    diagnostic: str | None = None

    @property
    def is_permanent(self) -> bool:
        """Only a final failure marks a contact; RFC 3464 delays (4.x.x / action=delayed) are not failures."""
        if self.action and self.action.lower() == "delayed":
            return False
        if self.status:
            return self.status.startswith("5")
        return (self.action or "").lower() == "failed"


@dataclass(frozen=True)
class ParsedMessage:
    """One inbound message, decoded. Addresses are lower-cased bare addresses."""

    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    sender: str
    sender_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    date: dt.datetime | None  # timezone-aware when the header had a zone
    body_text: str  # the full text part (or HTML converted to text)
    reply_text: str  # the sender's new text: quotes and signature removed
    quoted_text: str  # what was removed as quote (still searched for invoice numbers)
    attachments: tuple[Attachment, ...] = ()
    language: str | None = None
    auto_reply: bool = False
    auto_reply_reason: str | None = None
    return_date: dt.date | None = None  # "back on ..." stated by an out-of-office notice
    bounce: BounceInfo | None = None
    #: Message-IDs found in a returned message (bounce) or quoted headers, for matching to our outbox.
    related_message_ids: tuple[str, ...] = ()
    #: Text of the returned original message in a bounce (subject + body), searched for invoice numbers.
    returned_text: str = ""
