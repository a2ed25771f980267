"""REST API ``/api/v1`` (bearer tokens): push invoices and payments; read client status, timeline, review.

Pushed rows go through the same validation and the same all-or-nothing import as the CSV files (they are
written to a temporary CSV and imported), so the API can never accept what ``relance import`` would refuse.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db.models import Client, Invoice
from bot.adapters.web.context import db, web
from bot.adapters.web.guard import require_user
from bot.adapters.web.queries import open_review_items, review_row, timeline
from bot.app.csvfile import CsvTable
from bot.app.import_run import ImportResult
from bot.app.invoice_import import import_invoices
from bot.app.payment_import import import_payments
from bot.domain.errors import FieldProblem, InputError
from bot.domain.ledger import INVOICE_COLUMNS, PAYMENT_COLUMNS, parse_invoice_row, parse_payment_row

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["api"])
Db = Annotated[Session, Depends(db)]
Value = str | int | float
MAX_ROWS = 10_000


class InvoiceIn(BaseModel):
    """One invoice, with the columns of invoices.csv (amounts as strings like "1234.50" are safest)."""

    model_config = ConfigDict(extra="forbid")
    invoice_number: str = Field(max_length=200)
    client_id: str = Field(max_length=200)
    issue_date: str = Field(max_length=40)
    due_date: str = Field(max_length=40)
    amount: Value
    currency: str = Field(max_length=10)
    amount_paid: Value = "0"


class PaymentIn(BaseModel):
    """One payment, with the columns of payments.csv."""

    model_config = ConfigDict(extra="forbid")
    invoice_number: str = Field(max_length=200)
    amount: Value
    paid_on: str = Field(max_length=40)
    reference: str = Field(default="", max_length=400)


class InvoicesIn(BaseModel):
    invoices: list[InvoiceIn] = Field(min_length=1, max_length=MAX_ROWS)


class PaymentsIn(BaseModel):
    payments: list[PaymentIn] = Field(min_length=1, max_length=MAX_ROWS)


def _rows(items: Sequence[BaseModel]) -> list[dict[str, str]]:
    return [{k: str(v) for k, v in item.model_dump().items()} for item in items]


def _problems_json(problems: list[FieldProblem], offset: int) -> list[dict[str, Any]]:
    return [
        {
            "index": p.line - offset if p.line >= offset else None,
            "field": p.field,
            "message": p.message,
            "value": p.value,
        }
        for p in problems
    ]


def _push(
    request: Request,
    kind: str,
    rows: list[dict[str, str]],
    columns: Sequence[str],
    parse: Callable[[int, Mapping[str, str]], object],
    run: Callable[..., ImportResult],
) -> JSONResponse:
    user = require_user(request)
    problems: list[FieldProblem] = []
    for i, values in enumerate(rows):
        for field, value in values.items():
            # A line break inside a value would let one JSON field become several CSV rows or mail headers.
            if "\n" in value or "\r" in value:
                problems.append(FieldProblem(i, field, "line breaks are not allowed", value[:80]))
        found = parse(i, values)
        if isinstance(found, list):
            problems.extend(found)
    if problems:
        return JSONResponse(
            {"detail": "nothing was changed", "problems": _problems_json(problems, 0)}, status_code=422
        )
    ctx = web(request)
    # The rows go through exactly the import code of the CSV files, read from memory: same validation, same
    # all-or-nothing rule, and the audit log and import history name the API user instead of "import".
    actor = f"api:{user.username}"
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
    # Line 2 of a CSV file is its first row: item 0 of the request is numbered 2, as the error mapping expects.
    table = CsvTable(actor, digest, tuple(columns), [(i + 2, dict(values)) for i, values in enumerate(rows)])
    try:
        result = run(ctx.sessions, table, now=ctx.clock.now(), actor=actor)
    except InputError as exc:
        return JSONResponse(
            {"detail": "nothing was changed", "problems": _problems_json(exc.problems, 2)},
            status_code=422,
        )
    log.info("API %s push by %s: %s", kind, user.username, result.summary())
    return JSONResponse(
        {
            "rows": result.rows,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
        }
    )


@router.post("/invoices")
def push_invoices(request: Request, body: InvoicesIn) -> JSONResponse:
    """Create or update invoices (same rules as ``relance import invoices``; all or nothing)."""
    return _push(
        request, "invoices", _rows(body.invoices), INVOICE_COLUMNS, parse_invoice_row, import_invoices
    )


@router.post("/payments")
def push_payments(request: Request, body: PaymentsIn) -> JSONResponse:
    """Record payments (same rules as ``relance import payments``; all or nothing)."""
    return _push(
        request, "payments", _rows(body.payments), PAYMENT_COLUMNS, parse_payment_row, import_payments
    )


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


@router.get("/clients/{client_id}")
def client_status(client_id: str, session: Db) -> dict[str, Any]:
    """A client's contacts, invoices (state, balance, promise, pause) and outstanding totals per currency."""
    client = session.get(Client, client_id)
    if client is None:
        raise HTTPException(404, "no such client")
    invoices = list(
        session.scalars(select(Invoice).where(Invoice.client_id == client_id).order_by(Invoice.due_date))
    )
    totals: dict[str, str] = {}
    for inv in invoices:
        if inv.state not in ("paid", "cancelled"):
            totals[inv.currency] = str(
                sum(
                    (
                        i.balance
                        for i in invoices
                        if i.currency == inv.currency and i.state not in ("paid", "cancelled")
                    ),
                    start=inv.balance * 0,
                )
            )
    return {
        "client_id": client.client_id,
        "name": client.name,
        "language": client.language,
        "profile": client.profile,
        "excluded": client.excluded,
        "paused_until": _iso(client.paused_until),
        "contacts": [{"email": c.email, "status": c.status} for c in client.contacts],
        "outstanding": totals,
        "invoices": [
            {
                "number": i.number,
                "state": i.state,
                "issue_date": _iso(i.issue_date),
                "due_date": _iso(i.due_date),
                "amount": str(i.amount),
                "amount_paid": str(i.amount_paid),
                "balance": str(i.balance),
                "currency": i.currency,
                "promise_date": _iso(i.promise_date),
                "paused_until": _iso(i.paused_until),
                "last_step": i.last_step,
            }
            for i in invoices
        ],
    }


@router.get("/clients/{client_id}/timeline")
def client_timeline(client_id: str, session: Db, limit: int = 200) -> dict[str, Any]:
    """Reminders, replies, state changes and payments, newest first."""
    if session.get(Client, client_id) is None:
        raise HTTPException(404, "no such client")
    events = timeline(session, client_id, limit=max(1, min(limit, 1000)))
    return {
        "client_id": client_id,
        "events": [
            {"at": e.at.isoformat(), "kind": e.kind, "title": e.title, "detail": e.detail} for e in events
        ],
    }


@router.get("/review-items")
def review_items(session: Db, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """Open review items with the reply text, intent, confidence, evidence and matched client and invoices."""
    items, total = open_review_items(session, limit=max(1, min(limit, 200)), offset=max(0, offset))
    out = []
    for item in items:
        row = review_row(session, item)
        out.append(
            {
                "id": item.id,
                "kind": item.kind,
                "created_at": item.created_at.isoformat(),
                "reason": item.reason,
                "intent": item.intent,
                "confidence": item.confidence,
                "amount": str(item.amount) if item.amount is not None else None,
                "client_id": item.client_id,
                "invoice_numbers": list(item.invoice_numbers),
                "sender": row.inbound.sender if row.inbound else None,
                "subject": row.inbound.subject if row.inbound else None,
                "reply_text": row.reply_text,
                "evidence": row.evidence,
            }
        )
    return {"total": total, "items": out}
