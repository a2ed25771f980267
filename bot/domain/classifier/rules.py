"""The classifier's rule table: which lexicon cue supports which intent or raises which human-review flag.

Decisions are data (Mailman's moderation chain): each row names a cue family of the lexicon files, the intent
it
supports with a weight, whether a negation in front of it cancels it, and what a negated hit means instead
("we will not pay until…" is a refusal, not a promise). An intent applies when its weights reach
:data:`APPLIES_AT`; precedence between applicable intents comes from ``bot.domain.intent.PRECEDENCE``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.intent import Intent

#: Total weight from which an intent is considered present in the reply.
APPLIES_AT = 1.0
#: Below this confidence a person reviews the reply whatever the intent.
LOW_CONFIDENCE = 0.55
#: Confidence kept when only typo-corrected words ("virment" → "virement") support the verdict.
FUZZY_FACTOR = 0.9


@dataclass(frozen=True)
class Rule:
    id: str
    cue: str  # key under ``cues:`` or ``flags:`` in the lexicon files
    intent: Intent | None = None
    weight: float = 1.0
    flag: str | None = None  # human-review reason raised by a hit
    negatable: bool = False
    when_negated: str | None = None  # rule id whose evidence a negated hit becomes
    promise_like: bool = False  # conditions in the same sentence make it a conditional promise
    negation_inside: bool = True  # a negator inside the matched words negates too ("we will not pay")
    unless: tuple[str, ...] = ()  # cues that, in the same sentence, cancel the hit ("paid the deposit")
    unless_overlapping: tuple[str, ...] = ()  # cues that cancel the hit when they cover the same words


RULES: tuple[Rule, ...] = (
    Rule(
        "promise.commit",
        "promise_commit",
        Intent.PROMISE_TO_PAY,
        1.0,
        negatable=True,
        when_negated="dispute.refusal",
        promise_like=True,
    ),
    Rule("promise.schedule", "promise_schedule", Intent.PROMISE_TO_PAY, 0.8, negatable=True, promise_like=True),
    Rule(
        "paid.claim",
        "paid_claim",
        Intent.ALREADY_PAID,
        1.0,
        negatable=True,
        unless=("partial_payment",),
        unless_overlapping=("future_payment",),
    ),
    Rule("paid.proof", "paid_proof", Intent.ALREADY_PAID, 1.0, negatable=True),
    Rule("missing.not_received", "not_received", Intent.MISSING_INVOICE, 1.0),
    Rule("missing.copy_request", "copy_request", Intent.MISSING_INVOICE, 1.0, negatable=True),
    Rule("missing.document_request", "document_request", Intent.MISSING_INVOICE, 1.0),
    Rule("dispute.contest", "contest", Intent.DISPUTE, 1.0, negatable=True, negation_inside=False),
    Rule("dispute.quality", "quality", Intent.DISPUTE, 0.8),
    Rule("dispute.billing_error", "billing_error", Intent.DISPUTE, 1.0),
    Rule("dispute.credit_note", "credit_note", Intent.DISPUTE, 1.0),
    Rule("dispute.fees", "fees", Intent.DISPUTE, 0.5),
    Rule("dispute.refusal", "refusal", Intent.DISPUTE, 0.8, negatable=True),
    Rule("plan.request", "plan_request", Intent.PAYMENT_PLAN_REQUEST, 1.0),
    Rule("plan.proposal", "plan_proposal", Intent.PAYMENT_PLAN_REQUEST, 0.4),
    Rule("plan.hardship", "hardship", Intent.PAYMENT_PLAN_REQUEST, 0.6),
    Rule("wrong_contact.redirect", "wrong_contact", Intent.WRONG_CONTACT, 1.0),
    Rule("auto_reply.absence", "auto_reply_absence", Intent.AUTO_REPLY, 1.0),
    Rule("auto_reply.notice", "auto_reply_text", Intent.AUTO_REPLY, 0.5),
    Rule("bounce.notice", "bounce_text", Intent.BOUNCE, 0.6),
    Rule("other.statement_request", "statement_request", Intent.OTHER, 1.0, flag="request_bot_cannot_fulfil"),
    Rule("flag.legal_threat", "legal_threat", flag="legal_threat"),
    Rule("flag.insolvency", "insolvency", flag="insolvency"),
    Rule("flag.insolvency_mention", "insolvency_weak", flag="insolvency_mention"),
    Rule("flag.anger", "anger", flag="anger_or_harassment_complaint"),
    Rule("flag.unfulfillable", "unfulfillable", flag="request_bot_cannot_fulfil"),
    Rule("flag.questioned", "questioned", flag="invoice_questioned"),
)

RULES_BY_ID: dict[str, Rule] = {r.id: r for r in RULES}

# : Flags after which the reply is about the debtor's insolvency: the primary intent is ``other`` (README
# taxonomy).
FORCE_OTHER_FLAGS = frozenset({"insolvency"})

# : For automatic notices only these flags matter: an absence notice "promising" payment on return commits
# nobody.
AUTOMATIC_NOTICE_FLAGS = frozenset({"request_bot_cannot_fulfil", "contact_update_after_automatic_notice"})
