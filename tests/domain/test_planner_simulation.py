"""Day-by-day simulations with an injected clock: the planner's own actions are fed back as done.

- property tests (hypothesis) over random profiles, calendars, ledgers and planning hours: never two written
  reminders to one client within the gap, never a send outside the window, steps monotonic per invoice;
- a 90-day run of each shipped profile that checks the whole ladder, step by step and date by date.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holidays_package
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.holiday_calendar import calendars_for
from bot.domain.cadence import BusinessCalendar, in_send_window, is_sending_day
from bot.domain.invoice import InvoiceState
from bot.domain.planner import ClientSnapshot, InvoiceSnapshot, PlannedAction, plan
from bot.domain.profile import REMINDER_CHANNELS, Channel, Profile, ProfilesConfig

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "profiles.yaml"
START = date(2026, 3, 2)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass
class Simulation:
    """A tiny stand-in for the app: records what was sent and marks steps done as the app would."""

    config: ProfilesConfig
    calendars: dict[str, BusinessCalendar]
    clients: dict[str, ClientSnapshot]
    invoices: dict[str, InvoiceSnapshot]
    sent: list[tuple[datetime, PlannedAction]] = field(default_factory=list)

    def day(self, as_of: datetime | date) -> list[PlannedAction]:
        today = as_of.date() if isinstance(as_of, datetime) else as_of
        actions = plan(as_of, self.clients.values(), self.invoices.values(), self.config, self.calendars, today)
        for action in actions:
            if action.blocked is not None:
                continue
            self.sent.append((as_of if isinstance(as_of, datetime) else datetime.min, action))
            sent_on = action.send_at.astimezone(ZoneInfo(action.timezone)).date()
            for number in action.invoice_numbers:
                inv = self.invoices[number]
                state = InvoiceState.ESCALATED if action.channel is Channel.ESCALATE else inv.state
                self.invoices[number] = replace(inv, last_step=action.step, last_step_on=sent_on, state=state)
            if action.channel in REMINDER_CHANNELS:
                self.clients[action.client_id] = replace(self.clients[action.client_id], last_reminder_on=sent_on)
        return actions


# --- property tests -------------------------------------------------------------------------------------


@st.composite
def profiles(draw: st.DrawFn) -> dict[str, Any]:
    offsets = sorted(draw(st.sets(st.integers(-20, 70), min_size=1, max_size=7)))
    steps = []
    for i, offset in enumerate(offsets):
        channel = draw(st.sampled_from(list(Channel)))
        steps.append(
            {
                "name": f"s{i}",
                "offset_days": offset,
                "channel": channel.value,
                "template": "t" if channel is Channel.EMAIL else None,
                "min_gap_days": draw(st.none() | st.integers(0, 12)),
            }
        )
    start = draw(st.integers(0, 22))
    end = draw(st.integers(start + 1, 23))
    return {
        "timezone": draw(st.sampled_from(["Europe/Paris", "Europe/London", "America/New_York", "Asia/Tokyo"])),
        "send_window": {
            "days": [WEEKDAYS[d] for d in sorted(draw(st.sets(st.integers(0, 6), min_size=1)))],
            "hours": f"{start:02}:{draw(st.sampled_from([0, 30])):02}-{end:02}:00",
        },
        "holidays": "FR",
        "min_gap_days": draw(st.integers(0, 12)),
        "promise_grace_days": 2,
        "paid_claim_pause_days": 3,
        "group_invoices": draw(st.booleans()),
        "legal": {"jurisdiction": "fr"},
        "steps": steps,
    }


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[list[ClientSnapshot], list[InvoiceSnapshot]]:
    clients, invoices = [], []
    for c in range(draw(st.integers(1, 3))):
        cid = f"C{c}"
        clients.append(ClientSnapshot(cid, f"Client {c}", "en", "p", (f"ap@c{c}.example",)))
        for i in range(draw(st.integers(1, 5))):
            invoices.append(
                InvoiceSnapshot(
                    number=f"{cid}-{i}",
                    client_id=cid,
                    issue_date=START,
                    due_date=START + timedelta(days=draw(st.integers(-30, 100))),
                    amount=Decimal(100),
                    amount_paid=Decimal(draw(st.sampled_from([0, 0, 0, 50, 100]))),
                    currency="EUR",
                    state=draw(st.sampled_from([InvoiceState.OPEN] * 4 + [InvoiceState.DISPUTED])),
                    cycle=draw(st.integers(0, 1)),
                )
            )
    return clients, invoices


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    profile_data=profiles(),
    ledger=ledgers(),
    holidays=st.sets(st.dates(START, START + timedelta(days=130)), max_size=12),
    hours=st.lists(st.integers(0, 23), min_size=120, max_size=120),
    down=st.sets(st.integers(0, 119), max_size=40),
)
def test_invariants_hold_over_120_days(
    profile_data: dict[str, Any],
    ledger: tuple[list[ClientSnapshot], list[InvoiceSnapshot]],
    holidays: set[date],
    hours: list[int],
    down: set[int],
) -> None:
    config = ProfilesConfig.model_validate(
        {"legal_rates": {"ecb_refinancing_rate": 2}, "default_profile": "p", "profiles": {"p": profile_data}}
    )
    profile = config.profiles["p"]
    calendar = BusinessCalendar(holidays)
    clients, invoices = ledger
    sim = Simulation(config, {"p": calendar}, {c.client_id: c for c in clients}, {i.number: i for i in invoices})
    for day, hour in enumerate(hours):
        if day in down:  # the bot was not running that day: the next run catches up
            continue
        as_of = datetime.combine(START + timedelta(days=day), time(hour), profile.zone)
        for action in sim.day(as_of):
            # never a send outside the window, never in the past
            assert in_send_window(action.send_at, profile, calendar), action
            assert action.send_at >= as_of
    check_gaps(sim.sent, profile)
    check_monotonic(sim.sent)


def check_gaps(sent: list[tuple[datetime, PlannedAction]], profile: Profile) -> None:
    gaps = {s.name: profile.min_gap_days if s.min_gap_days is None else s.min_gap_days for s in profile.steps}
    last: dict[str, date] = {}
    for _, action in sorted(sent, key=lambda pair: pair[1].send_at):
        if action.channel not in REMINDER_CHANNELS:
            continue
        day = action.send_at.astimezone(profile.zone).date()
        previous = last.get(action.client_id)
        assert previous is None or (day - previous).days >= gaps[action.step], (previous, action)
        last[action.client_id] = day


def check_monotonic(sent: list[tuple[datetime, PlannedAction]]) -> None:
    reached: dict[str, int] = {}
    for _, action in sent:
        for number in action.invoice_numbers:
            assert action.step_index > reached.get(number, -1), (number, action)
            reached[number] = action.step_index


# --- the whole ladder of each shipped profile ------------------------------------------------------------

#: The ladder each shipped profile promises (the specification, written out rather than read from the file).
TWENTY_TWENTY = [
    "courtesy",
    "reminder_1",
    "call_1",
    "reminder_2",
    "formal_notice",
    "final_notice",
    "handover",
]
LADDERS = {
    "standard": TWENTY_TWENTY,
    "uk_standard": TWENTY_TWENTY,
    "key_account": ["courtesy", "reminder_1", "call_1", "reminder_2", "call_2", "formal_notice", "handover"],
    "public_sector": ["courtesy", "reminder_1", "call_1", "reminder_2", "letter", "final_notice", "handover"],
    "risky": ["courtesy", "reminder_1", "call_1", "reminder_2", "formal_notice", "formal_letter",
              "final_notice", "handover"],
}  # fmt: skip


@pytest.fixture(scope="module")
def shipped() -> ProfilesConfig:
    return ProfilesConfig.model_validate(yaml.safe_load(SHIPPED.read_text(encoding="utf-8")))


def expected_send_day(nominal: date, profile: Profile) -> date:
    """First day on or after ``nominal`` in the window and not a public holiday (read from the package)."""
    spec = profile.holidays
    table = holidays_package.country_holidays(spec.country, subdiv=spec.subdivision, years=range(2026, 2028))
    day = nominal
    while day.weekday() not in profile.send_window.days or day in table:
        day += timedelta(days=1)
    return day


@pytest.mark.parametrize("name", sorted(LADDERS))
@pytest.mark.parametrize("due", [date(2026, 4, 30), date(2026, 7, 10), date(2026, 12, 18)])
def test_ninety_days_of_a_profile_walk_the_whole_ladder(shipped: ProfilesConfig, name: str, due: date) -> None:
    profile = shipped.profiles[name]
    calendars = calendars_for(shipped)
    ledger = InvoiceSnapshot("F-1", "C1", due - timedelta(days=60), due, Decimal("900"), Decimal(0), "EUR",
                             InvoiceState.OPEN)  # fmt: skip
    sim = Simulation(shipped, calendars, {"C1": ClientSnapshot("C1", "Client", "fr", name, ("a@b.example",))},
                     {"F-1": ledger})  # fmt: skip
    day = due - timedelta(days=60)
    while day <= due + timedelta(days=90):
        sim.day(day)  # --as-of D: noon in the profile's timezone
        day += timedelta(days=1)
    assert [a.step for _, a in sim.sent] == LADDERS[name]
    for _, action in sim.sent:
        step = profile.steps[action.step_index]
        sent_on = action.send_at.astimezone(profile.zone).date()
        assert sent_on == expected_send_day(due + timedelta(days=step.offset_days), profile), action
        assert is_sending_day(sent_on, profile.send_window, calendars[name])
    assert sim.invoices["F-1"].state is InvoiceState.ESCALATED
    check_gaps(sim.sent, profile)
