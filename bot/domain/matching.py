"""Matching what a debtor wrote to the ledger's invoices, with the reason kept.

Exact lookup of the normalised number first (a dict: sub-microsecond), then the tolerant forms — missing zeros
("F2026-129"), short numbers ("la 728", "inv 610"), one typo or two swapped digits — and only among the
client's
invoices when the client is known. ``rapidfuzz.process.extractOne`` always returns *something*, so fuzzy
matches
must be unique and within one edit: a number that is itself a real invoice always means that invoice, and an
ambiguous guess returns nothing (a person will look) rather than the wrong invoice.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import combinations

from rapidfuzz import process
from rapidfuzz.distance import OSA

_NON_ALNUM = re.compile(r"[^A-Z0-9]")
_RUNS = re.compile(r"[A-Z]+|\d+")
#: Unrestricted look-ups remembered per matcher (``InvoiceMatcher.match``).
_MEMO_SIZE = 256


def normalise_invoice_number(s: str) -> str:
    """Canonical key of an invoice number: upper case, letters and digits ("f2026-00101 " → "F202600101")."""
    return _NON_ALNUM.sub("", s.upper())


def _runs_key(s: str) -> str:
    """Key insensitive to leading zeros in each digit group ("F2026-00129" and "F2026-129" → "F|2026|129")."""
    parts = _RUNS.findall(s.upper())
    return "|".join(str(int(p)) if p.isdigit() else p for p in parts)


def _sequence(s: str) -> int | None:
    """The last digit group as a number ("F2026-00728" → 728), the part debtors keep when they shorten."""
    digits = re.findall(r"\d+", s)
    if not digits:
        return None
    last = digits[-1]
    if len(digits) == 1 and len(last) > 6 and last.startswith("20"):
        last = last[4:]  # "202600788": the year glued to the sequence
    return int(last)


@dataclass(frozen=True)
class InvoiceMatch:
    number: str  # as in the ledger
    reason: str
    written: str = ""


@dataclass(frozen=True)
class OpenInvoice:
    """What matching needs to know about one open invoice of a client."""

    number: str
    client_id: str
    balance: Decimal
    amount: Decimal | None = None
    due_date: date | None = None


class InvoiceMatcher:
    """Index of ledger invoice numbers, built once, queried per reference."""

    def __init__(self, numbers: Iterable[str]) -> None:
        self._numbers = list(dict.fromkeys(numbers))
        self._exact = {normalise_invoice_number(n): n for n in self._numbers}
        self._by_runs: dict[str, list[str]] = {}
        self._by_seq: dict[int, list[str]] = {}
        for n in self._numbers:
            self._by_runs.setdefault(_runs_key(n), []).append(n)
            seq = _sequence(n)
            if seq is not None:
                self._by_seq.setdefault(seq, []).append(n)
        # Answers for unrestricted look-ups: a matcher is immutable and is shared while the client's numbers stay
        # the same, and a client's replies repeat the same references (a signature, a customer number) that
        # only the fuzzy search can rule out. Bounded, so hostile mail cannot grow it without limit.
        self._memo: dict[str, InvoiceMatch | None] = {}

    def _restrict(self, found: Sequence[str], allowed: frozenset[str] | None) -> list[str]:
        return [n for n in found if allowed is None or n in allowed]

    def match(self, written: str, *, candidates: Iterable[str] | None = None) -> InvoiceMatch | None:
        """The ledger invoice ``written`` designates, or None when unknown or ambiguous.

        ``candidates`` (the client's invoice numbers) restricts the tolerant forms; an exact number always
        wins.
        """
        if candidates is not None:
            return self._match(written, frozenset(candidates))
        memo = self._memo
        if written in memo:
            return memo[written]
        found = self._match(written, None)
        if len(memo) < _MEMO_SIZE:
            memo[written] = found
        return found

    def _match(self, written: str, allowed: frozenset[str] | None) -> InvoiceMatch | None:
        key = normalise_invoice_number(written)
        if not key:
            return None
        exact = self._exact.get(key)
        if exact is not None:
            return InvoiceMatch(exact, "exact", written)
        has_prefix = not key.isdigit()
        if has_prefix:
            same = self._restrict(self._by_runs.get(_runs_key(written), []), allowed)
            if len(same) == 1:
                return InvoiceMatch(same[0], "missing or extra zeros", written)
            glued = re.fullmatch(r"([A-Z]+)(20\d\d)(\d+)", key)
            if glued:
                again = self._exact.get(normalise_invoice_number(f"{glued[1]}{glued[2]}{int(glued[3]):05d}"))
                if again and (allowed is None or again in allowed):
                    return InvoiceMatch(again, "dropped separator", written)
        else:
            seq = _sequence(key)
            short = self._restrict(self._by_seq.get(seq, []), allowed) if seq is not None else []
            if len(short) == 1:
                return InvoiceMatch(short[0], "short form", written)
            if len(short) > 1:
                return None
        return self._fuzzy(key, allowed, written, has_prefix)

    def _fuzzy(
        self, key: str, allowed: frozenset[str] | None, written: str, has_prefix: bool
    ) -> InvoiceMatch | None:
        pool = sorted(allowed) if allowed is not None else self._numbers
        if not pool:
            return None
        keys = {normalise_invoice_number(n) if has_prefix else str(_sequence(n)): n for n in pool}
        probe = key if has_prefix else str(int(key))
        close = process.extract(probe, list(keys), scorer=OSA.distance, score_cutoff=1, limit=3)
        if len(close) != 1:
            return None  # nothing close, or two invoices equally close: never guess between real invoices
        return InvoiceMatch(keys[close[0][0]], "one typo or swapped digits", written)

    def match_all(
        self, written: Iterable[str], *, candidates: Iterable[str] | None = None
    ) -> list[InvoiceMatch]:
        """Matches for several references, each ledger invoice once, in order."""
        cands = list(candidates) if candidates is not None else None
        out: list[InvoiceMatch] = []
        seen: set[str] = set()
        for w in written:
            m = self.match(w, candidates=cands)
            if m and m.number not in seen:
                seen.add(m.number)
                out.append(m)
        return out


def match_by_amount(
    amount: Decimal, open_invoices: Sequence[OpenInvoice], *, max_combination: int = 3
) -> list[InvoiceMatch]:
    """Open invoices whose balance (or amount) equals ``amount``; else the unique set summing to it."""
    exact = [i for i in open_invoices if amount in (i.balance, i.amount)]
    if len(exact) == 1:
        return [InvoiceMatch(exact[0].number, f"amount {amount} equals its balance")]
    if exact:
        return []
    found: list[tuple[OpenInvoice, ...]] = []
    for size in range(2, min(max_combination, len(open_invoices)) + 1):
        for combo in combinations(open_invoices, size):
            if sum((i.balance for i in combo), Decimal("0")) == amount:
                found.append(combo)
                if len(found) > 1:
                    return []
    if len(found) == 1:
        return [InvoiceMatch(i.number, f"amount {amount} equals the sum of balances") for i in found[0]]
    return []


def domain_belongs_to(domain: str, client_name: str) -> bool:
    """Whether an e-mail domain looks like the client's own (shares a word of 4+ letters with its name).

    A colleague writing from the client's domain is the client; someone on a mail provider shared with a
    client
    who happens to use it ("mailo", "gmail") is not.
    """
    name_words = {w for w in re.findall(r"[a-z]{4,}", _fold_ascii(client_name))}
    labels = re.findall(r"[a-z]{4,}", _fold_ascii(domain.rsplit(".", 1)[0]))
    return any(label in name_words or any(label in w or w in label for w in name_words) for label in labels)


def _fold_ascii(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", s.lower()) if not unicodedata.combining(c))


def only_open_invoice(open_invoices: Sequence[OpenInvoice]) -> InvoiceMatch | None:
    """The client's single open invoice, when there is exactly one."""
    if len(open_invoices) == 1:
        return InvoiceMatch(open_invoices[0].number, "the client's only open invoice")
    return None


def due_date_of(numbers: Sequence[str], open_invoices: Sequence[OpenInvoice]) -> date | None:
    """The due date shared by the given invoices ("paid on its due date"); None if they differ."""
    dues = {i.due_date for i in open_invoices if i.number in numbers}
    return dues.pop() if len(dues) == 1 and None not in dues else None


def resolve_reply_invoices(
    matcher: InvoiceMatcher,
    *,
    text_refs: Sequence[str],
    context_refs: Sequence[str] = (),
    amounts: Sequence[Decimal] = (),
    client_invoices: Sequence[OpenInvoice] | None = None,
    all_open_invoices: Sequence[OpenInvoice] = (),
) -> list[InvoiceMatch]:
    """The invoices one reply is about, most direct evidence first.

    1. references in the sender's new text; 2. otherwise the thread (subject, quoted reminder, returned
    message,
    In-Reply-To ids) plus stated amounts equal to one open balance of the client; 3. otherwise the stated
    amount
    (one balance, or a unique sum) or the client's only open invoice; 4. with no known client, an amount equal
    to
    exactly one open balance in the whole ledger.
    """
    cands = [i.number for i in client_invoices] if client_invoices is not None else None
    direct = matcher.match_all(text_refs, candidates=cands)
    if direct:
        return direct
    found = matcher.match_all(context_refs, candidates=None)
    if client_invoices:
        for a in amounts:
            hit = [i for i in client_invoices if a in (i.balance, i.amount)]
            if len(hit) == 1 and all(m.number != hit[0].number for m in found):
                found.append(InvoiceMatch(hit[0].number, f"amount {a} equals its balance"))
    if found:
        return found
    if client_invoices:
        for a in amounts:
            by_amount = match_by_amount(a, client_invoices)
            if by_amount:
                return by_amount
        only = only_open_invoice(client_invoices)
        return [only] if only else []
    for a in amounts:
        hit = [i for i in all_open_invoices if a in (i.balance, i.amount)]
        if len(hit) == 1:
            return [InvoiceMatch(hit[0].number, f"amount {a} equals one open balance (client unknown)")]
    return []
