"""Collection KPIs, computed from plain invoice facts (no database here).

Definitions (written down because every finance team computes these slightly differently):

- **DSO** (days sales outstanding, count-back-free "standard" method): receivables outstanding on the as-of
  date divided by the sales invoiced over the last ``period_days``, times ``period_days``.
- **Ageing**: each outstanding balance by days past due on the as-of date: not due (<= 0), 1-30, 31-60,
  61-90, 90+.
- **Recovery rate**: of the money that has fallen due (invoices whose due date is on or before the as-of
  date, cancelled ones excluded), the share that has been paid.
- **Average days late**: over invoices paid in full, days from the due date to the last payment (early
  payments count as 0), a simple mean per invoice.
- **Priority**: clients with overdue money, ranked by a score that grows with the overdue balance, with how
  late the oldest invoice is, and with each broken promise (see :func:`priority_score`).

Amounts of different currencies are never added together: callers pass the invoices of one currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from bot.domain.invoice import OUTSTANDING, InvoiceState

BUCKETS: tuple[str, ...] = ("not due", "1-30", "31-60", "61-90", "90+")
ZERO = Decimal("0")


@dataclass(frozen=True)
class InvoiceFact:
    """What the KPIs need of one invoice."""

    number: str
    client_id: str
    issue_date: date
    due_date: date
    amount: Decimal
    amount_paid: Decimal
    state: InvoiceState
    #: Date of the last payment, when the invoice has any.
    last_paid_on: date | None = None

    @property
    def balance(self) -> Decimal:
        return self.amount - self.amount_paid

    @property
    def outstanding(self) -> bool:
        return self.state in OUTSTANDING and self.balance > 0


@dataclass(frozen=True)
class Bucket:
    label: str
    amount: Decimal
    count: int


def bucket_of(days_late: int) -> str:
    """The ageing bucket label for a number of days past due."""
    if days_late <= 0:
        return BUCKETS[0]
    if days_late <= 30:
        return BUCKETS[1]
    if days_late <= 60:
        return BUCKETS[2]
    if days_late <= 90:
        return BUCKETS[3]
    return BUCKETS[4]


def ageing(invoices: Iterable[InvoiceFact], as_of: date) -> list[Bucket]:
    """Outstanding balances by ageing bucket, every bucket present (zero when empty), in bucket order."""
    amounts = dict.fromkeys(BUCKETS, ZERO)
    counts = dict.fromkeys(BUCKETS, 0)
    for inv in invoices:
        if not inv.outstanding:
            continue
        label = bucket_of((as_of - inv.due_date).days)
        amounts[label] += inv.balance
        counts[label] += 1
    return [Bucket(label, amounts[label], counts[label]) for label in BUCKETS]


def dso(invoices: Iterable[InvoiceFact], as_of: date, period_days: int = 90) -> Decimal | None:
    """Days sales outstanding over the last ``period_days``; ``None`` when nothing was invoiced then."""
    if period_days <= 0:
        raise ValueError("period_days must be positive")
    start = as_of - timedelta(days=period_days)
    receivables = ZERO
    sales = ZERO
    for inv in invoices:
        if inv.state is InvoiceState.CANCELLED or inv.issue_date > as_of:
            continue
        if inv.outstanding:
            receivables += inv.balance
        if inv.issue_date > start:
            sales += inv.amount
    if sales <= 0:
        return None
    return (receivables / sales * period_days).quantize(Decimal("0.1"))


def recovery_rate(invoices: Iterable[InvoiceFact], as_of: date) -> Decimal | None:
    """Share (0-1) of the money fallen due by ``as_of`` that has been paid; ``None`` when nothing fell due."""
    due = ZERO
    paid = ZERO
    for inv in invoices:
        if inv.state is InvoiceState.CANCELLED or inv.due_date > as_of:
            continue
        due += inv.amount
        paid += min(inv.amount_paid, inv.amount)
    if due <= 0:
        return None
    return (paid / due).quantize(Decimal("0.0001"))


def average_days_late(invoices: Iterable[InvoiceFact]) -> Decimal | None:
    """Mean days from due date to last payment over invoices paid in full; ``None`` when there are none."""
    delays = [max(0, (inv.last_paid_on - inv.due_date).days) for inv in invoices
              if inv.state is InvoiceState.PAID and inv.last_paid_on is not None]
    if not delays:
        return None
    return (Decimal(sum(delays)) / len(delays)).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class PromiseTally:
    kept: int
    broken: int
    pending: int

    @property
    def kept_rate(self) -> Decimal | None:
        """Kept / (kept + broken); pending promises are not judged yet."""
        judged = self.kept + self.broken
        return None if judged == 0 else (Decimal(self.kept) / judged).quantize(Decimal("0.0001"))


def promise_tally(statuses: Iterable[str]) -> PromiseTally:
    """Count promise statuses (``kept``, ``broken``, ``pending``; ``superseded`` ones are not counted)."""
    kept = broken = pending = 0
    for status in statuses:
        if status == "kept":
            kept += 1
        elif status == "broken":
            broken += 1
        elif status == "pending":
            pending += 1
    return PromiseTally(kept, broken, pending)


@dataclass(frozen=True)
class Priority:
    """One client on the weekly priority list, with the figures behind its rank."""

    client_id: str
    overdue: Decimal
    max_days_late: int
    broken_promises: int
    invoice_numbers: tuple[str, ...]
    score: Decimal = field(compare=False)


def priority_score(overdue: Decimal, max_days_late: int, broken_promises: int) -> Decimal:
    """Overdue money weighted by lateness and unreliability.

    Each month late adds the balance once more (a 90-day-old euro weighs four times a fresh one: the older a
    debt, the less likely it is paid without a call), and each broken promise adds half again, since a client
    who broke their word needs a person rather than another e-mail.
    """
    lateness = Decimal(1) + Decimal(max(0, max_days_late)) / 30
    unreliability = Decimal(1) + Decimal(broken_promises) / 2
    return (overdue * lateness * unreliability).quantize(Decimal("0.01"))


def priority_ranking(invoices: Iterable[InvoiceFact], as_of: date,
                     broken_promises: Mapping[str, int] | None = None, limit: int = 20) -> list[Priority]:
    """Clients with overdue outstanding money, highest :func:`priority_score` first (ties: client id)."""
    broken = broken_promises or {}
    overdue: dict[str, Decimal] = {}
    late: dict[str, int] = {}
    numbers: dict[str, list[str]] = {}
    for inv in invoices:
        days = (as_of - inv.due_date).days
        if not inv.outstanding or days <= 0:
            continue
        overdue[inv.client_id] = overdue.get(inv.client_id, ZERO) + inv.balance
        late[inv.client_id] = max(late.get(inv.client_id, 0), days)
        numbers.setdefault(inv.client_id, []).append(inv.number)
    ranked = [
        Priority(cid, amount, late[cid], broken.get(cid, 0), tuple(sorted(numbers[cid])),
                 priority_score(amount, late[cid], broken.get(cid, 0)))
        for cid, amount in overdue.items()
    ]
    ranked.sort(key=lambda p: (-p.score, p.client_id))
    return ranked[:limit]


def count_by(values: Sequence[str]) -> dict[str, int]:
    """Occurrences of each value, most frequent first (ties alphabetical), for the dashboard charts."""
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
