from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.fields import clean_text, parse_amount, parse_date, parse_emails


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234.56", "1234.56"),
        ("1 234,56", "1234.56"),
        ("1\u202f234,56", "1234.56"),
        ("1.234,56", "1234.56"),
        ("1,234.56", "1234.56"),
        ("1 234,56 €", "1234.56"),
        ("EUR 1.740,00", "1740.00"),
        ("12,5", "12.5"),
        ("0,75", "0.75"),
        ("1.234.567", "1234567"),
        ("100", "100"),
    ],
)
def test_amount_formats(text: str, expected: str) -> None:
    assert parse_amount(text) == Decimal(expected)


@pytest.mark.parametrize("text", ["", "abc", "1,234", "12.345", "1.2.3,4,5", "1.234", "3.14159"])
def test_amount_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(text)


@given(st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
def test_amount_round_trips_in_every_export_style(value: Decimal) -> None:
    plain = f"{value:.2f}"
    french = f"{value:,.2f}".replace(",", " ").replace(".", ",")
    english = f"{value:,.2f}"
    for text in (plain, french, english):
        assert parse_amount(text) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-31", date(2026, 12, 31)),
        ("31/12/2026", date(2026, 12, 31)),
        ("01.02.2026", date(2026, 2, 1)),
        ("1-2-2026", date(2026, 2, 1)),
    ],
)
def test_dates(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("31/12/26", "two-digit"),
        ("12/31/2026", "month-first"),
        ("2026-02-30", "calendar"),
        ("tomorrow", "expected"),
    ],
)
def test_dates_refused_with_reason(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_date(text)


def test_emails() -> None:
    assert parse_emails("A@x.test; b@y.test ;a@x.test") == ["a@x.test", "b@y.test"]
    for bad in ("a@x.test\r\nBcc: evil@x.test", "not-an-address", "", "a@b"):
        with pytest.raises(ValueError):
            parse_emails(bad)


def test_clean_text_refuses_line_breaks() -> None:
    with pytest.raises(ValueError):
        clean_text("ACME\r\nBcc: x@y.test")
    assert clean_text("  ACME SAS ") == "ACME SAS"
