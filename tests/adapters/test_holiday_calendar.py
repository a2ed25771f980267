"""Public holidays from the ``holidays`` package, as business calendars per profile."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from bot.adapters.holiday_calendar import calendars_for, holiday_problem, public_holidays
from bot.adapters.profiles_yaml import load_profiles
from bot.domain.cadence import add_business_days, is_business_day

ROOT = Path(__file__).resolve().parents[2]


def test_french_and_english_holidays() -> None:
    fr = public_holidays("FR", None, 2026)
    assert {date(2026, 5, 1), date(2026, 7, 14), date(2026, 12, 25)} <= fr
    eng = public_holidays("GB", "ENG", 2026)
    assert date(2026, 12, 28) in eng  # Boxing Day falls on a Saturday: observed on Monday
    assert date(2026, 7, 14) not in eng
    # Alsace-Moselle keeps Good Friday and St Stephen's Day.
    assert date(2026, 4, 3) in public_holidays("FR", "57", 2026) and date(2026, 4, 3) not in fr


def test_calendars_per_profile_follow_each_country() -> None:
    calendars = calendars_for(load_profiles(ROOT / "config" / "profiles.yaml"))
    assert not is_business_day(date(2026, 7, 14), calendars["standard"])
    assert is_business_day(date(2026, 7, 14), calendars["uk_standard"])
    assert not is_business_day(date(2026, 8, 31), calendars["uk_standard"])  # Summer bank holiday
    # Across a year boundary the next year's holidays load on demand.
    assert add_business_days(date(2026, 12, 31), 1, calendars["standard"]) == date(2027, 1, 4)


def test_holiday_problem_names_unknown_countries_and_subdivisions() -> None:
    assert holiday_problem("FR", None) is None and holiday_problem("GB", "SCT") is None
    assert "unknown holiday country 'XX'" in (holiday_problem("XX", None) or "")
    assert "unknown subdivision 'ZZ' for GB" in (holiday_problem("GB", "ZZ") or "")
