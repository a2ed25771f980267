"""The documented context every template renders with, and the one function that builds it.

Templates only ever see plain dicts, lists, strings, numbers (``Decimal``) and dates: no ORM object, no
dataclass with methods, nothing that leads back to Python internals from inside the sandbox. Callers (the
outbox, the inbox acknowledgements, ``relance templates preview``) pass plain values to ``build_context``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol

from bot.domain.penalties import LegalRates, OverdueAmount, Penalties, compute_penalties

#: Every top-level variable a template may use, with what it holds. ``relance templates lint`` rejects any
#: other name, and the web UI shows this table next to the editor.
CONTEXT_VARIABLES: dict[str, str] = {
    "client": "the debtor: {name, client_id}",
    "invoices": (
        "the invoices this message is about, oldest due date first; each {number, issue_date, due_date, "
        "amount, amount_paid, amount_due, currency, days_late} (days_late is 0 before the due date)"
    ),
    "invoice_count": "how many invoices the message covers (len(invoices))",
    "total_due": "sum of amount_due over invoices (Decimal, in `currency`)",
    "currency": "ISO 4217 code shared by every invoice of the message (e.g. EUR, GBP)",
    "max_days_late": "days late of the most overdue invoice (0 when none is due yet)",
    "company": "the creditor: {name, signature_name, signature_title, email, phone, iban, bic}",
    "step": "the dunning step or acknowledgement being sent (e.g. reminder_1, promise_ack)",
    "language": "the message language: fr or en",
    "today": "the date the message is written (date)",
    "jurisdiction": "which late-payment law applies: fr, eu, uk or none (public sector: no penalty wording)",
    "show_penalties": "true when the message may state late-payment interest and recovery indemnities",
    "penalties": (
        "null, or {jurisdiction, reference_rate, margin_points, interest_rate (annual, in points), "
        "interest_amount, currency, indemnity_per_invoice (null when it differs by invoice, UK), "
        "total_indemnity, indemnity_currency, lines: [{number, interest, indemnity}]}"
    ),
    "deadline": "the date by which payment is demanded (today + deadline_days)",
    "deadline_days": "number of days given to pay (e.g. 8 in a formal notice)",
    "promise_date": "the date the debtor promised to pay, or null",
    "promise_amount": "the amount promised (Decimal), or null when the whole balance was promised",
    "payment": "null, or the payment received or claimed: {date, amount, reference} (each may be null)",
    "handover_to": "who takes over after the final notice (agency or department name), or null",
    "attachment_names": "file names attached to the message (e.g. the invoice PDF); empty list when none",
}


@dataclass(frozen=True)
class InvoiceFacts:
    """One invoice as the caller knows it (from the database or a CSV)."""

    number: str
    issue_date: date
    due_date: date
    amount: Decimal
    amount_paid: Decimal
    currency: str


class InvoiceLike(Protocol):
    """What ``build_context`` reads of an invoice: an ``InvoiceFacts``, or any row with these attributes."""

    @property
    def number(self) -> str: ...
    @property
    def issue_date(self) -> date: ...
    @property
    def due_date(self) -> date: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def amount_paid(self) -> Decimal: ...
    @property
    def currency(self) -> str: ...


@dataclass(frozen=True)
class CompanyInfo:
    """The creditor, as it signs its messages."""

    name: str
    signature_name: str
    email: str
    signature_title: str = ""
    phone: str = ""
    iban: str = ""
    bic: str = ""


@dataclass(frozen=True)
class PaymentFacts:
    """A payment received (payment_thanks) or claimed by the debtor (payment_claim_ack)."""

    date: date | None = None
    amount: Decimal | None = None
    reference: str | None = None


def build_context(
    *,
    client_id: str,
    client_name: str,
    invoices: Sequence[InvoiceLike],
    company: CompanyInfo,
    language: str,
    step: str,
    today: date,
    jurisdiction: str = "fr",
    legal_rates: LegalRates | Mapping[str, object] | None = None,
    deadline_days: int = 8,
    promise_date: date | None = None,
    promise_amount: Decimal | None = None,
    payment: PaymentFacts | None = None,
    handover_to: str | None = None,
    attachment_names: Sequence[str] = (),
    with_penalties: bool = True,
) -> dict[str, object]:
    """Build the template context (plain dicts only) from plain values.

    ``invoices`` are ``InvoiceFacts`` or any rows with the same attributes (only read, never kept).
    ``legal_rates`` is the ``legal_rates`` mapping of ``profiles.yaml`` (or a ``LegalRates``); penalties
    are computed only when it is given and ``jurisdiction`` is not ``none``. Raises ``ValueError`` when the
    invoices do not share one currency (group them by currency first) and ``ConfigError`` when a needed
    rate is missing.

    ``with_penalties=False`` leaves ``penalties`` null without computing it (the jurisdiction and its rate
    are still checked, with the same errors): for a template that does not read it, which
    ``TemplateRenderer.variables`` tells.
    """
    currencies = {inv.currency for inv in invoices}
    if len(currencies) > 1:
        raise ValueError(f"invoices of one message must share a currency, got {sorted(currencies)}")
    currency = currencies.pop() if currencies else "EUR"
    ordered = sorted(invoices, key=_by_due_date) if len(invoices) > 1 else list(invoices)
    # Keyed by number as it always was: two invoices with one number both show the days of the later one.
    late = {inv.number: max(0, (today - inv.due_date).days) for inv in ordered}
    due = [inv.amount - inv.amount_paid for inv in ordered]
    rows: list[dict[str, object]] = [
        {
            "number": inv.number,
            "issue_date": inv.issue_date,
            "due_date": inv.due_date,
            "amount": inv.amount,
            "amount_paid": inv.amount_paid,
            "amount_due": amount_due,
            "currency": inv.currency,
            "days_late": late[inv.number],
        }
        for inv, amount_due in zip(ordered, due, strict=True)
    ]
    show_penalties = jurisdiction != "none"
    penalties: dict[str, object] | None = None
    if show_penalties and legal_rates is not None:
        rates = legal_rates if isinstance(legal_rates, LegalRates) else LegalRates.from_mapping(legal_rates)
        if with_penalties:
            overdue = [OverdueAmount(i.number, d, late[i.number]) for i, d in zip(ordered, due, strict=True)]
            penalties = _penalties(compute_penalties(overdue, jurisdiction, rates, currency))
        else:
            _check_rates(jurisdiction, rates, currency)
    return {
        "client": {"name": client_name, "client_id": client_id},
        "invoices": rows,
        "invoice_count": len(rows),
        "total_due": sum(due, Decimal(0)),
        "currency": currency,
        "max_days_late": max(late.values(), default=0),
        "company": _company(company),
        "step": step,
        "language": language,
        "today": today,
        "jurisdiction": jurisdiction,
        "show_penalties": show_penalties,
        "penalties": penalties,
        "deadline": today + timedelta(days=deadline_days),
        "deadline_days": deadline_days,
        "promise_date": promise_date,
        "promise_amount": promise_amount,
        "payment": None
        if payment is None
        else {"date": payment.date, "amount": payment.amount, "reference": payment.reference},
        "handover_to": handover_to,
        "attachment_names": list(attachment_names),
    }


def _by_due_date(inv: InvoiceLike) -> tuple[date, str]:
    return (inv.due_date, inv.number)


def _penalties(computed: Penalties | None) -> dict[str, object] | None:
    if computed is None:
        return None
    return {
        "jurisdiction": computed.jurisdiction.value,
        "reference_rate": computed.reference_rate,
        "margin_points": computed.margin_points,
        "interest_rate": computed.interest_rate,
        "interest_amount": computed.interest_amount,
        "currency": computed.interest_currency,
        "indemnity_per_invoice": computed.indemnity_per_invoice,
        "total_indemnity": computed.total_indemnity,
        "indemnity_currency": computed.indemnity_currency,
        "lines": [
            {"number": line.number, "interest": line.interest, "indemnity": line.indemnity} for line in computed.lines
        ],
    }


#: (jurisdiction, currency, id of a LegalRates) whose check passed -> that LegalRates (kept so the id stays
#: its own). A LegalRates is frozen, so the same object and jurisdiction always pass again; every message of
#: a run checks the same profile's rates.
_CHECKED: dict[tuple[str, str, int], LegalRates] = {}
_CHECKED_LOCK = threading.Lock()


def _check_rates(jurisdiction: str, rates: LegalRates, currency: str) -> None:
    """What computing penalties checks (a known jurisdiction, its rate present), with the same errors."""
    key = (jurisdiction, currency, id(rates))
    if _CHECKED.get(key) is rates:
        return
    compute_penalties([], jurisdiction, rates, currency)
    with _CHECKED_LOCK:
        if len(_CHECKED) >= 256:
            _CHECKED.clear()
        _CHECKED[key] = rates


def _company(company: CompanyInfo) -> dict[str, object]:
    return {
        "name": company.name,
        "signature_name": company.signature_name,
        "signature_title": company.signature_title,
        "email": company.email,
        "phone": company.phone,
        "iban": company.iban,
        "bic": company.bic,
    }


def sample_context(name: str, language: str, *, jurisdiction: str = "fr", invoice_count: int = 2) -> dict[str, object]:
    """A fixed, realistic context for lint, golden files and the editor's preview without a database."""
    invoices = [
        InvoiceFacts("F-2026-0412", date(2026, 9, 15), date(2026, 10, 15), Decimal("1234.56"), Decimal(0), "EUR"),
        InvoiceFacts("F-2026-0457", date(2026, 10, 2), date(2026, 11, 1), Decimal("2400.00"), Decimal("400.00"), "EUR"),
        InvoiceFacts("F-2026-0503", date(2026, 10, 20), date(2026, 11, 19), Decimal("86.40"), Decimal(0), "EUR"),
    ][:invoice_count]
    if jurisdiction == "uk":
        invoices = [
            InvoiceFacts(i.number.replace("F-", "INV-"), i.issue_date, i.due_date, i.amount, i.amount_paid, "GBP")
            for i in invoices
        ]
    return build_context(
        client_id="C-0042",
        client_name="Dupont & Fils SARL" if language == "fr" else "Hartley & Sons Ltd",
        invoices=invoices,
        company=CompanyInfo(
            name="Atelier Lumière SAS",
            signature_name="Claire Martin",
            signature_title="Responsable recouvrement" if language == "fr" else "Credit Controller",
            email="recouvrement@atelier-lumiere.example",
            phone="+33 1 23 45 67 89",
            iban="FR76 3000 6000 0112 3456 7890 189",
            bic="AGRIFRPP",
        ),
        language=language,
        step=name,
        today=date(2026, 12, 1),
        jurisdiction=jurisdiction,
        legal_rates={"ecb_refinancing_rate": "2.15", "boe_base_rate": "4.00"},
        deadline_days=8,
        promise_date=date(2026, 12, 18),
        promise_amount=None,
        payment=PaymentFacts(date(2026, 11, 28), Decimal("3234.56"), "VIR-88213"),
        handover_to=None,
        attachment_names=["F-2026-0412.pdf"],
    )
