"""Invoice references as debtors write them: "F2026-00101", "F2026-129", "F202600788", "la 728", "inv 610",
"fact. 666", "n° 00846", "factures 164 et 519", "00326".

This module only finds what was written; :mod:`bot.domain.matching` decides which ledger invoice it means.
Credit notes (AV…), purchase orders (BC…), quotes (DV…), tickets and phone numbers are not invoice references.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain.extraction.normalise import fold

# Full form: a letter prefix, a year, an optional separator and a sequence ("F2026-00101", "F 2026 129").
_FULL = re.compile(r"(?<![a-z0-9-])(f) ?-?(20\d\d) ?[-/.]? ?(\d{2,6})(?![\d-])")
# Keyword-led short forms, then the numbers joined by "et"/"and"/","/"&".
_KEYWORD = (
    r"(?:factures?|fact\.?|fac\.?|fct\.?|invoices?|inv\.?|invs\.?|n°|no\.|nos\.|ref\.?|references?|"
    r"(?:la|le|les|the|ni la|ni le|and|et)(?= \d{3,5}(?![\d,.]| ?(?:€|eur|euros?|£|gbp|k\b|ht|ttc|m\b|mm|cm|"
    r"portes|fenetres|units|panels|pieces)))|"
    r"(?<=\()(?=\d{5}\)))"
)
_SHORT = re.compile(
    rf"(?<![a-z0-9])(?:{_KEYWORD}) ?(?:n° ?)?"
    r"(?P<nums>\d{3,6}(?:(?: ?, ?| et | and | & | ni (?:la |le )?)\d{3,6})*)"
    r"(?![\d/,.-]\d|\d| ?(?:€|eur|euros?|£|gbp|k\b|ht\b|ttc\b))"
)
# A bare five-digit sequence with leading zeros ("we'll clear 00326") is how invoice numbers are shortened.
_PADDED = re.compile(r"(?<![\w./-])(00\d{3})(?![\w/-]|[.,]\d)")


@dataclass(frozen=True)
class InvoiceRef:
    """One reference as written: ``written`` is the text, ``start``/``end`` its span in the folded text."""

    written: str
    start: int
    end: int
    full: bool  # True when the prefix and year were written ("F2026-…"), False for short forms ("728")


def find_invoice_refs(text: str, *, folded: bool = False) -> list[InvoiceRef]:
    """All invoice references in ``text`` in order of appearance, each once."""
    t = text if folded else fold(text)
    refs: list[InvoiceRef] = []
    spans: list[tuple[int, int]] = []

    def add(written: str, start: int, end: int, full: bool) -> None:
        if any(start < e and s < end for s, e in spans):
            return
        spans.append((start, end))
        refs.append(InvoiceRef(written, start, end, full))

    for m in _FULL.finditer(t):
        add(f"F{m.group(2)}-{m.group(3)}", m.start(), m.end(), True)
    for m in _SHORT.finditer(t):
        for n in re.finditer(r"\d{3,6}", m.group("nums")):
            start = m.start("nums") + n.start()
            add(n.group(0), start, start + len(n.group(0)), False)
    for m in _PADDED.finditer(t):
        add(m.group(1), m.start(), m.end(), False)
    refs.sort(key=lambda r: r.start)
    seen: set[str] = set()
    unique: list[InvoiceRef] = []
    for r in refs:
        if r.written not in seen:
            seen.add(r.written)
            unique.append(r)
    return unique
