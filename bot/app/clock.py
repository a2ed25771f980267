"""Clocks: the real one, and a fixed one for ``--as-of`` and simulations."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that reads what it is told; ``advance`` moves it (used by the demo's simulated weeks)."""

    def __init__(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = moment.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self._now += delta


def noon_in(day: date, timezone: str = "Europe/Paris") -> datetime:
    """``--as-of D``: the command runs as if the clock read D at noon in the given timezone."""
    return datetime.combine(day, time(12, 0), ZoneInfo(timezone)).astimezone(UTC)
