"""Business days, public holidays and send windows.

Holidays come in as data (a set of dates, or a per-year loader that the adapter backs with the ``holidays``
package) so the domain stays pure and the planner never recomputes a year's holidays.

Two notions of "working" day, on purpose:

- a *business day* (``is_business_day``) is a calendar workday that is not a public holiday; it counts the
  pauses expressed in business days (e.g. ``paid_claim_pause_days``);
- a *sending day* is a day whose weekday is in the profile's send window and that is not a public holiday.
  The window, not the calendar's workweek, says which weekdays mail may leave (an admin who writes
  ``mon-sat`` means Saturdays too); a window narrower than the workweek never changes how pauses count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta

from bot.domain.profile import Profile, SendWindow

_ONE_DAY = timedelta(days=1)
#: A window with at least one weekday always opens within a week plus the longest run of holidays; this
#: bound only stops an infinite loop on a calendar that declares every day a holiday.
_MAX_SEARCH_DAYS = 400


class BusinessCalendar:
    """Workdays (0 = Monday) and public holidays, given as fixed dates or a loader called once per year."""

    __slots__ = ("_fixed", "_loader", "_years", "workdays")

    def __init__(
        self,
        holidays: Iterable[date] | Callable[[int], Iterable[date]] = (),
        workdays: Iterable[int] = (0, 1, 2, 3, 4),
    ) -> None:
        self.workdays = frozenset(workdays)
        self._years: dict[int, frozenset[date]] = {}
        if callable(holidays):
            self._loader: Callable[[int], Iterable[date]] | None = holidays
            self._fixed: frozenset[date] = frozenset()
        else:
            self._loader = None
            self._fixed = frozenset(holidays)

    def is_holiday(self, d: date) -> bool:
        """Whether ``d`` is a public holiday."""
        if self._loader is None:
            return d in self._fixed
        year = self._years.get(d.year)
        if year is None:
            year = self._years[d.year] = frozenset(self._loader(d.year))
        return d in year


def is_business_day(d: date, calendar: BusinessCalendar) -> bool:
    """A workday of ``calendar`` that is not a public holiday."""
    return d.weekday() in calendar.workdays and not calendar.is_holiday(d)


def next_business_day(d: date, calendar: BusinessCalendar, *, include_today: bool = False) -> date:
    """The first business day after ``d`` (or ``d`` itself when ``include_today`` and it is one)."""
    if include_today and is_business_day(d, calendar):
        return d
    for _ in range(_MAX_SEARCH_DAYS):
        d += _ONE_DAY
        if is_business_day(d, calendar):
            return d
    raise ValueError("the calendar has no business day in the next 400 days")


def add_business_days(d: date, n: int, calendar: BusinessCalendar) -> date:
    """``d`` moved by ``n`` business days (``d`` itself not counted; negative ``n`` goes back; 0 is ``d``)."""
    step = _ONE_DAY if n >= 0 else -_ONE_DAY
    remaining = abs(n)
    guard = 0
    while remaining:
        d += step
        guard += 1
        if is_business_day(d, calendar):
            remaining -= 1
        elif guard > _MAX_SEARCH_DAYS + 7 * abs(n):
            raise ValueError("the calendar has too few business days")
    return d


def is_sending_day(d: date, window: SendWindow, calendar: BusinessCalendar) -> bool:
    """A weekday the window allows that is not a public holiday."""
    return d.weekday() in window.days and not calendar.is_holiday(d)


def window_opening(d: date, profile: Profile, calendar: BusinessCalendar) -> datetime:
    """The first window opening on or after day ``d`` (local), as an aware UTC datetime."""
    window = profile.send_window
    for _ in range(_MAX_SEARCH_DAYS):
        if is_sending_day(d, window, calendar):
            return datetime.combine(d, window.start, profile.zone).astimezone(UTC)
        d += _ONE_DAY
    raise ValueError("the send window never opens in the next 400 days")


def in_send_window(moment: datetime, profile: Profile, calendar: BusinessCalendar) -> bool:
    """Whether an aware ``moment`` falls inside the window on a sending day, in the profile's timezone."""
    local = moment.astimezone(profile.zone)
    window = profile.send_window
    return window.start <= local.time() < window.end and is_sending_day(local.date(), window, calendar)


def next_send_time(moment: datetime, profile: Profile, calendar: BusinessCalendar) -> datetime:
    """When a message due at ``moment`` may leave: ``moment`` if inside the window, else the next opening.

    ``moment`` must be timezone-aware; the result is aware UTC. The window is read in the profile's timezone,
    so 09:00 Paris is 08:00 UTC in winter and 07:00 UTC in summer.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("next_send_time needs a timezone-aware moment")
    local = moment.astimezone(profile.zone)
    window = profile.send_window
    today = local.date()
    if is_sending_day(today, window, calendar):
        now = local.time()
        if window.start <= now < window.end:
            return moment.astimezone(UTC)
        if now < window.start:
            return datetime.combine(today, window.start, profile.zone).astimezone(UTC)
    return window_opening(today + _ONE_DAY, profile, calendar)


def local_noon(d: date, profile: Profile) -> datetime:
    """Noon of day ``d`` in the profile's timezone, aware UTC (what ``--as-of D`` means for that profile)."""
    return datetime.combine(d, time(12), profile.zone).astimezone(UTC)


def promise_resume_date(promise_date: date, profile: Profile) -> date:
    """First day reminders may resume after a promise to pay by ``promise_date`` (calendar grace days)."""
    return promise_date + timedelta(days=profile.promise_grace_days + 1)


def paid_claim_pause_end(claimed_on: date, profile: Profile, calendar: BusinessCalendar) -> date:
    """Last day of the pause after an "already paid" claim made on ``claimed_on`` (business days)."""
    return add_business_days(claimed_on, profile.paid_claim_pause_days, calendar)
