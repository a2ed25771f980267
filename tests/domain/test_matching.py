from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bot.domain.matching import (
    InvoiceMatcher,
    OpenInvoice,
    domain_belongs_to,
    due_date_of,
    match_by_amount,
    normalise_invoice_number,
    only_open_invoice,
    resolve_reply_invoices,
)

LEDGER = ["F2031-00457", "F2031-00475", "F2031-00312", "F2031-00918", "F2031-00129", "F2031-01312"]


@pytest.fixture
def matcher() -> InvoiceMatcher:
    return InvoiceMatcher(LEDGER)


def test_normalise() -> None:
    assert normalise_invoice_number(" f2031-00457 ") == "F203100457"
    assert normalise_invoice_number("F 2031/00457") == "F203100457"


@pytest.mark.parametrize(
    ("written", "candidates", "expected", "reason"),
    [
        ("F2031-00457", None, "F2031-00457", "exact"),
        ("F203100457", None, "F2031-00457", "exact"),
        ("F2031-129", None, "F2031-00129", "zeros"),
        ("918", None, "F2031-00918", "short"),
        ("00918", None, "F2031-00918", "short"),
        ("F2031-00192", ["F2031-00129", "F2031-00918"], "F2031-00129", "typo"),
    ],
)
def test_tolerant_forms(
    matcher: InvoiceMatcher, written: str, candidates: list[str] | None, expected: str, reason: str
) -> None:
    m = matcher.match(written, candidates=candidates)
    assert m is not None and m.number == expected
    assert reason in m.reason or reason in ("zeros", "short", "typo")


def test_a_real_invoice_number_always_means_itself(matcher: InvoiceMatcher) -> None:
    # 00475 is one swap away from 00457 but is itself a real invoice: no fuzzy guess.
    m = matcher.match("F2031-00475", candidates=["F2031-00457"])
    assert m is not None and m.number == "F2031-00475" and m.reason == "exact"


def test_ambiguous_fuzzy_match_returns_nothing(matcher: InvoiceMatcher) -> None:
    # 00458 is one edit from two real candidates: refuse to guess between them.
    assert matcher.match("F2031-00458", candidates=["F2031-00457", "F2031-00459"]) is None
    two = InvoiceMatcher(["F2031-00457", "F2031-00458"])
    assert two.match("F2031-00459") is None


def test_short_form_ambiguous_without_client(matcher: InvoiceMatcher) -> None:
    # F2031-01312 ends with 1312, not 312: "312" is unique in the ledger.
    assert matcher.match("312").number == "F2031-00312"  # type: ignore[union-attr]
    dup = InvoiceMatcher(["F2031-00312", "F2032-00312"])
    assert dup.match("312") is None
    assert dup.match("312", candidates=["F2032-00312"]).number == "F2032-00312"  # type: ignore[union-attr]


def test_unknown_returns_none(matcher: InvoiceMatcher) -> None:
    assert matcher.match("F2031-00777") is None
    assert matcher.match("") is None


def test_remembered_answers_are_those_of_a_fresh_matcher() -> None:
    written = ["F2031-00457", "F2031-129", "918", "F2031-00458", "C000007", "F2031-00777", "", "312"]
    shared = InvoiceMatcher(LEDGER)
    for _ in range(3):  # asked again and again, as a client's replies repeat the same references
        for w in written:
            assert shared.match(w) == InvoiceMatcher(LEDGER).match(w)
    # A restriction to candidates is never answered from what an unrestricted look-up found.
    assert shared.match("F2031-00192") == InvoiceMatcher(LEDGER).match("F2031-00192")
    assert shared.match("F2031-00192") is not None
    assert shared.match("F2031-00192", candidates=["F2031-00918"]) is None


def test_remembered_answers_are_bounded() -> None:
    m = InvoiceMatcher(LEDGER)
    for i in range(1_000):
        m.match(f"X{i}")
    assert len(m._memo) <= 256
    assert m.match("F2031-00457") == InvoiceMatcher(LEDGER).match("F2031-00457")  # past the bound: still right


def _inv(number: str, balance: str, due: date | None = None) -> OpenInvoice:
    return OpenInvoice(number, "C1", Decimal(balance), Decimal(balance), due)


def test_match_by_amount_exact_and_sum() -> None:
    invoices = [_inv("A", "100.00"), _inv("B", "250.50"), _inv("C", "99.50")]
    assert [m.number for m in match_by_amount(Decimal("250.50"), invoices)] == ["B"]
    assert sorted(m.number for m in match_by_amount(Decimal("350.50"), invoices)) == ["A", "B"]
    assert match_by_amount(Decimal("1.00"), invoices) == []


def test_match_by_amount_ambiguous_sum_returns_nothing() -> None:
    invoices = [_inv("A", "100.00"), _inv("B", "100.00"), _inv("C", "200.00")]
    assert match_by_amount(Decimal("100.00"), invoices) == []
    assert match_by_amount(Decimal("300.00"), invoices) == []


def test_only_open_invoice() -> None:
    assert only_open_invoice([_inv("A", "1.00")]).number == "A"  # type: ignore[union-attr]
    assert only_open_invoice([_inv("A", "1.00"), _inv("B", "2.00")]) is None


def test_due_date_of() -> None:
    d = date(2031, 3, 1)
    invoices = [_inv("A", "1.00", d), _inv("B", "1.00", d), _inv("C", "1.00", date(2031, 3, 5))]
    assert due_date_of(["A", "B"], invoices) == d
    assert due_date_of(["A", "C"], invoices) is None


def test_resolve_prefers_the_new_text_then_thread_then_ledger(matcher: InvoiceMatcher) -> None:
    client = [_inv("F2031-00457", "10.00"), _inv("F2031-00918", "20.00")]
    got = resolve_reply_invoices(
        matcher, text_refs=["918"], context_refs=["F2031-00457"], client_invoices=client
    )
    assert [m.number for m in got] == ["F2031-00918"]
    got = resolve_reply_invoices(
        matcher,
        text_refs=[],
        context_refs=["F2031-00457"],
        amounts=[Decimal("20.00")],
        client_invoices=client,
    )
    assert [m.number for m in got] == ["F2031-00457", "F2031-00918"]
    got = resolve_reply_invoices(matcher, text_refs=[], client_invoices=client[:1])
    assert [m.reason for m in got] == ["the client's only open invoice"]
    assert resolve_reply_invoices(matcher, text_refs=[], client_invoices=client) == []


def test_domain_belongs_to() -> None:
    assert domain_belongs_to("archi-dupont.example", "Cabinet Dupont Architectes")
    assert not domain_belongs_to("mailo.test", "Restaurant Le Phare")
