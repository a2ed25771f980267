"""Penalty figures worked out by hand (simple interest, actual days / 365, half-up to the cent)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bot.domain.errors import ConfigError
from bot.domain.penalties import (
    Jurisdiction,
    LegalRates,
    OverdueAmount,
    compute_penalties,
    interest,
    uk_fixed_sum,
)


def test_french_b2b_is_ecb_plus_ten_points_and_forty_euros_per_invoice() -> None:
    rates = LegalRates(ecb_refinancing_rate=D("2.15"))
    invoices = [OverdueAmount("F-1", D("1000.00"), 30), OverdueAmount("F-2", D("2500.00"), 45)]
    result = compute_penalties(invoices, "fr", rates, "EUR")
    assert result is not None
    assert result.interest_rate == D("12.15")
    # 1000 * 12.15% * 30/365 = 9.98630... ; 2500 * 12.15% * 45/365 = 37.44863...
    assert [line.interest for line in result.lines] == [D("9.99"), D("37.45")]
    assert result.interest_amount == D("47.44")
    assert result.indemnity_per_invoice == D("40")
    assert result.total_indemnity == D("80")
    assert result.indemnity_currency == "EUR"


def test_eu_directive_is_ecb_plus_eight_points() -> None:
    result = compute_penalties(
        [OverdueAmount("E-1", D("1000.00"), 30)],
        Jurisdiction.EU,
        LegalRates(ecb_refinancing_rate=D("2.15")),
        "EUR",
    )
    assert result is not None
    assert result.interest_rate == D("10.15")
    assert result.lines[0].interest == D("8.34")  # 1000 * 10.15% * 30/365 = 8.3424...
    assert result.total_indemnity == D("40")


def test_uk_is_base_rate_plus_eight_and_fixed_sum_by_band() -> None:
    rates = LegalRates(boe_base_rate=D("4.00"))
    invoices = [
        OverdueAmount("U-1", D("999.99"), 10),
        OverdueAmount("U-2", D("1000.00"), 10),
        OverdueAmount("U-3", D("9999.99"), 10),
        OverdueAmount("U-4", D("10000.00"), 60),
    ]
    result = compute_penalties(invoices, "uk", rates, "GBP")
    assert result is not None
    assert result.interest_rate == D("12.00")
    assert [line.indemnity for line in result.lines] == [D(40), D(70), D(70), D(100)]
    assert result.indemnity_per_invoice is None  # bands differ
    assert result.total_indemnity == D(280)
    # 999.99 * 12% * 10/365 = 3.2876...; 10000 * 12% * 60/365 = 197.2602...
    assert result.lines[0].interest == D("3.29")
    assert result.lines[3].interest == D("197.26")
    assert result.indemnity_currency == "GBP"


def test_rounding_is_half_up_not_bankers() -> None:
    # 18.25 * 10% * 1/365 = 0.005 exactly: half-up gives one cent, banker's rounding would give zero.
    assert interest(D("18.25"), D("10"), 1) == D("0.01")


def test_invoices_not_late_get_nothing() -> None:
    result = compute_penalties(
        [OverdueAmount("F-3", D("500"), 0), OverdueAmount("F-4", D("0"), 12)],
        "fr",
        LegalRates(ecb_refinancing_rate=D("2")),
        "EUR",
    )
    assert result is not None
    assert result.interest_amount == 0
    assert result.total_indemnity == 0


def test_public_sector_flavour_has_no_penalties() -> None:
    assert compute_penalties([OverdueAmount("P-1", D("100"), 90)], "none", LegalRates(), "EUR") is None


def test_missing_rate_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="ecb_refinancing_rate"):
        compute_penalties([OverdueAmount("F-1", D("1"), 1)], "fr", LegalRates(boe_base_rate=D(4)), "EUR")
    with pytest.raises(ConfigError, match="boe_base_rate"):
        compute_penalties(
            [OverdueAmount("U-1", D("1"), 1)], "uk", LegalRates(ecb_refinancing_rate=D(2)), "GBP"
        )


def test_rates_come_from_configuration_mapping() -> None:
    rates = LegalRates.from_mapping(
        {
            "ecb_refinancing_rate": 2.4,
            "boe_base_rate": "3.75",
            "eur_fixed_indemnity": 45,
            "uk_fixed_sum_bands": [[500, 10], [None, 20]],
        }
    )
    assert rates.ecb_refinancing_rate == D("2.4")
    assert rates.boe_base_rate == D("3.75")
    assert uk_fixed_sum(D("499.99"), rates) == D(10)
    assert uk_fixed_sum(D("500"), rates) == D(20)
    result = compute_penalties([OverdueAmount("F-1", D("100"), 5)], "fr", rates, "EUR")
    assert result is not None and result.total_indemnity == D(45) and result.interest_rate == D("12.4")


@pytest.mark.parametrize("bad", [{"ecb_rate": 2}, {"ecb_refinancing_rate": "two"}, {"boe_base_rate": "nan"}])
def test_bad_configuration_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="legal_rates"):
        LegalRates.from_mapping(bad)
