"""Ledger imports: clients, invoices and payments from CSV, all-or-nothing.

Every row is validated and every problem collected before anything is written; then the whole file is
applied in one transaction. Re-importing the same file changes nothing (upserts compare values first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import transaction
from bot.adapters.db.models import AuditEntry, Client, Contact, ImportRun, Invoice, Payment, Promise
from bot.app.audit import audit, jsonable
from bot.app.bulk_insert import insert_rows
from bot.app.csvfile import CsvTable, read_csv
from bot.app.invoice_rows import parse_invoice_row_fast
from bot.domain.errors import FieldProblem, InputError
from bot.domain.invoice import InvoiceEvent, InvoiceState, can_take, next_state
from bot.domain.ledger import (
    CLIENT_COLUMNS,
    INVOICE_COLUMNS,
    PAYMENT_COLUMNS,
    ClientRow,
    InvoiceRow,
    PaymentRow,
    parse_client_row,
    parse_payment_row,
)
from bot.domain.matching import normalise_invoice_number

Progress = Callable[[int], None]
ACTOR = "import"


@dataclass(frozen=True)
class ImportResult:
    kind: str
    rows: int
    created: int
    updated: int
    unchanged: int

    def summary(self) -> str:
        return (
            f"{self.kind}: {self.rows} rows — {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged"
        )


def _collect(
    table: CsvTable, parse: Callable[[int, dict[str, str]], Any], key: Callable[[Any], str], key_field: str
) -> tuple[list[tuple[int, Any]], list[FieldProblem]]:
    records: list[tuple[int, Any]] = []
    problems: list[FieldProblem] = []
    seen: dict[str, int] = {}
    for line, values in table.rows:
        result = parse(line, values)
        if isinstance(result, list):
            problems.extend(result)
            continue
        k = key(result)
        if k in seen:
            problems.append(FieldProblem(line, key_field, f"duplicate of line {seen[k]}", k))
            continue
        seen[k] = line
        records.append((line, result))
    return records, problems


def _record_run(
    session: Session, table: CsvTable, kind: str, now: datetime, created: int, updated: int
) -> None:
    session.add(
        ImportRun(
            kind=kind,
            source=table.source,
            sha256=table.sha256,
            rows=len(table.rows),
            created=created,
            updated=updated,
            imported_at=now,
        )
    )


# ---------------------------------------------------------------- clients


def import_clients(
    factory: sessionmaker[Session],
    path: Path,
    *,
    now: datetime,
    profiles: set[str],
    progress: Progress | None = None,
) -> ImportResult:
    table = read_csv(path, CLIENT_COLUMNS)
    records, problems = _collect(
        table, lambda line, v: parse_client_row(line, v, profiles), lambda r: r.client_id, "client_id"
    )
    if problems:
        raise InputError(table.source, problems)
    created = updated = 0
    with transaction(factory) as session:
        existing = {c.client_id: c for c in session.scalars(select(Client))}
        for i, (_line, row) in enumerate(records):
            client = existing.get(row.client_id)
            if client is None:
                _create_client(session, row, now)
                created += 1
            elif _update_client(session, client, row, now):
                updated += 1
            if progress and i % 500 == 0:
                progress(i)
        _record_run(session, table, "clients", now, created, updated)
    return ImportResult("clients", len(records), created, updated, len(records) - created - updated)


def _create_client(session: Session, row: ClientRow, now: datetime) -> None:
    client = Client(
        client_id=row.client_id,
        name=row.name,
        language=row.language,
        profile=row.profile,
        created_at=now,
        updated_at=now,
    )
    client.contacts = [
        Contact(email=e, position=i, status="active", updated_at=now) for i, e in enumerate(row.emails)
    ]
    session.add(client)
    audit(
        session,
        at=now,
        actor=ACTOR,
        entity="client",
        entity_id=row.client_id,
        action="created",
        new={"name": row.name, "emails": list(row.emails), "language": row.language, "profile": row.profile},
        reason="client imported",
    )


def _update_client(session: Session, client: Client, row: ClientRow, now: datetime) -> bool:
    old = {
        "name": client.name,
        "language": client.language,
        "profile": client.profile,
        "emails": [c.email for c in client.contacts],
    }
    new = {"name": row.name, "language": row.language, "profile": row.profile, "emails": list(row.emails)}
    if old == new:
        return False
    client.name, client.language, client.profile = row.name, row.language, row.profile
    by_email = {c.email: c for c in client.contacts}
    contacts = []
    for i, email in enumerate(row.emails):
        contact = by_email.pop(email, None) or Contact(email=email, status="active", updated_at=now)
        contact.position = i
        contacts.append(contact)
    client.contacts = contacts  # contacts no longer listed are removed (delete-orphan); the audit keeps them
    client.updated_at = now
    audit(
        session,
        at=now,
        actor=ACTOR,
        entity="client",
        entity_id=client.client_id,
        action="updated",
        old=old,
        new=new,
        reason="client row changed in import",
    )
    return True


# ---------------------------------------------------------------- invoices

_INVOICES = cast("Table", Invoice.__table__)
_AUDIT_LOG = cast("Table", AuditEntry.__table__)
_INVOICE_FIELDS = ("client_id", "issue_date", "due_date", "amount", "currency", "amount_paid")


def import_invoices(
    factory: sessionmaker[Session],
    source: Path | CsvTable,
    *,
    now: datetime,
    progress: Progress | None = None,
    actor: str = ACTOR,
) -> ImportResult:
    """Upsert invoices from a CSV file (or rows already read, e.g. an API push); ``actor`` signs the audit."""
    table = source if isinstance(source, CsvTable) else read_csv(source, INVOICE_COLUMNS)
    records, problems = _collect(table, parse_invoice_row_fast, lambda r: r.number, "invoice_number")
    with transaction(factory) as session:
        known_clients = set(session.scalars(select(Client.client_id)))
        for line, row in records:
            if row.client_id not in known_clients:
                problems.append(
                    FieldProblem(line, "client_id", "unknown client; import clients first", row.client_id)
                )
        if problems:
            problems.sort(key=lambda p: p.line)
            raise InputError(table.source, problems)
        existing = {
            r.number: r
            for r in session.execute(
                select(
                    Invoice.number,
                    Invoice.client_id,
                    Invoice.issue_date,
                    Invoice.due_date,
                    Invoice.amount,
                    Invoice.currency,
                    Invoice.amount_paid,
                    Invoice.state,
                )
            )
        }
        to_create: list[dict[str, Any]] = []
        audits: list[dict[str, Any]] = []
        updated = 0
        paid_state, open_state = InvoiceState.PAID.value, InvoiceState.OPEN.value
        for i, (line, row) in enumerate(records):
            current = existing.get(row.number) if existing else None
            if current is None:
                normalised = normalise_invoice_number(row.number)
                to_create.append(
                    {
                        "number": row.number,
                        "normalised_number": normalised,
                        "client_id": row.client_id,
                        "issue_date": row.issue_date,
                        "due_date": row.due_date,
                        "amount": row.amount,
                        "currency": row.currency,
                        "amount_paid": row.amount_paid,
                        "state": paid_state if row.amount_paid >= row.amount else open_state,
                    }
                )
                audits.append(_created_audit_row(row, normalised))
            else:
                changed = {
                    f: (getattr(current, f), getattr(row, f))
                    for f in _INVOICE_FIELDS
                    if getattr(current, f) != getattr(row, f)
                }
                if changed:
                    updated += 1
                    _update_invoice(session, row, current.state, changed, now, line, problems, actor)
            if progress and i % 2000 == 0:
                progress(i)
        if problems:
            raise InputError(table.source, problems)
        # Core-level executemany on the session's connection (see bulk_insert): the ORM's bulk path and
        # per-value type processing of identical values were most of the import's write time.
        session.flush()  # the "updated" entries first, as the ORM's own insert path would order them
        conn = session.connection()
        insert_rows(conn, _INVOICES, to_create, {"cycle": 0, "created_at": now, "updated_at": now})
        insert_rows(conn, _AUDIT_LOG, audits, _created_audit_shared(now, actor))
        _record_run(session, table, "invoices", now, len(to_create), updated)
    if progress:
        progress(len(records))
    created = len(to_create)
    return ImportResult("invoices", len(records), created, updated, len(records) - created - updated)


def _created_audit_row(row: InvoiceRow, normalised: str) -> dict[str, Any]:
    """The per-row part of a "created" audit entry (the invoice as created, JSON-ready)."""
    return {
        "entity_id": row.number,
        "new": {
            "number": row.number,
            "normalised_number": normalised,
            "client_id": row.client_id,
            "issue_date": row.issue_date.isoformat(),
            "due_date": row.due_date.isoformat(),
            "amount": str(row.amount),
            "currency": row.currency,
            "amount_paid": str(row.amount_paid),
        },
    }


def _created_audit_shared(now: datetime, actor: str) -> dict[str, Any]:
    shared = _audit_row(now, "", "created", None, None, "invoice imported", actor)
    del shared["entity_id"], shared["new"]
    return shared


def _audit_row(
    now: datetime,
    number: str,
    action: str,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    reason: str,
    actor: str,
) -> dict[str, Any]:
    return {
        "at": now,
        "actor": actor,
        "entity": "invoice",
        "entity_id": number,
        "action": action,
        "old": old,
        "new": new,
        "reason": reason,
        "evidence": None,
    }


def _update_invoice(
    session: Session,
    row: InvoiceRow,
    state_value: str,
    changed: dict[str, tuple[Any, Any]],
    now: datetime,
    line: int,
    problems: list[FieldProblem],
    actor: str,
) -> None:
    state = InvoiceState(state_value)
    values: dict[str, Any] = {f: new for f, (_old, new) in changed.items()} | {"updated_at": now}
    if "amount_paid" in changed or "amount" in changed:
        if row.amount_paid >= row.amount and state is not InvoiceState.PAID:
            if not can_take(state, InvoiceEvent.PAYMENT_RECORDED):
                problems.append(
                    FieldProblem(
                        line,
                        "amount_paid",
                        f"invoice is {state.value}; cannot mark it paid",
                        str(row.amount_paid),
                    )
                )
                return
            values["state"] = next_state(state, InvoiceEvent.PAYMENT_RECORDED, row.number).value
        elif row.amount_paid < row.amount and state is InvoiceState.PAID:
            values["state"] = InvoiceState.OPEN.value  # the ledger says money is due again (reversed payment)
    session.execute(update(Invoice).where(Invoice.number == row.number).values(**values))
    session.add(
        AuditEntry(
            **_audit_row(
                now,
                row.number,
                "updated",
                {f: jsonable(o) for f, (o, _n) in changed.items()} | {"state": state.value},
                {f: jsonable(n) for f, (_o, n) in changed.items()} | {"state": values.get("state", state.value)},
                "invoice row changed in import",
                actor,
            )
        )
    )


# ---------------------------------------------------------------- payments


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
    records, problems = _collect(
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
        _record_run(session, table, "payments", now, created, 0)
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
