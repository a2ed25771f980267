"""Business days, holidays and send windows (holidays given by hand: the domain never calls the package)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.cadence import (
    BusinessCalendar,
    add_business_days,
    in_send_window,
    is_business_day,
    is_sending_day,
    local_noon,
    next_business_day,
    next_send_time,
    paid_claim_pause_end,
    promise_resume_date,
    window_opening,
)
from bot.domain.profile import Profile

PARIS = ZoneInfo("Europe/Paris")
# French public holidays of 2026, written out from the official list.
FR_2026 = {
    date(2026, 1, 1), date(2026, 4, 6), date(2026, 5, 1), date(2026, 5, 8), date(2026, 5, 14),
    date(2026, 5, 25), date(2026, 7, 14), date(2026, 8, 15), date(2026, 11, 1), date(2026, 11, 11),
    date(2026, 12, 25),
}  # fmt: skip
FR = BusinessCalendar(FR_2026)


def make_profile(**overrides: Any) -> Profile:
    data: dict[str, Any] = {
        "timezone": "Europe/Paris",
        "send_window": {"days": "mon-fri", "hours": "09:00-17:00"},
        "holidays": "FR",
        "min_gap_days": 5,
        "promise_grace_days": 3,
        "paid_claim_pause_days": 5,
        "group_invoices": True,
        "legal": {"jurisdiction": "fr"},
        "steps": [{"name": "reminder_1", "offset_days": 1, "channel": "email", "template": "reminder_1"}],
    }
    data.update(overrides)
    return Profile.model_validate(data)


STANDARD = make_profile()


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


def test_weekends_and_public_holidays_are_not_business_days() -> None:
    assert is_business_day(date(2026, 7, 13), FR)  # Monday
    assert not is_business_day(date(2026, 7, 14), FR)  # Bastille Day, a Tuesday
    assert not is_business_day(date(2026, 7, 18), FR)  # Saturday
    assert not is_business_day(date(2026, 7, 19), FR)  # Sunday


def test_a_year_loader_is_called_once_per_year() -> None:
    calls: list[int] = []

    def loader(year: int) -> set[date]:
        calls.append(year)
        return {d for d in FR_2026 if d.year == year}

    calendar = BusinessCalendar(loader)
    for day in range(1, 365, 3):
        is_business_day(date(2026, 1, 1) + timedelta(days=day), calendar)
    assert not is_business_day(date(2026, 12, 25), calendar)
    is_business_day(date(2027, 1, 4), calendar)
    assert calls == [2026, 2027]


def test_next_business_day_skips_easter_monday_and_the_weekend() -> None:
    assert next_business_day(date(2026, 4, 3), FR) == date(2026, 4, 7)  # Fri -> Tue after Easter Monday
    assert next_business_day(date(2026, 4, 3), FR, include_today=True) == date(2026, 4, 3)
    assert next_business_day(date(2026, 4, 4), FR, include_today=True) == date(2026, 4, 7)


def test_add_business_days_counts_only_business_days() -> None:
    # Thursday 30 April + 1: Friday 1 May is a holiday, then the weekend.
    assert add_business_days(date(2026, 4, 30), 1, FR) == date(2026, 5, 4)
    # Monday 4 May + 5: Fri 8 May is a holiday.
    assert add_business_days(date(2026, 5, 4), 5, FR) == date(2026, 5, 12)
    assert add_business_days(date(2026, 5, 4), 0, FR) == date(2026, 5, 4)
    assert add_business_days(date(2026, 5, 4), -1, FR) == date(2026, 4, 30)


def test_a_calendar_with_no_business_day_is_refused_rather_than_looping() -> None:
    never = BusinessCalendar(workdays=())
    with pytest.raises(ValueError, match="no business day"):
        next_business_day(date(2026, 1, 1), never)
    with pytest.raises(ValueError):
        add_business_days(date(2026, 1, 1), 2, never)


def test_inside_the_window_the_moment_itself_is_returned_in_utc() -> None:
    moment = paris(2026, 7, 15, 10, 30)
    result = next_send_time(moment, STANDARD, FR)
    assert result == moment and result.tzinfo is UTC


def test_before_opening_waits_for_the_opening_same_day() -> None:
    assert next_send_time(paris(2026, 7, 15, 7, 0), STANDARD, FR) == paris(2026, 7, 15, 9, 0)


def test_closing_time_is_excluded() -> None:
    assert next_send_time(paris(2026, 7, 15, 17, 0), STANDARD, FR) == paris(2026, 7, 16, 9, 0)
    assert next_send_time(paris(2026, 7, 15, 16, 59), STANDARD, FR) == paris(2026, 7, 15, 16, 59)


def test_friday_evening_goes_to_monday_morning() -> None:
    assert next_send_time(paris(2026, 7, 10, 18, 0), STANDARD, FR) == paris(2026, 7, 13, 9, 0)


def test_a_public_holiday_moves_to_the_next_business_day() -> None:
    # Monday 13 July evening: Tuesday 14 July is Bastille Day.
    assert next_send_time(paris(2026, 7, 13, 17, 30), STANDARD, FR) == paris(2026, 7, 15, 9, 0)
    # Ascension Thursday 14 May 2026 at noon -> Friday morning.
    assert next_send_time(paris(2026, 5, 14, 12, 0), STANDARD, FR) == paris(2026, 5, 15, 9, 0)


def test_the_window_is_read_in_the_profiles_timezone_across_dst() -> None:
    # 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer (DST began on Sunday 29 March 2026).
    winter = next_send_time(datetime(2026, 3, 27, 17, 0, tzinfo=UTC), STANDARD, FR)
    assert winter == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert next_send_time(datetime(2026, 3, 26, 6, 0, tzinfo=UTC), STANDARD, FR) == datetime(
        2026, 3, 26, 8, 0, tzinfo=UTC
    )
    london = make_profile(timezone="Europe/London")
    assert next_send_time(datetime(2026, 3, 26, 6, 0, tzinfo=UTC), london, FR) == datetime(
        2026, 3, 26, 9, 0, tzinfo=UTC
    )


def test_a_window_narrower_than_the_workweek_only_restricts_sending() -> None:
    mon_thu = make_profile(send_window={"days": "mon-thu", "hours": "09:30-16:30"})
    assert next_send_time(paris(2026, 7, 16, 17, 0), mon_thu, FR) == paris(2026, 7, 20, 9, 30)
    assert is_business_day(date(2026, 7, 17), FR)
    assert not is_sending_day(date(2026, 7, 17), mon_thu.send_window, FR)


def test_naive_moments_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_send_time(datetime(2026, 7, 15, 10, 0), STANDARD, FR)


def test_local_noon_and_window_opening() -> None:
    assert local_noon(date(2026, 1, 15), STANDARD) == datetime(2026, 1, 15, 11, 0, tzinfo=UTC)
    assert window_opening(date(2026, 7, 14), STANDARD, FR) == paris(2026, 7, 15, 9, 0)


def test_promise_grace_and_paid_claim_pause() -> None:
    # Promise for Monday 6 July, 3 grace days: reminders may resume on Friday 10 July.
    assert promise_resume_date(date(2026, 7, 6), STANDARD) == date(2026, 7, 10)
    # "Already paid" on Friday 10 July, 5 business days (14 July is a holiday): pause ends Monday 20 July.
    assert paid_claim_pause_end(date(2026, 7, 10), STANDARD, FR) == date(2026, 7, 20)


HOURS = st.tuples(st.integers(0, 22), st.sampled_from([0, 30])).flatmap(
    lambda start: st.tuples(st.just(start), st.integers(start[0] + 1, 23), st.sampled_from([0, 30]))
)


@settings(max_examples=150, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)),
    zone=st.sampled_from(["Europe/Paris", "Europe/London", "America/New_York", "Asia/Tokyo"]),
    days=st.sets(st.integers(0, 6), min_size=1),
    hours=HOURS,
    holidays=st.sets(st.dates(date(2025, 1, 1), date(2029, 3, 31)), max_size=40),
)
def test_next_send_time_is_the_earliest_moment_inside_the_window(
    moment: datetime,
    zone: str,
    days: set[int],
    hours: tuple[tuple[int, int], int, int],
    holidays: set[date],
) -> None:
    (h1, m1), h2, m2 = hours
    profile = make_profile(
        timezone=zone,
        send_window={"days": sorted(("mon", "tue", "wed", "thu", "fri", "sat", "sun")[d] for d in days),
                     "hours": f"{h1:02}:{m1:02}-{h2:02}:{m2:02}"},
    )  # fmt: skip
    calendar = BusinessCalendar(holidays)
    result = next_send_time(moment, profile, calendar)
    assert result >= moment
    assert in_send_window(result, profile, calendar)
    # Minimal: no sending day between the two has a window that overlaps [moment, result).
    local_zone = ZoneInfo(zone)
    day = moment.astimezone(local_zone).date()
    while day <= result.astimezone(local_zone).date():
        if is_sending_day(day, profile.send_window, calendar):
            opens = datetime.combine(day, time(h1, m1), local_zone)
            closes = datetime.combine(day, time(h2, m2), local_zone)
            assert not (opens < result and closes > moment and max(opens, moment) < result)
        day += timedelta(days=1)
