"""Validation of ledger rows (clients, invoices, payments) into typed records.

Each ``parse_*_row`` returns either a record or the list of every problem in the row, so a whole file's
errors can be reported at once. Cross-row and cross-file checks (duplicates, unknown clients) live in the
import use case, which sees the database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypeVar

from bot.domain.errors import FieldProblem
from bot.domain.fields import clean_text, parse_amount, parse_date, parse_emails

CLIENT_COLUMNS = ("client_id", "name", "email", "language", "profile")
INVOICE_COLUMNS = (
    "invoice_number",
    "client_id",
    "issue_date",
    "due_date",
    "amount",
    "currency",
    "amount_paid",
)
PAYMENT_COLUMNS = ("invoice_number", "amount", "paid_on", "reference")
LANGUAGES = ("fr", "en")

T = TypeVar("T")


@dataclass(frozen=True)
class ClientRow:
    client_id: str
    name: str
    emails: tuple[str, ...]
    language: str
    profile: str


@dataclass(frozen=True)
class InvoiceRow:
    number: str
    client_id: str
    issue_date: date
    due_date: date
    amount: Decimal
    currency: str
    amount_paid: Decimal


@dataclass(frozen=True)
class PaymentRow:
    invoice_number: str
    amount: Decimal
    paid_on: date
    reference: str


class _Row:
    """Collects field problems while reading one row."""

    def __init__(self, line: int, values: Mapping[str, str]) -> None:
        self.line = line
        self.values = values
        self.problems: list[FieldProblem] = []

    def get(self, field: str, parse: Callable[[str], T], default: T) -> T:
        raw = (self.values.get(field) or "").strip()
        try:
            return parse(raw)
        except ValueError as exc:
            self.problems.append(FieldProblem(self.line, field, str(exc), raw))
            return default

    def fail(self, field: str, message: str) -> None:
        self.problems.append(FieldProblem(self.line, field, message, (self.values.get(field) or "").strip()))


def _identifier(raw: str) -> str:
    value = clean_text(raw, max_len=64)
    if not value:
        raise ValueError("required")
    return value


def _required_text(raw: str) -> str:
    value = clean_text(raw)
    if not value:
        raise ValueError("required")
    return value


def _language(raw: str) -> str:
    value = raw.strip().lower()
    if value not in LANGUAGES:
        raise ValueError("expected fr or en")
    return value


def _currency(raw: str) -> str:
    value = raw.strip().upper()
    if len(value) != 3 or not value.isalpha():
        raise ValueError("expected a three-letter ISO currency code such as EUR or GBP")
    return value


def parse_client_row(
    line: int, values: Mapping[str, str], profiles: set[str]
) -> ClientRow | list[FieldProblem]:
    """Validate one clients.csv row; ``profiles`` are the names defined in profiles.yaml."""
    row = _Row(line, values)
    client_id = row.get("client_id", _identifier, "")
    name = row.get("name", _required_text, "")
    emails: list[str] = row.get("email", parse_emails, [])
    language = row.get("language", _language, "")
    profile = row.get("profile", _required_text, "")
    if profile and profiles and profile not in profiles:
        row.fail("profile", f"unknown profile; expected one of {', '.join(sorted(profiles))}")
    if row.problems:
        return row.problems
    return ClientRow(client_id, name, tuple(emails), language, profile)


def parse_invoice_row(line: int, values: Mapping[str, str]) -> InvoiceRow | list[FieldProblem]:
    """Validate one invoices.csv row (dates in order, amounts non-negative, paid not above amount)."""
    row = _Row(line, values)
    number = row.get("invoice_number", _identifier, "")
    client_id = row.get("client_id", _identifier, "")
    issue = row.get("issue_date", parse_date, None)
    due = row.get("due_date", parse_date, None)
    amount = row.get("amount", parse_amount, None)
    currency = row.get("currency", _currency, "")
    paid_raw = (values.get("amount_paid") or "").strip()
    paid = row.get("amount_paid", parse_amount, None) if paid_raw else Decimal("0")
    if amount is not None and amount < 0:
        row.fail("amount", "must not be negative (import a credit note as a payment instead)")
    if paid is not None and paid < 0:
        row.fail("amount_paid", "must not be negative")
    if amount is not None and paid is not None and paid > amount:
        row.fail("amount_paid", f"is more than the invoice amount {amount}")
    if issue is not None and due is not None and due < issue:
        row.fail("due_date", f"is before the issue date {issue.isoformat()}")
    if row.problems or issue is None or due is None or amount is None or paid is None:
        return row.problems
    return InvoiceRow(number, client_id, issue, due, amount, currency, paid)


def parse_payment_row(line: int, values: Mapping[str, str]) -> PaymentRow | list[FieldProblem]:
    """Validate one payments.csv row (a positive amount and a date)."""
    row = _Row(line, values)
    number = row.get("invoice_number", _identifier, "")
    amount = row.get("amount", parse_amount, None)
    paid_on = row.get("paid_on", parse_date, None)
    reference = row.get("reference", lambda raw: clean_text(raw, max_len=200), "")
    if amount is not None and amount <= 0:
        row.fail("amount", "must be more than zero")
    if row.problems or amount is None or paid_on is None:
        return row.problems
    return PaymentRow(number, amount, paid_on, reference)
