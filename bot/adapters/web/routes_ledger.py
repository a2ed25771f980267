"""Clients, invoices and the weekly priority list; pausing, resuming and excluding."""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.adapters.db.models import Client, Invoice, Promise, Task
from bot.adapters.web.context import db, web
from bot.adapters.web.forms import optional_date
from bot.adapters.web.guard import require_user
from bot.adapters.web.pages import flash, redirect, render
from bot.adapters.web.queries import broken_promises_by_client, currencies, invoice_facts, timeline
from bot.app.audit import audit
from bot.domain.errors import IllegalTransition
from bot.domain.invoice import InvoiceEvent, InvoiceState, next_state
from bot.domain.kpi import priority_ranking

log = logging.getLogger(__name__)
router = APIRouter()
Db = Annotated[Session, Depends(db)]
Reason = Annotated[str, Form(max_length=1000)]


@router.get("/clients")
def clients_page(request: Request, session: Db, q: str = "") -> Response:
    query = select(Client).order_by(Client.name).limit(200)
    if q.strip():
        like = f"%{q.strip()[:100]}%"
        query = query.where(or_(Client.name.ilike(like), Client.client_id.ilike(like)))
    clients = list(session.scalars(query))
    ids = [c.client_id for c in clients]
    balances: dict[str, list[tuple[str, object]]] = {}
    if ids:
        for cid, cur, total in session.execute(
            select(Invoice.client_id, Invoice.currency, func.sum(Invoice.amount - Invoice.amount_paid))
            .where(Invoice.client_id.in_(ids), Invoice.state.not_in(["paid", "cancelled"]))
            .group_by(Invoice.client_id, Invoice.currency)
        ):
            balances.setdefault(cid, []).append((cur, total))
    return render(request, "clients.html", {"clients": clients, "q": q, "balances": balances})


@router.get("/priorities")
def priorities_page(request: Request, session: Db) -> Response:
    today = web(request).clock.now().date()
    broken = broken_promises_by_client(session)
    lists = []
    for currency in currencies(session):
        ranked = priority_ranking(invoice_facts(session, currency), today, broken, limit=25)
        names = (
            {
                c.client_id: c
                for c in session.scalars(
                    select(Client).where(Client.client_id.in_([p.client_id for p in ranked]))
                )
            }
            if ranked
            else {}
        )
        lists.append({"currency": currency, "rows": ranked, "clients": names})
    return render(request, "priorities.html", {"lists": lists, "today": today})


def _client(session: Session, client_id: str) -> Client:
    client = session.get(Client, client_id)
    if client is None:
        raise HTTPException(404, "no such client")
    return client


@router.get("/clients/{client_id}")
def client_page(request: Request, client_id: str, session: Db) -> Response:
    client = _client(session, client_id)
    invoices = list(
        session.scalars(
            select(Invoice).where(Invoice.client_id == client_id).order_by(Invoice.due_date.desc())
        )
    )
    promises = list(
        session.scalars(
            select(Promise).where(Promise.client_id == client_id).order_by(Promise.id.desc()).limit(20)
        )
    )
    tasks = list(session.scalars(select(Task).where(Task.client_id == client_id, Task.status == "open")))
    return render(
        request,
        "client.html",
        {
            "client": client,
            "invoices": invoices,
            "promises": promises,
            "tasks": tasks,
            "events": timeline(session, client_id),
            "today": web(request).clock.now().date(),
        },
    )


def _client_change(
    request: Request, session: Session, client: Client, action: str, reason: str, **changes: object
) -> None:
    user = require_user(request)
    old = {k: _plain(getattr(client, k)) for k in changes}
    for key, value in changes.items():
        setattr(client, key, value)
    now = web(request).clock.now()
    client.updated_at = now
    audit(
        session,
        at=now,
        actor=f"user:{user.username}",
        entity="client",
        entity_id=client.client_id,
        action=action,
        old=old,
        new={k: _plain(v) for k, v in changes.items()},
        reason=reason.strip() or f"{action} from the web UI",
    )
    session.commit()


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


@router.post("/clients/{client_id}/pause")
def pause_client(
    request: Request,
    client_id: str,
    session: Db,
    until: Annotated[str, Form(max_length=20)],
    reason: Reason = "",
) -> Response:
    client = _client(session, client_id)
    day = optional_date(until, "until")
    if day is None:
        raise HTTPException(422, "pause until which date? (use Exclude to stop for good)")
    _client_change(request, session, client, "paused", reason, paused_until=day)
    flash(request, "ok", f"{client.name}: reminders paused until {day.isoformat()}")
    return redirect(f"/clients/{client_id}")


@router.post("/clients/{client_id}/resume")
def resume_client(request: Request, client_id: str, session: Db, reason: Reason = "") -> Response:
    client = _client(session, client_id)
    _client_change(request, session, client, "resumed", reason, paused_until=None, excluded=False)
    flash(request, "ok", f"{client.name}: reminders resumed")
    return redirect(f"/clients/{client_id}")


@router.post("/clients/{client_id}/exclude")
def exclude_client(request: Request, client_id: str, session: Db, reason: Reason = "") -> Response:
    client = _client(session, client_id)
    _client_change(request, session, client, "excluded", reason, excluded=True)
    flash(request, "ok", f"{client.name}: excluded from reminders until resumed")
    return redirect(f"/clients/{client_id}")


def _invoice(session: Session, number: str) -> Invoice:
    invoice = session.get(Invoice, number)
    if invoice is None:
        raise HTTPException(404, "no such invoice")
    return invoice


@router.get("/invoices/{invoice_number}")
def invoice_page(request: Request, invoice_number: str, session: Db) -> Response:
    invoice = _invoice(session, invoice_number)
    client = session.get(Client, invoice.client_id)
    promises = list(
        session.scalars(
            select(Promise).where(Promise.invoice_number == invoice_number).order_by(Promise.id.desc())
        )
    )
    return render(
        request,
        "invoice.html",
        {
            "invoice": invoice,
            "client": client,
            "promises": promises,
            "events": timeline(session, invoice.client_id, invoice_number=invoice_number),
            "today": web(request).clock.now().date(),
        },
    )


def _move(
    request: Request,
    session: Session,
    invoice: Invoice,
    event: InvoiceEvent,
    reason: str,
    paused_until: date | None,
) -> Response:
    user = require_user(request)
    state = InvoiceState(invoice.state)
    try:
        new = next_state(state, event, invoice.number)
    except IllegalTransition as exc:
        flash(request, "error", str(exc))
        return redirect(f"/invoices/{invoice.number}")
    now = web(request).clock.now()
    old = {"state": state.value, "paused_until": _plain(invoice.paused_until)}
    invoice.state, invoice.paused_until, invoice.updated_at = new.value, paused_until, now
    audit(
        session,
        at=now,
        actor=f"user:{user.username}",
        entity="invoice",
        entity_id=invoice.number,
        action=event.value,
        old=old,
        new={"state": new.value, "paused_until": _plain(paused_until)},
        reason=reason.strip() or f"{event.value} from the web UI",
    )
    session.commit()
    flash(request, "ok", f"{invoice.number}: {state.value} → {new.value}")
    return redirect(f"/invoices/{invoice.number}")


@router.post("/invoices/{invoice_number}/pause")
def pause_invoice(
    request: Request,
    invoice_number: str,
    session: Db,
    until: Annotated[str, Form(max_length=20)] = "",
    reason: Reason = "",
) -> Response:
    """Put on hold; with no date it stays on hold until resumed (this is how an invoice is excluded)."""
    invoice = _invoice(session, invoice_number)
    return _move(request, session, invoice, InvoiceEvent.PAUSE, reason, optional_date(until, "until"))


@router.post("/invoices/{invoice_number}/resume")
def resume_invoice(request: Request, invoice_number: str, session: Db, reason: Reason = "") -> Response:
    invoice = _invoice(session, invoice_number)
    return _move(request, session, invoice, InvoiceEvent.RESUME, reason, None)
