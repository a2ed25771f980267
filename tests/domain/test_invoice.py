"""The invoice lifecycle: every row of the transition table, and every absent pair is illegal."""

from __future__ import annotations

import pytest

from bot.domain.errors import IllegalTransition
from bot.domain.invoice import TERMINAL, TRANSITIONS, InvoiceEvent, InvoiceState, can_take, next_state

S, E = InvoiceState, InvoiceEvent


@pytest.mark.parametrize(
    ("state", "event", "expected"),
    [(s, e, t) for (s, e), t in TRANSITIONS.items()],
    ids=[f"{s}-{e}" for (s, e) in TRANSITIONS],
)
def test_every_row_of_the_table(state: InvoiceState, event: InvoiceEvent, expected: InvoiceState) -> None:
    assert next_state(state, event) is expected
    assert can_take(state, event)


ILLEGAL = [(s, e) for s in S for e in E if (s, e) not in TRANSITIONS]


@pytest.mark.parametrize(("state", "event"), ILLEGAL, ids=[f"{s}-{e}" for s, e in ILLEGAL])
def test_every_other_pair_is_illegal(state: InvoiceState, event: InvoiceEvent) -> None:
    with pytest.raises(IllegalTransition) as info:
        next_state(state, event, "F-1")
    assert state.value in str(info.value) and event.value in str(info.value) and "F-1" in str(info.value)
    assert not can_take(state, event)


def test_terminal_states_take_no_event() -> None:
    assert all(s not in TERMINAL for (s, _e) in TRANSITIONS)


def test_the_classic_story() -> None:
    state = S.OPEN
    for event in (
        E.REMINDER_SENT,
        E.PROMISE,
        E.PROMISE_BROKEN,
        E.REMINDER_SENT,
        E.PAID_CLAIM,
        E.CLAIM_EXPIRED,
        E.PARTIAL_PAYMENT,
        E.PAYMENT_RECORDED,
    ):
        state = next_state(state, event)
    assert state is S.PAID


def test_a_dispute_stops_reminders_until_resolved() -> None:
    assert not can_take(S.DISPUTED, E.REMINDER_SENT)
    assert next_state(S.DISPUTED, E.DISPUTE_RESOLVED) is S.OPEN
