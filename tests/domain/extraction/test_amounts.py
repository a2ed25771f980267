from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.extraction.amounts import find_amounts, parse_number


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("Le solde, soit 1 234,56 €, partira vendredi", ["1234.56"]),
        ("we sent €1,234.56 yesterday", ["1234.56"]),
        ("un virement de 1.234,56 EUR", ["1234.56"]),
        ("I will pay £552.22 on Friday", ["552.22"]),
        ("8942.19 euros pour les deux", ["8942.19"]),
        ("could we split the 24.5k over four months", ["24500.00"]),
        ("GBP 3,150.00, our ref X", ["3150.00"]),
        ("cheque de 1780 envoyé", ["1780.00"]),
        ("pour les deux (310 et 95,40)", ["310.00", "95.40"]),
        ("€7,140 in one transfer", ["7140.00"]),
    ],
)
def test_amount_formats(text: str, values: list[str]) -> None:
    assert [str(a.value) for a in find_amounts(text)] == values


@pytest.mark.parametrize(
    "text",
    [
        "Tél. 02 61 91 22 48",
        "le 15/12 sans faute",
        "facture F2026-00239",
        "jusqu'au 9 novembre 2026",
        "we paid the 30% deposit",
        "the run is 11.6 m long",
    ],
)
def test_not_amounts(text: str) -> None:
    assert find_amounts(text) == []


def test_currency_is_recorded() -> None:
    assert [a.currency for a in find_amounts("£10.00 et 20,00 € et USD 5.00")] == ["GBP", "EUR", "USD"]


@given(st.text(max_size=200))
def test_never_crashes(text: str) -> None:
    for a in find_amounts(text):
        assert a.value >= 0


@given(st.decimals(min_value=Decimal("1.00"), max_value=Decimal("9999999.99"), places=2))
def test_round_trip_french_and_english_formats(value: Decimal) -> None:
    units, cents = f"{value:.2f}".split(".")
    grouped = f"{int(units):,}"
    french = grouped.replace(",", " ") + "," + cents + " €"
    english = "£" + grouped + "." + cents
    continental = "EUR " + grouped.replace(",", ".") + "," + cents
    for written in (french, english, continental):
        assert [a.value for a in find_amounts(f"montant {written} payé")] == [value], written


def test_parse_number_thousands_vs_decimals() -> None:
    assert parse_number("1,740") == Decimal("1740")
    assert parse_number("17,40") == Decimal("17.40")
    assert parse_number("1.740,00") == Decimal("1740.00")


def test_fold_asked_again_gives_the_same_answer() -> None:
    from bot.domain.extraction.normalise import fold

    assert fold("Réglée  LE 3") == "reglee le 3" == fold("Réglée  LE 3")
    assert fold("Autre") == "autre" and fold("Réglée  LE 3") == "reglee le 3"
