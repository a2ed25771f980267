"""What a sample invoice would receive under a profile, day by day, using the real planner."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from bot.domain.invoice import InvoiceState
from bot.domain.planner import Blocked, ClientSnapshot, InvoiceSnapshot, Planner
from bot.domain.profile import ProfilesConfig

MAX_DAYS = 400


@dataclass(frozen=True)
class SimulatedStep:
    day: date
    step: str
    channel: str
    template: str | None
    send_at: datetime
    days_from_due: int


def simulate(
    config: ProfilesConfig,
    profile: str,
    due_date: date,
    language: str = "fr",
    amount: Decimal = Decimal("1200.00"),
) -> list[SimulatedStep]:
    """Plan every day from three weeks before the due date to the last step, as if nobody ever paid."""
    from bot.adapters.holiday_calendar import calendars_for

    if profile not in config.profiles:
        raise ValueError(f"unknown profile {profile!r}")
    calendars = calendars_for(config)
    steps = config.profiles[profile].steps
    start = due_date + timedelta(days=min(-21, steps[0].offset_days - 3))
    end = due_date + timedelta(days=min(steps[-1].offset_days + 30, MAX_DAYS))
    client = ClientSnapshot("SIM-1", "Sample client", language, profile, emails=("ap@example.test",))
    invoice = InvoiceSnapshot(
        "SIM-0001",
        "SIM-1",
        due_date - timedelta(days=30),
        due_date,
        amount,
        Decimal(0),
        "EUR",
        InvoiceState.OPEN,
    )
    out: list[SimulatedStep] = []
    day = start
    while day <= end:
        planner = Planner(day, config, calendars, day)
        for action in planner.plan_client(client, [invoice]):
            if action.blocked is not None and action.blocked is not Blocked.STALE_LEDGER:
                continue
            sent_on = action.send_at.astimezone(config.profiles[profile].zone).date()
            out.append(
                SimulatedStep(
                    day,
                    action.step,
                    action.channel.value,
                    action.template,
                    action.send_at,
                    (sent_on - due_date).days,
                )
            )
            invoice = replace(invoice, last_step=action.step, last_step_on=sent_on)
            client = replace(client, last_reminder_on=sent_on)
        if invoice.last_step == steps[-1].name:
            break
        day += timedelta(days=1)
    return out
