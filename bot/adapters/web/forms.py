"""Small parsers for form fields: empty means "not given", anything else must be valid."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from fastapi import HTTPException

from bot.domain.intent import Intent

_NUMBER_SPLIT = re.compile(r"[\s,;]+")


def optional_date(raw: str | None, label: str) -> date | None:
    value = (raw or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"{label}: expected a date YYYY-MM-DD") from None


def optional_amount(raw: str | None, label: str) -> Decimal | None:
    value = (raw or "").strip().replace("\u202f", "").replace(" ", "").replace(",", ".")
    if not value:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise HTTPException(422, f"{label}: expected an amount such as 1234.50") from None
    if not amount.is_finite() or amount < 0 or amount > Decimal("1e12"):
        raise HTTPException(422, f"{label}: expected a positive amount")
    return amount.quantize(Decimal("0.01"))


def intent_of(raw: str) -> Intent:
    try:
        return Intent(raw.strip())
    except ValueError:
        raise HTTPException(422, f"unknown intent {raw[:40]!r}") from None


def invoice_numbers(raw: str | None) -> list[str]:
    seen: list[str] = []
    for part in _NUMBER_SPLIT.split(raw or ""):
        if part and part not in seen and len(part) <= 64:
            seen.append(part)
    return seen[:50]
