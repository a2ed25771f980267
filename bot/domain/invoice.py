"""Invoice lifecycle: one state enum, one event enum and one transition table.

States (why each exists):

- ``open``: due or not yet due, reminders run on the profile's ladder.
- ``promised``: the debtor committed to a date; reminders pause until that date plus the grace days.
- ``disputed``: the debtor contests it; reminders stop until a person resolves the dispute.
- ``payment_claimed``: the debtor says it is paid; reminders pause while we wait for the money.
- ``on_hold``: a person paused it (or a payment plan is being negotiated).
- ``escalated``: handed over to a human or an agency; the bot no longer writes.
- ``paid`` and ``cancelled``: terminal.

A partial payment never changes the state by itself: the rest stays due on the same ladder.
"""

from __future__ import annotations

from enum import StrEnum

from bot.domain.errors import IllegalTransition


class InvoiceState(StrEnum):
    OPEN = "open"
    PROMISED = "promised"
    DISPUTED = "disputed"
    PAYMENT_CLAIMED = "payment_claimed"
    ON_HOLD = "on_hold"
    ESCALATED = "escalated"
    PAID = "paid"
    CANCELLED = "cancelled"


class InvoiceEvent(StrEnum):
    REMINDER_SENT = "reminder_sent"
    PROMISE = "promise"
    PROMISE_BROKEN = "promise_broken"
    DISPUTE = "dispute"
    DISPUTE_RESOLVED = "dispute_resolved"
    PAID_CLAIM = "paid_claim"
    CLAIM_EXPIRED = "claim_expired"
    PAYMENT_RECORDED = "payment_recorded"
    PARTIAL_PAYMENT = "partial_payment"
    PAUSE = "pause"
    RESUME = "resume"
    ESCALATE = "escalate"
    CANCEL = "cancel"


S = InvoiceState
E = InvoiceEvent

#: (state, event) -> next state. Anything absent is illegal.
TRANSITIONS: dict[tuple[InvoiceState, InvoiceEvent], InvoiceState] = {
    # open: the normal ladder
    (S.OPEN, E.REMINDER_SENT): S.OPEN,
    (S.OPEN, E.PROMISE): S.PROMISED,
    (S.OPEN, E.DISPUTE): S.DISPUTED,
    (S.OPEN, E.PAID_CLAIM): S.PAYMENT_CLAIMED,
    (S.OPEN, E.PAYMENT_RECORDED): S.PAID,
    (S.OPEN, E.PARTIAL_PAYMENT): S.OPEN,
    (S.OPEN, E.PAUSE): S.ON_HOLD,
    (S.OPEN, E.ESCALATE): S.ESCALATED,
    (S.OPEN, E.CANCEL): S.CANCELLED,
    # promised: waiting for the promised date
    (S.PROMISED, E.PROMISE): S.PROMISED,  # a new date replaces the old one
    (S.PROMISED, E.PROMISE_BROKEN): S.OPEN,
    (S.PROMISED, E.DISPUTE): S.DISPUTED,
    (S.PROMISED, E.PAID_CLAIM): S.PAYMENT_CLAIMED,
    (S.PROMISED, E.PAYMENT_RECORDED): S.PAID,
    (S.PROMISED, E.PARTIAL_PAYMENT): S.PROMISED,
    (S.PROMISED, E.PAUSE): S.ON_HOLD,
    (S.PROMISED, E.ESCALATE): S.ESCALATED,
    (S.PROMISED, E.CANCEL): S.CANCELLED,
    # disputed: only a person moves it on (resolution, cancellation by credit note, escalation)
    (S.DISPUTED, E.DISPUTE): S.DISPUTED,
    (S.DISPUTED, E.DISPUTE_RESOLVED): S.OPEN,
    (S.DISPUTED, E.PAYMENT_RECORDED): S.PAID,
    (S.DISPUTED, E.PARTIAL_PAYMENT): S.DISPUTED,
    (S.DISPUTED, E.ESCALATE): S.ESCALATED,
    (S.DISPUTED, E.CANCEL): S.CANCELLED,
    # payment claimed: waiting to see the money
    (S.PAYMENT_CLAIMED, E.PAID_CLAIM): S.PAYMENT_CLAIMED,
    (S.PAYMENT_CLAIMED, E.CLAIM_EXPIRED): S.OPEN,
    (S.PAYMENT_CLAIMED, E.PAYMENT_RECORDED): S.PAID,
    (S.PAYMENT_CLAIMED, E.PARTIAL_PAYMENT): S.OPEN,
    (S.PAYMENT_CLAIMED, E.PROMISE): S.PROMISED,
    (S.PAYMENT_CLAIMED, E.DISPUTE): S.DISPUTED,
    (S.PAYMENT_CLAIMED, E.PAUSE): S.ON_HOLD,
    (S.PAYMENT_CLAIMED, E.ESCALATE): S.ESCALATED,
    (S.PAYMENT_CLAIMED, E.CANCEL): S.CANCELLED,
    # on hold: paused by a person
    (S.ON_HOLD, E.PAUSE): S.ON_HOLD,
    (S.ON_HOLD, E.RESUME): S.OPEN,
    (S.ON_HOLD, E.PROMISE): S.PROMISED,
    (S.ON_HOLD, E.DISPUTE): S.DISPUTED,
    (S.ON_HOLD, E.PAYMENT_RECORDED): S.PAID,
    (S.ON_HOLD, E.PARTIAL_PAYMENT): S.ON_HOLD,
    (S.ON_HOLD, E.ESCALATE): S.ESCALATED,
    (S.ON_HOLD, E.CANCEL): S.CANCELLED,
    # escalated: a human or an agency owns it; money still counts
    (S.ESCALATED, E.RESUME): S.OPEN,
    (S.ESCALATED, E.DISPUTE): S.DISPUTED,
    (S.ESCALATED, E.PAYMENT_RECORDED): S.PAID,
    (S.ESCALATED, E.PARTIAL_PAYMENT): S.ESCALATED,
    (S.ESCALATED, E.CANCEL): S.CANCELLED,
}

#: States in which the bot may send a reminder.
REMINDABLE: frozenset[InvoiceState] = frozenset({S.OPEN})
#: States that count as outstanding debt (for KPIs and ageing).
OUTSTANDING: frozenset[InvoiceState] = frozenset(set(S) - {S.PAID, S.CANCELLED})
TERMINAL: frozenset[InvoiceState] = frozenset({S.PAID, S.CANCELLED})


def next_state(state: InvoiceState, event: InvoiceEvent, invoice: str = "") -> InvoiceState:
    """Return the state after ``event``; raise :class:`IllegalTransition` if the table forbids it."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(state.value, event.value, invoice) from None


def can_take(state: InvoiceState, event: InvoiceEvent) -> bool:
    """Whether ``event`` is allowed in ``state``."""
    return (state, event) in TRANSITIONS
