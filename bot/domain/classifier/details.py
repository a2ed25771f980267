"""Dates, amounts and instalments read from the sentences that carry the intent.

The promised date comes from the sentences with a promise, the paid date from those with a payment claim (the
last
date when several payments are listed), the amount from the sentences of the intent that wins. A date is taken
as
written only when firm: vague phrases ("next week", "début novembre") and due-date references (which need the
ledger)
leave it empty with the evidence kept for the caller.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from bot.domain.extraction.amounts import Amount, find_amounts
from bot.domain.extraction.dates import DateMention, find_dates
from bot.domain.extraction.invoice_refs import InvoiceRef
from bot.domain.intent import Evidence, Intent

if TYPE_CHECKING:
    from bot.domain.classifier.engine import Hit

_IN_FULL = re.compile(
    r"\b(?:settled|paid|regle|reglee|reglees|payee?s?|solde|soldee)\s+(?:in full|en totalite|"
    r"integralement|en integralite)\b"
)
_INVOICE_WORD = re.compile(r"\b(?:factures?|invoices?|solde|balance)\b")
_THIS_INVOICE_OF = re.compile(r"\b(?:cette facture|this invoice|la facture|the invoice) (?:de|of|for) ")


@dataclass(frozen=True)
class Details:
    promised_date: date | None = None
    paid_date: date | None = None
    amount: Decimal | None = None
    instalments: tuple[tuple[date | None, Decimal | None], ...] = ()
    evidence: tuple[Evidence, ...] = ()

    def without_promised_date(self) -> Details:
        """A conditional promise commits to no date (README: vague or conditional dates give null)."""
        if self.promised_date is None:
            return self
        ev = (
            *self.evidence,
            Evidence("date.promised.conditional", "promised_date", str(self.promised_date), 0.0),
        )
        return replace(self, promised_date=None, evidence=ev)


def _sentence_of(spans: list[tuple[int, int]], pos: int) -> int:
    starts = [s for s, _ in spans]
    return max(0, bisect.bisect_right(starts, pos) - 1)


def _sum(amounts: list[Amount]) -> Decimal | None:
    return sum((a.value for a in amounts), Decimal("0.00")) if amounts else None


def extract_details(
    folded: str,
    spans: list[tuple[int, int]],
    refs: list[InvoiceRef],
    hits: list[Hit],
    primary: Intent,
    secondary: tuple[Intent, ...],
    sent_day: date | None,
    us_dates: bool,
) -> Details:
    """Dates, amount and instalments for a reply whose intents are already decided."""
    intents = (primary, *secondary)
    if not ({Intent.PROMISE_TO_PAY, Intent.ALREADY_PAID, Intent.DISPUTE, Intent.PAYMENT_PLAN_REQUEST} & set(intents)):
        return Details()  # nothing to read: no date or amount is reported for these intents
    date_sentences = {
        h.sentence
        for h in hits
        if h.weight > 0 and h.rule.intent in (Intent.PROMISE_TO_PAY, Intent.ALREADY_PAID, Intent.PAYMENT_PLAN_REQUEST)
    }
    by_sentence: dict[int, list[DateMention]] = {}
    if sent_day is not None:
        # Dates are read only in the sentences that carry a promise or a payment (the costly part of
        # extraction).
        for idx in date_sentences:
            s0, e0 = spans[idx]
            by_sentence[idx] = find_dates(folded[s0:e0], sent_day, us_dates=us_dates, folded=True)
    # "factures 164 et 519" are references, not sums
    amounts = [
        a for a in find_amounts(folded, folded=True) if not any(a.start < r.end and r.start < a.end for r in refs)
    ]
    amounts_in: dict[int, list[Amount]] = {}
    for a in amounts:
        amounts_in.setdefault(_sentence_of(spans, a.start), []).append(a)

    def sentences_of(intent: Intent) -> list[int]:
        return sorted({h.sentence for h in hits if h.rule.intent is intent and h.weight > 0})

    fee_sentences = {h.sentence for h in hits if h.rule.id == "dispute.fees"}
    evidence: list[Evidence] = []

    promised: date | None = None
    if Intent.PROMISE_TO_PAY in intents and primary not in (
        Intent.PAYMENT_PLAN_REQUEST,
        Intent.AUTO_REPLY,
        Intent.BOUNCE,
        Intent.OTHER,
    ):
        for idx in sentences_of(Intent.PROMISE_TO_PAY):
            mentions = by_sentence.get(idx, [])
            firm = [m for m in mentions if not m.vague and m.future and (sent_day is None or m.future >= sent_day)]
            if firm:
                promised = firm[0].future
                evidence.append(Evidence("date.promised", "promised_date", firm[0].text, 1.0))
                break
            if any(m.kind == "due_date" for m in mentions):
                s, e = spans[idx]
                local = [r.written for r in refs if s <= r.start < e]
                evidence.append(Evidence("date.due_date", "promised_date", ",".join(local), 0.0))
                break

    paid: date | None = None
    if Intent.ALREADY_PAID in intents:
        past = [
            m.past
            for idx in sentences_of(Intent.ALREADY_PAID)
            for m in by_sentence.get(idx, [])
            if m.past and (sent_day is None or m.past <= sent_day)
        ]
        if past:
            paid = max(past)
            evidence.append(Evidence("date.paid", "paid_date", paid.isoformat(), 1.0))

    amount = _amount(primary, intents, sentences_of, amounts_in, fee_sentences, spans, refs, folded)
    in_full = _IN_FULL.search(folded) if amount is None and Intent.ALREADY_PAID in intents else None
    if in_full:
        evidence.append(Evidence("amount.in_full", "amount", in_full.group(0), 0.0))
    if amount is not None:
        evidence.append(Evidence("amount", "amount", str(amount), 1.0))

    instalments: list[tuple[date | None, Decimal | None]] = []
    if primary is Intent.PAYMENT_PLAN_REQUEST:
        for idx in sentences_of(Intent.PAYMENT_PLAN_REQUEST):
            for a in amounts_in.get(idx, []):
                after = [m for m in by_sentence.get(idx, []) if m.start + spans[idx][0] > a.end and m.future]
                instalments.append((after[0].future if after else None, a.value))
    return Details(promised, paid, amount, tuple(instalments), tuple(evidence))


def _amount(
    primary: Intent,
    intents: tuple[Intent, ...],
    sentences_of: Callable[[Intent], list[int]],
    amounts_in: dict[int, list[Amount]],
    fee_sentences: set[int],
    spans: list[tuple[int, int]],
    refs: list[InvoiceRef],
    folded: str,
) -> Decimal | None:
    """The amount the sender paid, will pay or disputes, read in the sentences of the winning intent."""

    def in_sentences(idxs: list[int]) -> list[Amount]:
        return [a for i in idxs if i not in fee_sentences for a in amounts_in.get(i, [])]

    def single_fallback(require_invoice_word: bool) -> Decimal | None:
        values: set[Decimal] = set()
        for i, items in amounts_in.items():
            if i in fee_sentences:
                continue
            s, e = spans[i]
            if require_invoice_word and not _INVOICE_WORD.search(folded[s:e]):
                continue
            values |= {a.value for a in items}
        return values.pop() if len(values) == 1 else None

    if Intent.ALREADY_PAID in intents and primary in (Intent.ALREADY_PAID, Intent.DISPUTE):
        found = in_sentences(sentences_of(Intent.ALREADY_PAID))
        return _sum(found) if found else single_fallback(False)
    if primary is Intent.PROMISE_TO_PAY:
        idxs = sentences_of(Intent.PROMISE_TO_PAY)
        found = in_sentences(idxs)
        if found:
            for i in idxs:
                s, e = spans[i]
                n_refs = sum(1 for r in refs if s <= r.start < e)
                if n_refs >= 2 and 0 < len(amounts_in.get(i, [])) < n_refs:
                    return None  # amounts given for some of the invoices only: no stated total
            return _sum(found)
        return single_fallback(True)
    if primary is Intent.DISPUTE:
        dispute_idxs = set(sentences_of(Intent.DISPUTE)) | {
            i for i in range(len(spans)) if _THIS_INVOICE_OF.search(folded[spans[i][0] : spans[i][1]])
        }
        chosen = {
            a.value
            for i in dispute_idxs
            if i not in fee_sentences
            for a in amounts_in.get(i, [])
            if _credit_context(folded, spans[i])
        }
        return chosen.pop() if len(chosen) == 1 else None
    return None


def _credit_context(folded: str, span: tuple[int, int]) -> bool:
    text = folded[span[0] : span[1]]
    return bool(re.search(r"\b(?:avoir|credit|deduir|deduct)", text) or _THIS_INVOICE_OF.search(text))
