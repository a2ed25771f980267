"""The return date an out-of-office notice states ("de retour le 7 décembre", "back on Monday 7 December").

The date is resolved against the message's Date header: a day/month without a year is the first such day on or
after the message date. "jusqu'au 12 octobre inclus" / "until 12 October inclusive" gives the day after (the
sender is back then); a bare "until X" gives X itself, which is how people use it.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

_MONTHS = {
    "janvier": 1, "janv": 1, "january": 1, "jan": 1, "février": 2, "fevrier": 2, "févr": 2, "fevr": 2,
    "february": 2,
    "feb": 2, "mars": 3, "march": 3, "mar": 3, "avril": 4, "april": 4, "avr": 4, "apr": 4, "mai": 5, "may": 5,
    "juin": 6, "june": 6, "jun": 6, "juillet": 7, "juil": 7, "july": 7, "jul": 7, "août": 8, "aout": 8,
    "august": 8, "aug": 8, "septembre": 9, "september": 9, "sept": 9, "sep": 9, "octobre": 10, "october": 10,
    "oct": 10, "novembre": 11, "november": 11, "nov": 11, "décembre": 12, "decembre": 12, "december": 12,
    "dec": 12, "déc": 12,
}  # fmt: skip
_MONTH_NAMES = "|".join(sorted((re.escape(name) for name in _MONTHS), key=len, reverse=True))
_WEEKDAY = (
    r"(?:(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|monday|tuesday|wednesday|thursday|friday"
    r"|saturday|sunday|mon|tue|wed|thu|fri|sat|sun)\.?,?\s+)?"
)
_TRIGGER = (
    r"(?P<trigger>de retour (?:le |au bureau le |à partir du )?|retour (?:prévu )?le |à partir du |dès le |"
    r"jusqu'au |jusqu’au |au |back (?:in the office )?(?:on )?"
    r"|returning (?:on )?|return(?:ing)? to the office (?:on )?"
    r"|until |till |through |from )"
)
_DAY_MONTH = (
    rf"(?P<day>\d{{1,2}})(?:er|st|nd|rd|th)?\.?\s+(?:of\s+)?(?P<month>{_MONTH_NAMES})\.?"
    r"(?:\s+(?P<year>\d{4}))?"
)
_MONTH_DAY = rf"(?P<month2>{_MONTH_NAMES})\.?\s+(?P<day2>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<year2>\d{{4}}))?"
_NUMERIC = r"(?P<nday>\d{1,2})[/.](?P<nmonth>\d{1,2})(?:[/.](?P<nyear>\d{4}|\d{2}))?"
_PATTERN = re.compile(
    rf"{_TRIGGER}{_WEEKDAY}(?:{_DAY_MONTH}|{_MONTH_DAY}|{_NUMERIC})(?P<incl>\s+inclus|\s+inclusive(?:ly)?)?",
    re.IGNORECASE,
)
#: "from X to Y" / "du X au Y": the second date is the one that matters.
_SKIP_TRIGGERS = ("from ",)


def find_return_date(text: str, sent: date | None) -> date | None:
    """The date the absent person is back, or None when the text states none."""
    best: date | None = None
    for match in _PATTERN.finditer(text[:5000]):
        trigger = match.group("trigger").lower()
        if trigger in _SKIP_TRIGGERS:
            continue
        found = _resolve(match, sent)
        if found is None:
            continue
        if match.group("incl"):
            found += timedelta(days=1)
        best = found
        if not trigger.startswith(("au ", "until", "till", "through", "jusqu")):
            return found  # "de retour le / back on" is the most explicit statement
    return best


def _resolve(match: re.Match[str], sent: date | None) -> date | None:
    groups = match.groupdict()
    if groups.get("day"):
        day, month, year = int(groups["day"]), _MONTHS[groups["month"].lower()], groups.get("year")
    elif groups.get("day2"):
        day, month, year = int(groups["day2"]), _MONTHS[groups["month2"].lower()], groups.get("year2")
    else:
        day, month, year = int(groups["nday"]), int(groups["nmonth"]), groups.get("nyear")
    year_value = int(year) if year else None
    if year_value is not None and year_value < 100:
        year_value += 2000
    if year_value is None and sent is None:
        return None  # no anchor: guessing a year from the wall clock would make parsing non-deterministic
    base = sent or date(year_value or 2000, 1, 1)
    try:
        if year_value is not None:
            return date(year_value, month, day)
        candidate = date(base.year, month, day)
    except ValueError:
        return None
    if candidate < base - timedelta(days=7):
        try:
            candidate = date(base.year + 1, month, day)
        except ValueError:
            return None
    return candidate
