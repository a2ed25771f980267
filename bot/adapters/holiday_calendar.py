"""Public holidays from the ``holidays`` package, turned into the domain's :class:`BusinessCalendar`.

Computing a country's holidays for a year costs around a millisecond; the planner asks about a handful of
dates per run, so each (country, subdivision, year) is computed once per process and cached.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays

from bot.domain.cadence import BusinessCalendar
from bot.domain.profile import Profile, ProfilesConfig


@lru_cache(maxsize=1024)
def public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """The public holidays (observed days included) of one country or subdivision in one year."""
    table = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return frozenset(table.keys())


def holiday_problem(country: str, subdivision: str | None) -> str | None:
    """Why ``holidays`` cannot serve this country/subdivision, or None when it can."""
    supported: dict[str, list[str]] = holidays.list_supported_countries()
    if country not in supported:
        return f"unknown holiday country {country!r} (use an ISO code such as FR or GB)"
    if subdivision is not None and subdivision not in supported[country]:
        known = ", ".join(supported[country][:12]) or "none"
        return f"unknown subdivision {subdivision!r} for {country} (known: {known}...)"
    return None


def calendar_for(profile: Profile) -> BusinessCalendar:
    """A business calendar (mon-fri, public holidays of the profile's country) for one profile."""
    country, subdivision = profile.holidays.country, profile.holidays.subdivision
    return BusinessCalendar(lambda year: public_holidays(country, subdivision, year))


def calendars_for(config: ProfilesConfig) -> dict[str, BusinessCalendar]:
    """One calendar per profile name, as the planner expects; profiles sharing a country share the cache."""
    return {name: calendar_for(profile) for name, profile in config.profiles.items()}
