"""Call and letter tasks: who to call, their numbers and history, and what came of the call."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db.models import Client, Invoice, Task
from bot.adapters.web.context import apply_as_user, db, web
from bot.adapters.web.forms import optional_amount, optional_date
from bot.adapters.web.guard import require_user
from bot.adapters.web.pages import flash, redirect, render
from bot.adapters.web.queries import timeline
from bot.adapters.web.template_store import make_renderer
from bot.app.audit import audit
from bot.domain.errors import RelanceError
from bot.domain.intent import Intent

log = logging.getLogger(__name__)
router = APIRouter()
Db = Annotated[Session, Depends(db)]
OUTCOMES = ("reached", "voicemail", "promise", "dispute", "wrong_number")


@router.get("/tasks")
def tasks_page(request: Request, session: Db) -> Response:
    tasks = list(
        session.scalars(select(Task).where(Task.status == "open").order_by(Task.due_on, Task.id).limit(200))
    )
    rows = []
    for task in tasks:
        client = session.get(Client, task.client_id)
        invoices = [inv for n in task.invoice_numbers if (inv := session.get(Invoice, n)) is not None]
        rows.append(
            {
                "task": task,
                "client": client,
                "invoices": invoices,
                "history": timeline(session, task.client_id, limit=5),
            }
        )
    return render(
        request, "tasks.html", {"rows": rows, "outcomes": OUTCOMES, "today": web(request).clock.now().date()}
    )


@router.post("/tasks/{task_id}/outcome")
def log_outcome(
    request: Request,
    task_id: int,
    session: Db,
    outcome: Annotated[str, Form(max_length=20)],
    notes: Annotated[str, Form(max_length=4000)] = "",
    promised_date: Annotated[str, Form(max_length=20)] = "",
    amount: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    ctx = web(request)
    user = require_user(request)
    task = session.get(Task, task_id)
    if task is None:
        raise HTTPException(404, "no such task")
    if task.status != "open":
        raise HTTPException(409, "this task is already done")
    if outcome not in OUTCOMES:
        raise HTTPException(422, f"unknown outcome {outcome[:20]!r}")
    now = ctx.clock.now()
    actor = f"user:{user.username}"
    effects: list[str] = []
    note = notes.strip()
    try:
        if outcome == "promise":
            promised = optional_date(promised_date, "promised date")
            if promised is None:
                raise HTTPException(422, "a promise needs the promised date")
            effects = _decide(
                request,
                session,
                task,
                Intent.PROMISE_TO_PAY,
                promised=promised,
                amount=optional_amount(amount, "amount"),
                reason=f"promise by phone: {note}",
            )
            effects += _confirm_in_writing(
                request, session, task, promised, optional_amount(amount, "amount")
            )
        elif outcome == "dispute":
            effects = _decide(
                request,
                session,
                task,
                Intent.DISPUTE,
                promised=None,
                amount=None,
                reason=f"dispute raised by phone: {note}",
            )
        elif outcome == "wrong_number":
            client = session.get(Client, task.client_id)
            if client is not None and client.phone:
                audit(
                    session,
                    at=now,
                    actor=actor,
                    entity="client",
                    entity_id=client.client_id,
                    action="phone_wrong",
                    old={"phone": client.phone},
                    new={"phone": None},
                    reason=f"wrong number reported on call task {task.id}",
                )
                client.phone = None
                effects.append("phone number removed (kept in the audit log)")
    except RelanceError as exc:
        session.rollback()
        flash(request, "error", f"Nothing was changed: {exc}")
        return redirect("/tasks")
    if outcome == "voicemail":
        # No one reached: keep the task and try again on the next day.
        task.due_on = (
            task.due_on + timedelta(days=1) if task.due_on > now.date() else now.date() + timedelta(days=1)
        )
        task.notes = "\n".join(
            filter(None, [task.notes, f"{now.date().isoformat()} voicemail {note}".strip()])
        )
        effects.append(f"call again on {task.due_on.isoformat()}")
    else:
        task.status, task.outcome, task.done_by, task.done_at = "done", outcome, user.username, now
        task.notes = "\n".join(filter(None, [task.notes, note]))
    audit(
        session,
        at=now,
        actor=actor,
        entity="task",
        entity_id=str(task.id),
        action=f"outcome_{outcome}",
        new={"outcome": outcome, "effects": effects},
        reason=note or f"call outcome: {outcome}",
    )
    session.commit()
    flash(request, "ok", f"Task {task.id}: {outcome}" + (f" — {'; '.join(effects)}" if effects else ""))
    return redirect("/tasks")


def _decide(
    request: Request,
    session: Session,
    task: Task,
    intent: Intent,
    *,
    promised: date | None,
    amount: Decimal | None,
    reason: str,
) -> list[str]:
    return apply_as_user(
        request,
        session,
        intent,
        client_id=task.client_id,
        numbers=list(task.invoice_numbers),
        promised=promised,
        paid=None,
        amount=amount,
        reason=reason.rstrip(": "),
        inbound_id=None,
    )


def _confirm_in_writing(
    request: Request, session: Session, task: Task, promised: object, amount: object
) -> list[str]:
    """Arrangements agreed by phone are confirmed in writing: queue promise_ack to the client's contacts."""
    from bot.app.compose import Composer
    from bot.app.profiles import profile_for

    ctx = web(request)
    client = session.get(Client, task.client_id)
    invoices = [inv for n in task.invoice_numbers if (inv := session.get(Invoice, n)) is not None]
    recipients = [c.email for c in client.contacts if c.status == "active"] if client else []
    if client is None or not invoices or not recipients:
        return ["no written confirmation: no active e-mail contact"]
    now = ctx.clock.now()
    profile = profile_for(client.profile, ctx.settings, session)
    composer = Composer(ctx.settings, make_renderer(ctx.templates_root, ctx.sessions), profile.legal_rates)
    row = composer.enqueue(
        session,
        key=f"call-promise:{task.id}",
        kind="ack",
        template="promise_ack",
        client=client,
        invoices=invoices,
        recipients=recipients[:1],
        now=now,
        today=profile.local_date(now),
        jurisdiction=profile.jurisdiction,
        promise_date=promised,
        promise_amount=amount,
    )
    return [f"written confirmation queued to {recipients[0]}"] if row is not None else []
