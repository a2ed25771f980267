"""The templates' filters: the fast money shape against Babel, character for character."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from bot.adapters.render_filters import babel_money, format_money, money_shape


@pytest.mark.parametrize("locale", ["fr_FR", "en_GB", "de_DE", "en_US", "fr_CA"])
@pytest.mark.parametrize("currency", ["EUR", "GBP", "USD", "CHF"])
def test_fast_money_formatting_is_babels_to_the_character(locale: str, currency: str) -> None:
    shape = money_shape(currency, locale)
    assert shape is not None, "these locales use the common shape: the fast path must apply"
    rnd = random.Random(f"{locale}{currency}")
    amounts = [Decimal(t) for t in ("0", "0.005", "0.015", "0.5", "999.995", "1000", "1234567.89", "99999999.999")]
    amounts += [Decimal(rnd.randrange(10 ** rnd.randrange(1, 13))) / 10 ** rnd.randrange(0, 4) for _ in range(3000)]
    for amount in amounts:
        assert shape.apply(amount) == babel_money(amount, currency, locale), amount


def test_money_outside_the_fast_shape_is_left_to_babel() -> None:
    assert money_shape("JPY", "fr_FR") is None  # no decimals
    assert money_shape("EUR", "hi_IN") is None  # groups of 2 after the first 3
    for amount, currency, locale in (
        (Decimal("-12.5"), "EUR", "fr_FR"),  # negative
        (Decimal("1234567"), "JPY", "fr_FR"),
        (Decimal("12345678.9"), "EUR", "hi_IN"),
        (1234.5, "EUR", "en_GB"),  # a float
        (Decimal("0.1234567890123456789012345678901"), "EUR", "fr_FR"),  # more digits than the context keeps
    ):
        assert format_money(amount, currency, locale) == babel_money(amount, currency, locale)
