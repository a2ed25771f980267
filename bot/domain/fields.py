"""Parsing of the field formats real ledger exports contain: amounts and dates.

Pure functions raising ``ValueError`` with a message that says what was expected; the import code turns that
into a :class:`~bot.domain.errors.FieldProblem` naming the line and the field.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

# Spaces that exports put between thousands: plain, no-break, narrow no-break, thin, apostrophe (Swiss).
_GROUP_SPACES = str.maketrans("", "", " \u00a0\u202f\u2009'")
_CURRENCY_NOISE = re.compile(r"(?i)\s*(€|eur|euros?|£|gbp|\$|usd|chf)\s*")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})$")


def parse_amount(text: str) -> Decimal:
    """Parse "1234.56", "1 234,56", "1.234,56", "1,234.56" (optionally with a currency) into a Decimal.

    When both separators appear the last one is the decimal mark. A lone separator followed by exactly three
    digits ("1,234" / "1.234") is ambiguous between thousands and decimals and is refused.
    """
    raw = text.strip()
    if not raw:
        raise ValueError("an amount is required, e.g. 1234.56")
    cleaned = _CURRENCY_NOISE.sub("", raw).translate(_GROUP_SPACES)
    negative = cleaned.startswith("-")
    body = cleaned.lstrip("+-")
    if not body or not re.fullmatch(r"[\d.,]+", body):
        raise ValueError("expected a number with a dot or a comma as decimal mark, e.g. 1234.56 or 1 234,56")
    if "," in body and "." in body:
        decimal_mark = "," if body.rfind(",") > body.rfind(".") else "."
        group = "." if decimal_mark == "," else ","
        body = body.replace(group, "").replace(decimal_mark, ".")
    elif "," in body or "." in body:
        mark = "," if "," in body else "."
        parts = body.split(mark)
        if len(parts) > 2:
            body = "".join(parts)  # 1.234.567 -> grouping only
        elif len(parts[1]) == 3 and len(parts[0]) <= 3 and parts[0] != "0":
            raise ValueError(
                f"ambiguous amount: is {mark!r} a thousands separator or the decimal mark? "
                "write 1234.00 or 1,234.00"
            )
        else:
            body = body.replace(mark, ".")
    try:
        value = Decimal(body)
    except InvalidOperation:
        raise ValueError("expected a number, e.g. 1234.56") from None
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("at most two decimals are allowed")
    return -value if negative else value


def parse_date(text: str) -> date:
    """Parse ISO "2026-12-31" or French day-first "31/12/2026", "31.12.2026", "31-12-2026".

    Two-digit years and month-first dates (12/31/2026) are refused: they are ambiguous in a French ledger.
    """
    raw = text.strip()
    if not raw:
        raise ValueError("a date is required, e.g. 2026-12-31")
    m = _ISO.match(raw)
    if m:
        y, mo, d = (int(g) for g in m.groups())
    else:
        m = _DMY.match(raw)
        if not m:
            raise ValueError("expected a date as YYYY-MM-DD or DD/MM/YYYY")
        d, mo, y_text = int(m.group(1)), int(m.group(2)), m.group(3)
        if len(y_text) == 2:
            raise ValueError("ambiguous two-digit year; write the year in full (DD/MM/YYYY or YYYY-MM-DD)")
        y = int(y_text)
        if mo > 12 and d <= 12:
            raise ValueError("looks like a month-first (US) date; write YYYY-MM-DD or DD/MM/YYYY")
    try:
        return date(y, mo, d)
    except ValueError:
        raise ValueError("not a real calendar date") from None


_EMAIL = re.compile(
    r"^[^@\s<>\",;:()\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9\-]+)+$"
)


def parse_emails(text: str) -> list[str]:
    """Split a `;`-separated list of addresses, lower-cased, refusing anything that could inject headers."""
    if any(c in text for c in "\r\n"):
        raise ValueError("line breaks are not allowed in an e-mail address")
    out: list[str] = []
    for part in text.split(";"):
        addr = part.strip().lower()
        if not addr:
            continue
        if not _EMAIL.match(addr):
            raise ValueError(f"not a valid e-mail address: {part.strip()!r}")
        if addr not in out:
            out.append(addr)
    if not out:
        raise ValueError("at least one e-mail address is required")
    return out


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_text(text: str, *, max_len: int = 300) -> str:
    """A single-line text field: control characters (CR/LF included) are refused, not silently removed."""
    value = text.strip()
    if _CONTROL.search(value):
        raise ValueError("control characters (such as line breaks) are not allowed")
    if len(value) > max_len:
        raise ValueError(f"at most {max_len} characters")
    return value
