"""The invoices.csv fast path gives exactly what the domain parser gives, on plain and unusual spellings."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.app.invoice_rows import parse_invoice_row_fast
from bot.domain.ledger import InvoiceRow, parse_invoice_row

PLAIN = {
    "invoice_number": "INV-0001",
    "client_id": "C1",
    "issue_date": "2026-10-01",
    "due_date": "2026-11-02",
    "amount": "100.50",
    "currency": "EUR",
    "amount_paid": "",
}


def test_plain_row_is_the_domain_row() -> None:
    fast = parse_invoice_row_fast(2, PLAIN)
    assert fast == parse_invoice_row(2, PLAIN)
    assert isinstance(fast, InvoiceRow) and fast.amount == Decimal("100.50") and fast.amount_paid == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "1 234,56"),
        ("amount", "1.234"),  # ambiguous: refused
        ("amount", "12.345"),
        ("amount", "-5"),
        ("amount", "€ 12"),
        ("amount", "7."),
        ("amount", ".5"),
        ("amount", "٣.50"),  # non-ASCII digits
        ("amount_paid", "200"),  # more than the amount
        ("amount_paid", "0.00"),
        ("issue_date", "01/10/2026"),
        ("issue_date", "2026-1-5"),
        ("issue_date", "2026-02-30"),
        ("issue_date", "2026-12-01"),  # after the due date
        ("due_date", "20261102"),
        ("due_date", ""),
        ("invoice_number", ""),
        ("invoice_number", "A\x01B"),
        ("invoice_number", "X" * 65),
        ("invoice_number", " Facture n°7 "),
        ("currency", "eur"),
        ("currency", "EURO"),
        ("client_id", "  C1  "),
    ],
)
def test_every_other_spelling_gets_the_domain_answer(field: str, value: str) -> None:
    values = PLAIN | {field: value}
    assert parse_invoice_row_fast(7, values) == parse_invoice_row(7, values)


_text = st.text(alphabet=st.sampled_from("0123456789.,-/ €aEUR\x00é"), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    number=_text,
    issue=st.one_of(_text, st.dates().map(lambda d: d.isoformat())),
    due=st.one_of(_text, st.dates().map(lambda d: d.isoformat())),
    amount=st.one_of(_text, st.decimals(0, 10**6, places=2).map(str)),
    paid=st.one_of(_text, st.decimals(0, 10**3, places=2).map(str)),
    currency=st.sampled_from(["EUR", "gbp", "E1R", "", " USD "]),
)
def test_fast_path_agrees_with_the_domain_parser(
    number: str, issue: str, due: str, amount: str, paid: str, currency: str
) -> None:
    values = {
        "invoice_number": number,
        "client_id": "C1",
        "issue_date": issue,
        "due_date": due,
        "amount": amount,
        "currency": currency,
        "amount_paid": paid,
    }
    assert parse_invoice_row_fast(3, values) == parse_invoice_row(3, values)


def test_plain_rows_do_not_need_the_domain_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(line: int, values: object) -> None:
        raise AssertionError("plain row sent to the slow parser")

    monkeypatch.setattr("bot.app.invoice_rows.parse_invoice_row", refuse)
    assert isinstance(parse_invoice_row_fast(2, PLAIN | {"amount_paid": "0.5"}), InvoiceRow)
