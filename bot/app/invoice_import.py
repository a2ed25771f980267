"""Invoice import: upsert invoices from invoices.csv (or rows pushed through the API), all-or-nothing, audited.

New invoices and their "created" audit entries are written with Core-level multi-row INSERTs; changed ones
are updated one by one, moving their state when the ledger says they are paid (or due again).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import transaction
from bot.adapters.db.models import AuditEntry, Client, Invoice
from bot.app.audit import jsonable
from bot.app.bulk_insert import insert_rows
from bot.app.csvfile import CsvTable, read_csv
from bot.app.import_run import ACTOR, ImportResult, Progress, collect_rows, record_run
from bot.app.invoice_rows import parse_invoice_row_fast
from bot.domain.errors import FieldProblem, InputError
from bot.domain.invoice import InvoiceEvent, InvoiceState, can_take, next_state
from bot.domain.ledger import INVOICE_COLUMNS, InvoiceRow
from bot.domain.matching import normalise_invoice_number

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
    records, problems = collect_rows(table, parse_invoice_row_fast, lambda r: r.number, "invoice_number")
    with transaction(factory) as session:
        known_clients = set(session.scalars(select(Client.client_id)))
        for line, row in records:
            if row.client_id not in known_clients:
                problems.append(FieldProblem(line, "client_id", "unknown client; import clients first", row.client_id))
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
        record_run(session, table, "invoices", now, len(to_create), updated)
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
