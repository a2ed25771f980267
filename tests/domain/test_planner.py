"""Planner scenarios, one rule each: GIVEN a ledger and a profile, WHEN planning at a moment, THEN actions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import FrozenInstanceError, fields, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.domain.cadence import BusinessCalendar
from bot.domain.errors import ConfigError
from bot.domain.invoice import InvoiceState
from bot.domain.planner import (
    Blocked,
    ClientSnapshot,
    InvoiceRow,
    InvoiceSnapshot,
    PlannedAction,
    Planner,
    as_row,
    ledger_is_stale,
    new_action,
    new_client_snapshot,
    plan,
    upcoming_step,
)
from bot.domain.profile import Channel, Profile, ProfilesConfig

PARIS = ZoneInfo("Europe/Paris")
FR_2026 = {date(2026, 5, 1), date(2026, 5, 8), date(2026, 5, 14), date(2026, 5, 25), date(2026, 7, 14)}
DUE = date(2026, 6, 1)  # a Monday

LADDER: list[dict[str, Any]] = [
    {"name": "courtesy", "offset_days": -10, "channel": "email", "template": "courtesy"},
    {"name": "reminder_1", "offset_days": 1, "channel": "email", "template": "reminder_1"},
    {"name": "call_1", "offset_days": 10, "channel": "call_task"},
    {"name": "reminder_2", "offset_days": 20, "channel": "email", "template": "reminder_2"},
    {"name": "formal_notice", "offset_days": 30, "channel": "email", "template": "formal_notice"},
    {"name": "handover", "offset_days": 45, "channel": "escalate"},
]


def make_config(**overrides: Any) -> ProfilesConfig:
    profile: dict[str, Any] = {
        "timezone": "Europe/Paris",
        "send_window": {"days": "mon-fri", "hours": "09:00-17:00"},
        "holidays": "FR",
        "min_gap_days": 5,
        "promise_grace_days": 3,
        "paid_claim_pause_days": 5,
        "group_invoices": True,
        "legal": {"jurisdiction": "fr"},
        "steps": LADDER,
    }
    profile.update(overrides)
    return ProfilesConfig.model_validate(
        {"legal_rates": {"ecb_refinancing_rate": "2.15"}, "default_profile": "p", "profiles": {"p": profile}}
    )


CONFIG = make_config()
CALENDARS = {"p": BusinessCalendar(FR_2026)}


def invoice(number: str = "F-1", **changes: Any) -> InvoiceSnapshot:
    base = InvoiceSnapshot(
        number=number,
        client_id="C1",
        issue_date=DUE - timedelta(days=30),
        due_date=DUE,
        amount=Decimal("1200.00"),
        amount_paid=Decimal("0"),
        currency="EUR",
        state=InvoiceState.OPEN,
    )
    return replace(base, **changes)


def client(**changes: Any) -> ClientSnapshot:
    base = ClientSnapshot(client_id="C1", name="Dupont SA", language="fr", profile="p", emails=("ap@dupont.fr",))
    return replace(base, **changes)


def at(day_offset: int, hour: int = 12) -> datetime:
    """``day_offset`` days after the due date, at ``hour`` in Paris."""
    return datetime.combine(DUE + timedelta(days=day_offset), datetime.min.time(), PARIS).replace(hour=hour)


def run(
    as_of: datetime | date,
    invoices: list[InvoiceSnapshot],
    clients: list[ClientSnapshot] | None = None,
    config: ProfilesConfig = CONFIG,
    ledger: datetime | date | None = "today",  # type: ignore[assignment]
) -> list[PlannedAction]:
    if ledger == "today":
        ledger = as_of if isinstance(as_of, date) and not isinstance(as_of, datetime) else as_of.date()
    return plan(as_of, clients or [client()], invoices, config, CALENDARS, ledger)


def steps_of(actions: list[PlannedAction]) -> list[tuple[str, tuple[str, ...], str | None]]:
    return [(a.step, a.invoice_numbers, a.blocked) for a in actions]


# --- which step, if any ------------------------------------------------------------------------------------


def test_nothing_is_planned_before_the_first_step() -> None:
    assert run(at(-11), [invoice()]) == []


def test_courtesy_check_in_ten_days_before_the_due_date() -> None:
    [action] = run(at(-10), [invoice()])
    assert (action.step, action.channel, action.template, action.language) == (
        "courtesy",
        Channel.EMAIL,
        "courtesy",
        "fr",
    )
    assert action.send_at == at(-10) and action.blocked is None and action.step_index == 0


def test_first_reminder_the_day_after_the_due_date() -> None:
    assert steps_of(run(at(1), [invoice(last_step="courtesy", last_step_on=DUE - timedelta(days=10))])) == [
        ("reminder_1", ("F-1",), None)
    ]


@pytest.mark.parametrize("state", [s for s in InvoiceState if s is not InvoiceState.OPEN])
def test_only_open_invoices_are_reminded(state: InvoiceState) -> None:
    assert run(at(1), [invoice(state=state)]) == []
    assert run(at(1), [invoice(state=InvoiceState.OPEN)]) != []


def test_a_fully_paid_balance_is_not_chased_but_a_partial_one_is() -> None:
    assert run(at(1), [invoice(amount_paid=Decimal("1200.00"))]) == []
    assert steps_of(run(at(1), [invoice(amount_paid=Decimal("200.00"))])) == [("reminder_1", ("F-1",), None)]


def test_a_paused_invoice_waits_until_the_day_after_its_pause() -> None:
    assert run(at(1), [invoice(paused_until=DUE + timedelta(days=1))]) == []
    assert len(run(at(2), [invoice(paused_until=DUE + timedelta(days=1))])) == 1


def test_a_promise_protects_the_invoice_until_the_grace_days_have_passed() -> None:
    promised = invoice(
        last_step="reminder_1", last_step_on=DUE + timedelta(days=1), promise_date=DUE + timedelta(days=8)
    )
    assert run(at(11), [promised]) == []  # promise date + 3 grace days = +11
    assert steps_of(run(at(12), [promised])) == [("call_1", ("F-1",), None)]


def test_after_a_broken_promise_the_ladder_resumes_at_the_next_step_not_the_latest() -> None:
    # Promised for +15 after reminder_1, never paid; by +40 the formal notice would be due.
    broken = invoice(
        last_step="reminder_1", last_step_on=DUE + timedelta(days=1), promise_date=DUE + timedelta(days=15)
    )
    assert [a.step for a in run(at(40), [broken])] == ["call_1"]
    called = replace(broken, last_step="call_1", last_step_on=DUE + timedelta(days=40))
    assert [a.step for a in run(at(41), [called])] == ["reminder_2"]


def test_a_step_is_never_planned_twice_nor_backwards() -> None:
    done = invoice(last_step="reminder_1", last_step_on=DUE + timedelta(days=1))
    assert run(at(5), [done]) == []
    ahead = invoice(last_step="reminder_2", last_step_on=DUE + timedelta(days=20))
    assert run(at(25), [ahead]) == []
    # An invoice whose due date moved later is not walked back down either.
    assert run(at(25), [replace(ahead, due_date=DUE + timedelta(days=10))]) == []


def test_after_downtime_only_the_latest_step_due_is_planned() -> None:
    stale_history = invoice(last_step="courtesy", last_step_on=DUE - timedelta(days=10))
    assert steps_of(run(at(32), [stale_history])) == [("formal_notice", ("F-1",), None)]


def test_a_last_step_the_profile_no_longer_has_falls_back_on_its_date() -> None:
    renamed = invoice(last_step="old_reminder", last_step_on=DUE + timedelta(days=21))
    assert run(at(25), [renamed]) == []  # at +21 the ladder stood at reminder_2
    assert [a.step for a in run(at(30), [renamed])] == ["formal_notice"]


# --- grouping and the minimum gap -----------------------------------------------------------------------


def test_invoices_at_the_same_step_are_grouped_into_one_action() -> None:
    actions = run(at(1), [invoice("F-2"), invoice("F-1"), invoice("F-3", due_date=DUE + timedelta(days=20))])
    assert steps_of(actions) == [("reminder_1", ("F-1", "F-2"), None)]


def test_different_cycles_are_not_grouped() -> None:
    actions = run(at(1), [invoice("F-1"), invoice("F-2", cycle=1)])
    assert sorted((a.cycle, a.invoice_numbers) for a in actions) == [(0, ("F-1",)), (1, ("F-2",))]


def test_without_grouping_the_gap_lets_only_one_written_reminder_through() -> None:
    actions = run(at(1), [invoice("F-1"), invoice("F-2")], config=make_config(group_invoices=False))
    assert [a.blocked for a in actions] == [None, Blocked.MIN_GAP]
    assert actions[1].send_at == at(7, hour=9)  # the 5-day gap ends on a Sunday: Monday morning


def test_the_most_advanced_step_goes_first_when_steps_compete() -> None:
    older = invoice("F-OLD", due_date=DUE - timedelta(days=19), last_step="reminder_1",
                    last_step_on=DUE - timedelta(days=18))  # fmt: skip
    actions = run(at(1), [invoice("F-NEW"), older])
    assert steps_of(actions) == [
        ("reminder_2", ("F-OLD",), None),
        ("reminder_1", ("F-NEW",), Blocked.MIN_GAP),
    ]


def test_min_gap_since_the_last_reminder_defers_written_steps_only() -> None:
    recent = client(last_reminder_on=DUE + timedelta(days=8))
    done = invoice(last_step="reminder_1", last_step_on=DUE + timedelta(days=1))
    [call] = run(at(10), [done], [recent])
    assert call.step == "call_1" and call.blocked is None  # a call is work for a person, not a reminder
    later = replace(done, last_step="call_1", last_step_on=DUE + timedelta(days=10))
    [reminder] = run(at(20), [later], [client(last_reminder_on=DUE + timedelta(days=17))])
    assert reminder.blocked is Blocked.MIN_GAP and reminder.send_at == at(22, hour=9)
    [ok] = run(at(22), [later], [client(last_reminder_on=DUE + timedelta(days=17))])
    assert ok.blocked is None


def test_a_step_may_override_the_profiles_gap() -> None:
    ladder = [*LADDER[:5], {"name": "letter", "offset_days": 31, "channel": "letter_task", "min_gap_days": 0}]
    config = make_config(steps=ladder)
    done = invoice(last_step="formal_notice", last_step_on=DUE + timedelta(days=30))
    [letter] = run(at(31), [done], [client(last_reminder_on=DUE + timedelta(days=30))], config=config)
    assert (letter.step, letter.channel, letter.blocked) == ("letter", Channel.LETTER_TASK, None)


# --- blocked but listed -------------------------------------------------------------------------------------


def test_an_email_step_without_an_active_contact_is_blocked_but_a_call_is_not() -> None:
    [email] = run(at(1), [invoice()], [client(emails=())])
    assert email.blocked is Blocked.NO_ACTIVE_CONTACT
    done = invoice(last_step="reminder_1", last_step_on=DUE + timedelta(days=1))
    [call] = run(at(10), [done], [client(emails=())])
    assert call.blocked is None


def test_a_paused_client_is_listed_as_blocked_and_an_excluded_one_not_at_all() -> None:
    [action] = run(at(1), [invoice()], [client(paused_until=DUE + timedelta(days=1))])
    assert action.blocked is Blocked.CLIENT_PAUSED
    assert run(at(2), [invoice()], [client(paused_until=DUE + timedelta(days=1))])[0].blocked is None
    assert run(at(1), [invoice()], [client(excluded=True)]) == []


def test_a_stale_ledger_blocks_every_action_but_still_lists_it() -> None:
    today = DUE + timedelta(days=1)
    assert [a.blocked for a in run(at(1), [invoice()], ledger=None)] == [Blocked.STALE_LEDGER]
    assert [a.blocked for a in run(at(1), [invoice()], ledger=today - timedelta(days=8))] == [Blocked.STALE_LEDGER]
    assert [a.blocked for a in run(at(1), [invoice()], ledger=today - timedelta(days=7))] == [None]
    done = invoice(last_step="reminder_1", last_step_on=today)
    assert [a.blocked for a in run(at(10), [done], ledger=None)] == [Blocked.STALE_LEDGER]


def test_ledger_staleness_is_read_in_the_given_timezone() -> None:
    late_evening = datetime(2026, 6, 1, 22, 30, tzinfo=UTC)  # already 2 June in Paris
    assert not ledger_is_stale(date(2026, 6, 9), late_evening, 7, PARIS)
    assert ledger_is_stale(date(2026, 6, 9), late_evening, 7)


# --- when it leaves ----------------------------------------------------------------------------------------


def test_planning_on_a_saturday_sends_on_monday_morning() -> None:
    [action] = run(at(5), [invoice(due_date=DUE + timedelta(days=4))])  # due Friday, planned Saturday
    assert action.send_at == at(7, hour=9) and action.send_at.tzinfo is UTC


def test_a_public_holiday_moves_the_send_to_the_next_window() -> None:
    due = date(2026, 7, 13)  # reminder_1 falls on Tuesday 14 July
    [action] = run(datetime(2026, 7, 14, 10, tzinfo=PARIS), [invoice(due_date=due)])
    assert action.send_at == datetime(2026, 7, 15, 9, tzinfo=PARIS)


def test_after_hours_the_send_waits_for_the_next_opening() -> None:
    [action] = run(at(1, hour=18), [invoice()])
    assert action.send_at == at(2, hour=9)


def test_a_date_means_noon_in_the_profiles_timezone() -> None:
    [action] = run(DUE + timedelta(days=1), [invoice()])
    assert action.send_at == at(1, hour=12)


# --- output and contracts ----------------------------------------------------------------------------------


def test_to_json_matches_the_command_line_contract() -> None:
    [action] = run(at(1), [invoice("F-2"), invoice("F-1")])
    assert action.to_json() == {
        "client_id": "C1",
        "invoice_numbers": ["F-1", "F-2"],
        "step": "reminder_1",
        "channel": "email",
        "template": "reminder_1",
        "language": "fr",
        "send_at": "2026-06-02T12:00:00+02:00",
        "blocked": None,
        "cycle": 0,
        "profile": "p",
    }


def test_the_idempotency_key_depends_on_client_invoices_step_and_cycle_only() -> None:
    [a] = run(at(1), [invoice("F-1"), invoice("F-2")])
    [b] = run(at(1, hour=15), [invoice("F-2"), invoice("F-1")])
    assert a.idempotency_key == b.idempotency_key
    assert a.idempotency_key.startswith("C1/reminder_1/0/")
    assert replace(a, cycle=1).idempotency_key != a.idempotency_key
    assert replace(a, invoice_numbers=("F-1",)).idempotency_key != a.idempotency_key


def test_clients_with_an_unknown_profile_are_skipped_and_reported() -> None:
    planner = Planner(at(1), CONFIG, CALENDARS, DUE)
    assert planner.plan_client(client(profile="vip"), [invoice()]) == []
    assert planner.unknown_profiles == {"vip"}


def test_every_profile_needs_a_calendar_and_as_of_must_be_aware() -> None:
    with pytest.raises(ConfigError, match="no business calendar for profile"):
        Planner(at(1), CONFIG, {}, DUE)
    with pytest.raises(ValueError, match="timezone-aware"):
        Planner(datetime(2026, 6, 2, 12), CONFIG, CALENDARS, DUE)


def test_streaming_per_client_gives_the_same_plan_as_the_batch() -> None:
    clients = [client(client_id=f"C{i}") for i in range(5)]
    invoices = [
        invoice(f"F-{i}-{j}", client_id=f"C{i}", due_date=DUE - timedelta(days=j * 7))
        for i in range(5)
        for j in range(4)
    ]
    invoices.append(invoice("F-ORPHAN", client_id="C99"))
    batch = run(at(1), invoices, clients)
    planner = Planner(at(1), CONFIG, CALENDARS, DUE + timedelta(days=1))
    streamed = [a for c in clients for a in planner.plan_client(c, [i for i in invoices if i.client_id == c.client_id])]
    assert batch == streamed and len(batch) >= 5
    assert all("F-ORPHAN" not in a.invoice_numbers for a in batch)


def test_upcoming_step_for_display() -> None:
    profile: Profile = CONFIG.profiles["p"]
    assert upcoming_step(invoice(), profile) == (0, DUE - timedelta(days=10))
    assert upcoming_step(invoice(last_step="reminder_1"), profile) == (2, DUE + timedelta(days=10))
    assert upcoming_step(invoice(last_step="handover"), profile) is None


def test_rows_plan_like_snapshots_and_rows_of_excluded_clients_are_not_read() -> None:
    invoices = [
        invoice("F-1"),
        invoice("F-2", due_date=DUE - timedelta(days=25)),
        invoice("F-3", amount_paid=Decimal("1200.00")),
        invoice("F-4", last_step="reminder_1", last_step_on=DUE + timedelta(days=1)),
    ]
    planner = Planner(at(26), CONFIG, CALENDARS, DUE + timedelta(days=26))
    from_rows = planner.plan_rows(client(), [as_row(i) for i in invoices])
    assert from_rows == planner.plan_client(client(), invoices)
    assert [(a.step, a.invoice_numbers) for a in from_rows] == [("handover", ("F-2",)), ("reminder_2", ("F-1", "F-4"))]
    # SQLite hands amounts back as floats: they compare like the Decimals.
    floats = [(*as_row(i)[:3], float(i.amount), float(i.amount_paid), *as_row(i)[5:]) for i in invoices]
    assert planner.plan_rows(client(), floats) == from_rows  # type: ignore[arg-type]

    def unread() -> Iterator[InvoiceRow]:
        raise AssertionError("rows read for a client that is not planned")
        yield  # pragma: no cover

    assert planner.plan_rows(client(excluded=True), unread()) == []
    assert planner.plan_rows(client(profile="vip"), unread()) == []


def test_the_fast_constructors_build_genuine_frozen_values() -> None:
    [action] = run(at(1), [invoice("F-2"), invoice("F-1")])
    args = [getattr(action, f.name) for f in fields(PlannedAction)]
    fast, normal = new_action(*args), PlannedAction(*args)
    assert new_action is not PlannedAction, "the fast constructor no longer fits PlannedAction's fields"
    assert type(fast) is PlannedAction and fast == normal == action and hash(fast) == hash(normal)
    assert action.invoice_numbers == ("F-1", "F-2")
    with pytest.raises(FrozenInstanceError):
        fast.step = "other"  # type: ignore[misc]
    snapshot = client()
    values = [getattr(snapshot, f.name) for f in fields(ClientSnapshot)]
    assert new_client_snapshot is not ClientSnapshot, "the fast constructor no longer fits ClientSnapshot's fields"
    assert type(new_client_snapshot(*values)) is ClientSnapshot and new_client_snapshot(*values) == snapshot
    assert new_client_snapshot("C1", "Dupont SA", "fr", "p") == ClientSnapshot("C1", "Dupont SA", "fr", "p")
