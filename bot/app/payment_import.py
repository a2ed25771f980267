"""Payment import: record payments from payments.csv (or pushed rows) and move the invoices they pay."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import transaction
from bot.adapters.db.models import Invoice, Payment, Promise
from bot.app.audit import audit
from bot.app.csvfile import CsvTable, read_csv
from bot.app.import_run import ACTOR, ImportResult, Progress, collect_rows, record_run
from bot.domain.errors import FieldProblem, InputError
from bot.domain.invoice import InvoiceEvent, InvoiceState, next_state
from bot.domain.ledger import PAYMENT_COLUMNS, PaymentRow, parse_payment_row


def import_payments(
    factory: sessionmaker[Session],
    source: Path | CsvTable,
    *,
    now: datetime,
    progress: Progress | None = None,
    actor: str = ACTOR,
) -> ImportResult:
    """Record payments from a CSV file (or rows already read); ``actor`` signs the audit."""
    table = source if isinstance(source, CsvTable) else read_csv(source, PAYMENT_COLUMNS)
    records, problems = collect_rows(
        table,
        parse_payment_row,
        lambda r: f"{r.invoice_number}|{r.amount}|{r.paid_on}|{r.reference}",
        "reference",
    )
    created = 0
    with transaction(factory) as session:
        numbers = {row.invoice_number for _line, row in records}
        invoices = {inv.number: inv for inv in _load_invoices(session, numbers)}
        existing = (
            {
                (p.invoice_number, p.amount, p.paid_on, p.reference)
                for p in session.scalars(select(Payment).where(Payment.invoice_number.in_(numbers)))
            }
            if len(numbers) < 30000
            else {(p.invoice_number, p.amount, p.paid_on, p.reference) for p in session.scalars(select(Payment))}
        )
        new_rows: list[tuple[int, PaymentRow]] = []
        for line, row in records:
            if row.invoice_number not in invoices:
                problems.append(
                    FieldProblem(line, "invoice_number", "unknown invoice; import invoices first", row.invoice_number)
                )
            elif (row.invoice_number, row.amount, row.paid_on, row.reference) not in existing:
                new_rows.append((line, row))
        balances = {n: inv.amount - inv.amount_paid for n, inv in invoices.items()}
        for line, row in new_rows:
            inv = invoices[row.invoice_number]
            if InvoiceState(inv.state) is InvoiceState.CANCELLED:
                problems.append(FieldProblem(line, "invoice_number", "invoice is cancelled", row.invoice_number))
            elif row.amount > balances[row.invoice_number]:
                problems.append(
                    FieldProblem(
                        line,
                        "amount",
                        f"more than the balance due ({balances[row.invoice_number]}); record overpayments by hand",
                        str(row.amount),
                    )
                )
            balances[row.invoice_number] -= row.amount
        if problems:
            problems.sort(key=lambda p: p.line)
            raise InputError(table.source, problems)
        for i, (_line, row) in enumerate(new_rows):
            _apply_payment(session, invoices[row.invoice_number], row, now, actor)
            created += 1
            if progress and i % 1000 == 0:
                progress(i)
        record_run(session, table, "payments", now, created, 0)
    return ImportResult("payments", len(records), created, 0, len(records) - created)


def _load_invoices(session: Session, numbers: set[str]) -> list[Invoice]:
    out: list[Invoice] = []
    ordered = sorted(numbers)
    for start in range(0, len(ordered), 900):  # stay under SQLite's bound-parameter limit
        out.extend(session.scalars(select(Invoice).where(Invoice.number.in_(ordered[start : start + 900]))))
    return out


def _apply_payment(session: Session, invoice: Invoice, row: PaymentRow, now: datetime, actor: str) -> None:
    session.add(
        Payment(
            invoice_number=invoice.number,
            amount=row.amount,
            paid_on=row.paid_on,
            reference=row.reference,
            recorded_at=now,
        )
    )
    record_payment(
        session,
        invoice,
        row.amount,
        now=now,
        actor=actor,
        reason=f"payment {row.reference or 'without reference'} of {row.paid_on.isoformat()}",
    )


def record_payment(
    session: Session, invoice: Invoice, amount: Decimal, *, now: datetime, actor: str, reason: str
) -> None:
    """Add a payment to an invoice's balance and move its state (paid in full, or partial)."""
    old_state = InvoiceState(invoice.state)
    old_paid = invoice.amount_paid
    invoice.amount_paid = old_paid + amount
    event = InvoiceEvent.PAYMENT_RECORDED if invoice.amount_paid >= invoice.amount else InvoiceEvent.PARTIAL_PAYMENT
    new_state = next_state(old_state, event, invoice.number)
    invoice.state = new_state.value
    if new_state is InvoiceState.PAID:
        invoice.paused_until = None
        for promise in session.scalars(
            select(Promise).where(Promise.invoice_number == invoice.number, Promise.status == "pending")
        ):
            # Still pending means the broken-promise check has not fired: the debtor kept their word.
            promise.status = "kept"
            promise.resolved_at = now
    invoice.updated_at = now
    audit(
        session,
        at=now,
        actor=actor,
        entity="invoice",
        entity_id=invoice.number,
        action=event.value,
        old={"state": old_state.value, "amount_paid": str(old_paid)},
        new={"state": new_state.value, "amount_paid": str(invoice.amount_paid)},
        reason=reason,
    )
