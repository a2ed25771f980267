from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.extraction.dates import find_dates

TUESDAY = date(2026, 10, 6)
WEDNESDAY = date(2026, 10, 14)


def future(text: str, sent: date, **kw: bool) -> date | None:
    found = [m for m in find_dates(text, sent, **kw) if not m.vague]
    return found[0].future if found else None


def past(text: str, sent: date) -> date | None:
    found = [m for m in find_dates(text, sent) if m.past]
    return found[0].past if found else None


@pytest.mark.parametrize(
    ("text", "sent", "expected"),
    [
        ("virement vendredi prochain", TUESDAY, date(2026, 10, 9)),
        ("payment next Tuesday", date(2026, 10, 8), date(2026, 10, 13)),
        ("next Friday", date(2026, 10, 9), date(2026, 10, 16)),  # strictly after, even on a Friday
        ("réglée fin du mois", TUESDAY, date(2026, 10, 31)),
        ("we'll clear it EOM", TUESDAY, date(2026, 10, 31)),
        ("sous 10 jours", TUESDAY, date(2026, 10, 16)),
        ("sous une dizaine de jours", TUESDAY, date(2026, 10, 16)),
        ("within 15 days", TUESDAY, date(2026, 10, 21)),
        ("prévu mi-décembre", TUESDAY, date(2026, 12, 15)),
        ("by mid-November", TUESDAY, date(2026, 11, 15)),
        ("le 15/12", TUESDAY, date(2026, 12, 15)),
        ("by the 30th", TUESDAY, date(2026, 10, 30)),
        ("d'ici la fin de la semaine", WEDNESDAY, date(2026, 10, 16)),
        ("by the end of next week", WEDNESDAY, date(2026, 10, 23)),
        ("le 3 novembre", TUESDAY, date(2026, 11, 3)),
        ("on Tuesday 24 November", TUESDAY, date(2026, 11, 24)),
        ("paid on December 2nd, 2026", TUESDAY, date(2026, 12, 2)),
        ("early January", date(2026, 12, 20), date(2027, 1, 1)),
    ],
)
def test_future_readings(text: str, sent: date, expected: date) -> None:
    found = find_dates(text, sent)
    assert found and found[0].future == expected


def test_us_dates_flag_swaps_day_and_month() -> None:
    assert future("on 12/15", TUESDAY, us_dates=True) == date(2026, 12, 15)
    assert future("le 12/11", TUESDAY) == date(2026, 11, 12)


def test_ambiguous_numeric_date_in_the_past_read_as_month_first_for_a_promise() -> None:
    # "10/9" written on 2 October as a commitment cannot be 10 September.
    assert future("we'll wire it on 10/9", date(2026, 10, 2)) == date(2026, 10, 9)


@pytest.mark.parametrize(
    ("text", "sent", "expected"),
    [
        ("parti ce matin", WEDNESDAY, WEDNESDAY),
        ("réglé hier", WEDNESDAY, date(2026, 10, 13)),
        ("chèque posté lundi", date(2026, 10, 1), date(2026, 9, 28)),
        ("paid last Thursday", date(2026, 11, 12), date(2026, 11, 5)),
        ("paid on the 13th", date(2026, 10, 28), date(2026, 10, 13)),
        ("released on Friday", date(2026, 11, 2), date(2026, 10, 30)),
    ],
)
def test_past_readings(text: str, sent: date, expected: date) -> None:
    assert past(text, sent) == expected


@pytest.mark.parametrize("text", ["la semaine prochaine", "next week", "début novembre", "soon"])
def test_vague_phrases_are_flagged(text: str) -> None:
    found = find_dates(text, TUESDAY)
    assert found and all(m.vague for m in found)


def test_due_date_reference_needs_the_ledger() -> None:
    found = find_dates("réglées à échéance", TUESDAY)
    assert [m.kind for m in found] == ["due_date"]
    assert found[0].future is None


def test_decimal_numbers_are_not_dates() -> None:
    assert all(m.kind != "day_of_month" for m in find_dates("the 4,770.25 on Tuesday", TUESDAY))


@given(st.text(max_size=200), st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_never_crashes(text: str, sent: date) -> None:
    for m in find_dates(text, sent):
        assert m.start <= m.end


@given(st.dates(min_value=date(2001, 1, 1), max_value=date(2098, 12, 31)))
def test_round_trip_full_numeric_dates(d: date) -> None:
    assert future(f"le {d:%d/%m/%Y}", date(2050, 6, 15)) == d
    assert future(f"on {d:%m/%d/%Y}", date(2050, 6, 15), us_dates=True) == d
