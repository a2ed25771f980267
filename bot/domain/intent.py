"""Reply intents, their precedence and the human-review rule (DESIGN.md, "Reply intents")."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum


class Intent(StrEnum):
    PROMISE_TO_PAY = "promise_to_pay"
    DISPUTE = "dispute"
    MISSING_INVOICE = "missing_invoice"
    ALREADY_PAID = "already_paid"
    PAYMENT_PLAN_REQUEST = "payment_plan_request"
    WRONG_CONTACT = "wrong_contact"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    OTHER = "other"


#: When several intents apply, the first of this list is the primary one.
PRECEDENCE: tuple[Intent, ...] = (
    Intent.BOUNCE,
    Intent.AUTO_REPLY,
    Intent.DISPUTE,
    Intent.WRONG_CONTACT,
    Intent.PAYMENT_PLAN_REQUEST,
    Intent.ALREADY_PAID,
    Intent.MISSING_INVOICE,
    Intent.PROMISE_TO_PAY,
    Intent.OTHER,
)

#: Intents a person must always look at.
HUMAN_INTENTS: frozenset[Intent] = frozenset(
    {Intent.DISPUTE, Intent.WRONG_CONTACT, Intent.PAYMENT_PLAN_REQUEST, Intent.BOUNCE, Intent.OTHER}
)


def rank(intent: Intent) -> int:
    """Position in :data:`PRECEDENCE` (0 = strongest)."""
    return PRECEDENCE.index(intent)


def order_intents(intents: set[Intent] | frozenset[Intent]) -> tuple[Intent, tuple[Intent, ...]]:
    """Split a set of applicable intents into (primary, secondaries) by precedence; empty means other."""
    ordered = sorted(intents, key=rank)
    if not ordered:
        return Intent.OTHER, ()
    return ordered[0], tuple(i for i in ordered[1:] if i is not Intent.OTHER)


@dataclass(frozen=True)
class Evidence:
    """One rule that fired, with the text it matched: what a collector sees to understand a decision."""

    rule: str
    intent: str  # an Intent value, or a flag such as "negation", "condition", "legal_threat"
    text: str
    weight: float = 1.0

    def as_dict(self) -> dict[str, object]:
        return {"rule": self.rule, "intent": self.intent, "text": self.text, "weight": self.weight}


@dataclass(frozen=True)
class Classification:
    """The classifier's verdict on one reply's new text."""

    intent: Intent
    secondary_intents: tuple[Intent, ...]
    needs_human: bool
    confidence: float
    language: str
    promised_date: date | None = None
    paid_date: date | None = None
    amount: Decimal | None = None
    evidence: tuple[Evidence, ...] = ()
    #: Why a person must look (legal threat, insolvency, condition, low confidence...), empty when automatic.
    human_reasons: tuple[str, ...] = ()
    #: Invoice references as written by the sender (normalised later against the ledger).
    invoice_refs: tuple[str, ...] = ()
    #: Instalments stated in a payment-plan request: (date or None, amount or None).
    instalments: tuple[tuple[date | None, Decimal | None], ...] = field(default=())
