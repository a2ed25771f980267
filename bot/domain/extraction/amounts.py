"""Money amounts as debtors write them, in French, English and continental formats.

"1 234,56 €", "€1,234.56", "1.234,56 EUR", "£552.22", "8942.19 euros", "24.5k", "GBP 3,150.00". A number
counts as an
amount when a currency is attached, when it has cents, or when the words around it say it is a sum ("cheque de
2260",
"a transfer of 3000"); dates, phone numbers and invoice numbers are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from bot.domain.extraction.anchored import matches_at
from bot.domain.extraction.normalise import fold

_CUR_BEFORE = r"(?P<cb>€|£|\$|eur\b|euros?\b|gbp\b|usd\b)\s?"
_CUR_AFTER = r"\s?(?P<ca>€|£|\$|eur\b|euros?\b|gbp\b|usd\b|k€|keur\b)"
# digits with optional thousands groups (space, dot, comma, apostrophe) and optional decimals
_NUMBER = r"(?P<num>\d{1,3}(?:[ .,']\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)(?P<k>k\b)?"
_AMOUNT = re.compile(
    rf"(?<![\w./-])(?:{_CUR_BEFORE})?{_NUMBER}(?:{_CUR_AFTER})?(?![\w/%-]|[.,]\d| ?%)",
)
# Words that announce a sum even when no currency is written.
_MONEY_WORDS = (
    "cheque|virement|paiement|reglement|versement|acompte|montant|somme|total|solde|reste|balance|payment|"
    "transfer|amount|sum|deposit|cheque|check|remaining|pay|payer|regler|vire|wire|paid|paye|regle"
)
_MONEY_LINKS = "de|of|d'un montant de|du montant de|the"
_MONEY_CONTEXT = re.compile(rf"(?:{_MONEY_WORDS})(?: (?:{_MONEY_LINKS}))?\s*$")
# A text _MONEY_CONTEXT finds ends, before its spaces, with one of these: str.endswith rules most numbers out
# before the regex is tried at every character.
_MONEY_TAILS = tuple({*_MONEY_WORDS.split("|"), *_MONEY_LINKS.split("|")})
_DIGIT = re.compile(r"\d")
# Where an amount can start: the first digit of a digit run (the pattern's look-behind excludes a digit
# before) or a currency written before the number. Searching these first is much cheaper than trying _AMOUNT,
# which opens on a look-behind, at every character. Both patterns open on a class or a literal, which the
# regex engine skips to ("\\d\\d*" rather than "\\d+": a repeat gives it nothing to skip to).
_DIGIT_RUN = re.compile(r"\d\d*")
_CURRENCY = re.compile(r"€|£|\$|eur|gbp|usd")
_CENTS = re.compile(r"[.,]\d{2}$")
_CENT = Decimal("0.01")


def _amount_matches(t: str) -> Iterator[re.Match[str]]:
    """``_AMOUNT.finditer(t)``, tried only at digit runs and currencies."""
    starts = [r.start() for r in _DIGIT_RUN.finditer(t)]
    if "€" in t or "£" in t or "$" in t or "eur" in t or "gbp" in t or "usd" in t:
        starts = sorted({*starts, *(c.start() for c in _CURRENCY.finditer(t))})
    return matches_at(_AMOUNT, t, starts)


def _money_context(before: str) -> bool:
    return before.rstrip().endswith(_MONEY_TAILS) and _MONEY_CONTEXT.search(before) is not None


_ENUM_BEFORE = re.compile(r"\d[.,]\d{2}\s*(?:€|eur|euros|£)?\s*(?:et|and|,|\+|puis)\s*$")
_ENUM_AFTER = re.compile(r"^\s*(?:€|eur|euros|£)?\s*(?:et|and|,|\+)\s*\d+[.,]\d{2}")


@dataclass(frozen=True)
class Amount:
    """One amount found in folded text: its value, currency (None when unstated) and span."""

    value: Decimal
    currency: str | None
    start: int
    end: int
    text: str


def _currency(token: str | None) -> str | None:
    if not token:
        return None
    token = token.strip().lower()
    if token in ("€", "eur", "euro", "euros", "k€", "keur"):
        return "EUR"
    if token in ("£", "gbp"):
        return "GBP"
    if token in ("$", "usd"):
        return "USD"
    return None


def parse_number(raw: str) -> Decimal | None:
    """Read one written number: "1 234,56", "1.234,56", "1,234.56", "4840,92", "24.5" → Decimal (None if
    unreadable).

    A separator followed by exactly three digits at the end is a thousands separator ("€7,140" is 7140); one
    or
    two digits are decimals.
    """
    s = raw.replace(" ", "").replace("'", "")
    if not s or not any(map(str.isdigit, s)):
        return None
    last_sep = max(s.rfind(","), s.rfind("."))
    if last_sep >= 0:
        decimals = s[last_sep + 1 :]
        head = s[:last_sep].replace(",", "").replace(".", "")
        if len(decimals) == 3 and (head or s.count(",") + s.count(".") > 1):
            s = head + decimals
        elif len(decimals) == 3:
            s = head + decimals
        else:
            s = head + "." + decimals
    try:
        return Decimal(s)
    except InvalidOperation:
        return None


def find_amounts(text: str, *, folded: bool = False) -> list[Amount]:
    """Every amount in ``text`` (folded first unless ``folded``), in order of appearance.

    Bare integers without currency or cents are kept only in a money context ("virement de 3000") or in an
    enumeration next to a real amount ("260 et 152,21"); years, days and reference numbers are skipped.
    """
    t = text if folded else fold(text)
    found: list[Amount] = []
    if _DIGIT.search(t) is None:
        return found  # every amount has a digit; most replies' sentences have none
    for m in _amount_matches(t):
        num = m.group("num")
        cur_token = m.group("cb") or m.group("ca")
        k_suffix = bool(m.group("k")) or (m.group("ca") or "").strip() in ("k€", "keur")
        has_cents = _CENTS.search(num) is not None
        bare = not cur_token and not has_cents and not k_suffix
        if bare:
            # most bare numbers are days, counts or references: the context decides before the number is read
            before = t[max(0, m.start() - 40) : m.start()]
            after = t[m.end() : m.end() + 20]
            if not (_money_context(before) or _ENUM_BEFORE.search(before) or _ENUM_AFTER.search(after)):
                continue
        value = parse_number(num)
        if value is None:
            continue
        if k_suffix:
            value *= 1000
        if bare and (value < 10 or (1990 <= value <= 2100 and "." not in num and "," not in num and " " not in num)):
            continue
        if cur_token and not has_cents and value < 1 and not k_suffix:
            continue
        found.append(Amount(value.quantize(_CENT), _currency(cur_token), m.start(), m.end(), m.group(0)))
    return found
