"""The templates' filters: money, dates and percentages written in the client's language, with Babel.

Babel is exact but slow (tens of microseconds a call), and a message formats the same amounts and dates in its
subject, text and HTML, so results are memoised and the common money shape is applied without Babel (checked
against Babel's own output before it is used).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_percent
from jinja2 import pass_context
from jinja2.runtime import Context

_LOCALES = {"fr": "fr_FR", "en": "en_GB"}


def babel_locale(language: str) -> str:
    return _LOCALES.get(language, language)


# Babel takes ~40 us per call and the same amounts and dates recur in the subject, text and HTML of a
# message (and dates across messages): a bounded memo makes rendering about three times faster.
@lru_cache(maxsize=8192)
def format_money(amount: Decimal | int | float, currency: str, locale: str) -> str:
    shape = money_shape(currency, locale)
    if (
        shape is not None
        and type(amount) is Decimal
        and amount.is_finite()
        and not amount.is_signed()
        # Babel normalises (rounds to the context's 28 digits) before quantising; below that both agree.
        and len(amount.as_tuple().digits) <= 20
        and amount.adjusted() < 18
    ):
        return shape.apply(amount)
    return babel_money(amount, currency, locale)


def babel_money(amount: Decimal | int | float, currency: str, locale: str) -> str:
    # The locale's currency pattern applied directly: what format_currency does, without re-resolving the
    # locale and the pattern on every call (3x faster than format_currency).
    loc = _locale(locale)
    return str(loc.currency_formats["standard"].apply(amount, loc, currency=currency))


class MoneyShape:
    """Babel's currency pattern for one (currency, locale), reduced to string pieces.

    Each reminder formats fresh amounts, and Babel's ``apply`` (normalise, quantise, group, substitute the
    symbol, strip quotes) cost ~0.1 ms per amount. For the common shape (two decimals, groups of three, no
    sign) the result is ``head + grouped integer + decimal symbol + cents + tail``; the pieces are read from
    Babel's own output for a probe amount and the shape is used only if it reproduces Babel on every probe.
    """

    __slots__ = ("head", "tail", "group", "decimal", "_symbols")

    def __init__(self, head: str, tail: str, group: str, decimal: str) -> None:
        self.head, self.tail, self.group, self.decimal = head, tail, group, decimal
        self._symbols = str.maketrans({",": group, ".": decimal})

    def apply(self, amount: Decimal) -> str:
        # quantize() under the current context, exactly as Babel's _quantize_value does; Python's own "," and
        # "." then become the locale's group and decimal symbols.
        return f"{self.head}{format(amount.quantize(_CENT), ',f').translate(self._symbols)}{self.tail}"


_CENT = Decimal("0.01")
_PROBES = ("0", "0.5", "7.05", "12.345", "999.995", "1000", "1234.56", "100000.5", "1234567.89")


@lru_cache(maxsize=256)
def money_shape(currency: str, locale: str) -> MoneyShape | None:
    """The fast shape for ``(currency, locale)``, or None when Babel's output does not follow it."""
    from babel.numbers import get_currency_precision

    loc = _locale(locale)
    pattern = loc.currency_formats["standard"]
    if get_currency_precision(currency) != 2 or tuple(pattern.grouping) != (3, 3) or pattern.scale != 0:
        return None
    group, decimal = loc.number_symbols["latn"]["group"], loc.number_symbols["latn"]["decimal"]
    probe = babel_money(Decimal("1234567.89"), currency, locale)
    number = f"1{group}234{group}567{decimal}89"
    at = probe.find(number)
    if at < 0:
        return None
    shape = MoneyShape(probe[:at], probe[at + len(number) :], group, decimal)
    for text in _PROBES:
        if shape.apply(Decimal(text)) != babel_money(Decimal(text), currency, locale):
            return None
    return shape


@lru_cache(maxsize=64)
def _locale(locale: str) -> Locale:
    return Locale.parse(locale)


@lru_cache(maxsize=4096)
def format_long_date(value: date, locale: str) -> str:
    text = str(format_date(value, "long", locale=locale))
    # French writes the first day of a month as an ordinal: "1er décembre 2026"; Babel does not.
    if value.day == 1 and locale.startswith("fr") and text.startswith("1 "):
        text = "1er" + text[1:]
    return text


def _context_text(ctx: Context, key: str) -> str:
    """``str(ctx.resolve(key))`` without its two calls: the template's own variables first, then the
    caller's; an undefined name goes the ordinary way (StrictUndefined raises there)."""
    local = ctx.vars
    value = local[key] if key in local else ctx.parent.get(key, _MISSING)
    if value is _MISSING:
        value = ctx.resolve(key)
    return value if type(value) is str else str(value)


_MISSING = object()


def _language(ctx: Context) -> str:
    """The render's ``language`` (``_context_text(ctx, "language")``, its usual case written out: the filters
    are called a dozen times a message)."""
    local = ctx.vars
    found = local["language"] if "language" in local else ctx.parent.get("language", _MISSING)
    return found if type(found) is str else _context_text(ctx, "language")


# A message formats the same few dates and amounts several times (subject, text, HTML): the texts are kept
# per (value, language[, currency]) in plain dicts, emptied when full, in front of the memos above.
_DATE_TEXTS: dict[tuple[date, str], str] = {}
_MONEY_TEXTS: dict[tuple[object, ...], str] = {}
_TEXTS_SIZE = 4096


@pass_context
def money(
    ctx: Context, amount: Decimal | int | float | None, currency: str | None = None, lang: str | None = None
) -> str:
    if amount is None:
        raise ValueError("money: amount is null")
    code = currency or _context_text(ctx, "currency")
    language = lang or _language(ctx)
    # The type is part of the key: 1, 1.0 and Decimal(1) are equal keys but Babel may write them apart.
    key = (amount, code, language, type(amount))
    text = _MONEY_TEXTS.get(key)
    if text is None:
        text = format_money(amount, code, babel_locale(language))
        if len(_MONEY_TEXTS) >= _TEXTS_SIZE:
            _MONEY_TEXTS.clear()
        _MONEY_TEXTS[key] = text
    return text


@pass_context
def date_filter(ctx: Context, value: date | datetime | None, lang: str | None = None) -> str:
    if value is None:
        raise ValueError("date: value is null")
    language = lang or _language(ctx)
    key = (value, language)
    text = _DATE_TEXTS.get(key)
    if text is None:
        text = format_long_date(value, babel_locale(language))
        if len(_DATE_TEXTS) >= _TEXTS_SIZE:
            _DATE_TEXTS.clear()
        _DATE_TEXTS[key] = text
    return text


@pass_context
def percent(ctx: Context, points: Decimal | int | float, lang: str | None = None) -> str:
    """A rate in points (12.15) as a percentage in the language ("12,15 %" / "12.15%")."""
    return format_percent_text(str(points), babel_locale(lang or _context_text(ctx, "language")))


# Keyed by the text of the rate, not the number: Decimal("2") and Decimal("2.0") are equal but print apart.
@lru_cache(maxsize=1024)
def format_percent_text(points: str, locale: str) -> str:
    fraction = Decimal(points) / 100
    return str(format_percent(fraction, locale=locale, decimal_quantization=False))


def warm_up(language: str) -> None:
    """Load Babel's data for ``language`` now (tens of milliseconds, otherwise paid by the first message)."""
    locale = babel_locale(language)
    _locale(locale)
    format_long_date(date(2000, 1, 2), locale)
    format_percent_text("10", locale)
    format_money(Decimal("1234.50"), "EUR", locale)
