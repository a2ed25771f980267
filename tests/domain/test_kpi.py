"""KPI definitions on small hand-computed ledgers."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from bot.domain.invoice import InvoiceState
from bot.domain.kpi import (
    BUCKETS,
    InvoiceFact,
    ageing,
    average_days_late,
    bucket_of,
    count_by,
    dso,
    priority_ranking,
    priority_score,
    promise_tally,
    recovery_rate,
)

AS_OF = date(2026, 11, 20)


def inv(
    number: str,
    due_days_ago: int,
    amount: str,
    paid: str = "0",
    state: InvoiceState = InvoiceState.OPEN,
    client: str = "C1",
    issued_days_ago: int | None = None,
    last_paid_days_ago: int | None = None,
) -> InvoiceFact:
    due = AS_OF - timedelta(days=due_days_ago)
    issued = AS_OF - timedelta(days=issued_days_ago if issued_days_ago is not None else due_days_ago + 30)
    last = AS_OF - timedelta(days=last_paid_days_ago) if last_paid_days_ago is not None else None
    return InvoiceFact(number, client, issued, due, Decimal(amount), Decimal(paid), state, last)


def test_bucket_edges() -> None:
    assert [bucket_of(d) for d in (-5, 0, 1, 30, 31, 60, 61, 90, 91)] == [
        "not due",
        "not due",
        "1-30",
        "1-30",
        "31-60",
        "31-60",
        "61-90",
        "61-90",
        "90+",
    ]


def test_ageing_sums_outstanding_balances_only() -> None:
    buckets = ageing(
        [
            inv("A", -10, "100"),  # not due
            inv("B", 15, "200", paid="50"),  # 150 in 1-30
            inv("C", 45, "300", state=InvoiceState.DISPUTED),  # disputed still counts as outstanding
            inv("D", 100, "400"),
            inv("E", 100, "999", paid="999", state=InvoiceState.PAID),
            inv("F", 70, "500", state=InvoiceState.CANCELLED),
        ],
        AS_OF,
    )
    assert [b.label for b in buckets] == list(BUCKETS)
    assert [b.amount for b in buckets] == [Decimal(100), Decimal(150), Decimal(300), Decimal(0), Decimal(400)]
    assert [b.count for b in buckets] == [1, 1, 1, 0, 1]


def test_dso_standard_method() -> None:
    # Sales over the last 90 days: 1000 + 500 = 1500; receivables: 600 + 500 = 1100 -> 1100/1500*90 = 66.0
    facts = [
        inv("A", 10, "1000", paid="400", issued_days_ago=40),
        inv("B", -20, "500", issued_days_ago=10),
        inv("OLD", 200, "700", paid="700", state=InvoiceState.PAID, issued_days_ago=230),
    ]
    assert dso(facts, AS_OF) == Decimal("66.0")
    assert dso([], AS_OF) is None


def test_recovery_rate_counts_what_fell_due() -> None:
    facts = [
        inv("A", 10, "1000", paid="1000", state=InvoiceState.PAID),
        inv("B", 5, "1000", paid="250"),
        inv("C", -5, "5000"),
        inv("D", 50, "800", state=InvoiceState.CANCELLED),
    ]
    assert recovery_rate(facts, AS_OF) == Decimal("0.6250")
    assert recovery_rate([inv("C", -5, "5000")], AS_OF) is None


def test_average_days_late_over_paid_invoices() -> None:
    facts = [
        inv("A", 30, "10", paid="10", state=InvoiceState.PAID, last_paid_days_ago=10),  # 20 days late
        inv("B", 30, "10", paid="10", state=InvoiceState.PAID, last_paid_days_ago=35),  # early -> 0
        inv("C", 30, "10"),
    ]
    assert average_days_late(facts) == Decimal("10.0")
    assert average_days_late([inv("C", 30, "10")]) is None


def test_promise_tally() -> None:
    tally = promise_tally(["kept", "kept", "broken", "pending", "superseded"])
    assert (tally.kept, tally.broken, tally.pending) == (2, 1, 1)
    assert tally.kept_rate == Decimal("0.6667")
    assert promise_tally([]).kept_rate is None


def test_priority_ranking_weighs_amount_lateness_and_broken_promises() -> None:
    facts = [
        inv("A1", 10, "1000", client="A"),  # 1000 * (1 + 10/30)
        inv("B1", 90, "500", client="B"),  # 500 * 4 = 2000
        inv("C1", 10, "1000", client="C"),  # like A but two broken promises: * 2
        inv("D1", -5, "99999", client="D"),
    ]  # not overdue: not listed
    ranked = priority_ranking(facts, AS_OF, {"C": 2})
    assert [p.client_id for p in ranked] == ["C", "B", "A"]
    assert ranked[1].score == priority_score(Decimal(500), 90, 0) == Decimal("2000.00")
    assert ranked[0].broken_promises == 2 and ranked[2].max_days_late == 10


def test_count_by_orders_by_frequency() -> None:
    assert list(count_by(["b", "a", "b", "c", "a", "b"]).items()) == [("b", 3), ("a", 2), ("c", 1)]
