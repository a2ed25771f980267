"""The review queue: flagged replies with their evidence, and the collector's decisions on them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db.models import Invoice, ReviewItem
from bot.adapters.web.context import WebContext, apply_as_user, db, web
from bot.adapters.web.forms import intent_of, invoice_numbers, optional_amount, optional_date
from bot.adapters.web.guard import require_user
from bot.adapters.web.highlight import highlight
from bot.adapters.web.pages import flash, redirect, render
from bot.adapters.web.queries import latest_classification, open_review_items, review_row
from bot.adapters.web.template_store import make_renderer
from bot.domain.errors import RelanceError
from bot.domain.intent import HUMAN_INTENTS, Intent

log = logging.getLogger(__name__)
router = APIRouter()

PAGE_SIZE = 30
Db = Annotated[Session, Depends(db)]
OptStr = Annotated[str, Form(max_length=2000)]


@router.get("/review")
def review_page(request: Request, session: Db, page: int = 1) -> Response:
    page = max(1, page)
    items, total = open_review_items(session, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    rows = [review_row(session, item) for item in items]
    for row in rows:
        row.reply_html = highlight(row.reply_text, row.phrases)
    return render(
        request,
        "review.html",
        {
            "rows": rows,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "intents": [i.value for i in Intent],
            "human_intents": {i.value for i in HUMAN_INTENTS},
            "reply_templates": _reply_templates(web(request)),
        },
    )


def _reply_templates(ctx: WebContext) -> list[str]:
    try:
        return [n for n in make_renderer(ctx.templates_root, ctx.sessions).names()]
    except OSError:
        return []


def _open_item(session: Session, item_id: int) -> ReviewItem:
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise HTTPException(404, "no such review item")
    if item.status != "open":
        raise HTTPException(409, "this item was already dealt with (by you or a colleague)")
    return item


def _apply(
    request: Request,
    session: Session,
    item: ReviewItem,
    intent: Intent,
    *,
    numbers: list[str],
    promised: date | None,
    paid: date | None,
    amount: Decimal | None,
    reason: str,
) -> list[str]:
    """Carry out the intent's action through the same code the inbox uses."""
    return apply_as_user(
        request,
        session,
        intent,
        client_id=item.client_id,
        numbers=numbers,
        promised=promised,
        paid=paid,
        amount=amount,
        reason=reason,
        inbound_id=item.inbound_id,
    )


def _close(request: Request, item: ReviewItem, resolution: dict[str, Any]) -> None:
    user = require_user(request)
    item.status = "done"
    item.resolution = resolution
    item.resolved_by = user.username
    item.resolved_at = web(request).clock.now()


def _decide(
    request: Request,
    session: Session,
    item: ReviewItem,
    intent: Intent,
    numbers: list[str],
    promised: date | None,
    paid: date | None,
    amount: Decimal | None,
    note: str,
) -> Response:
    corrected = item.intent is None or intent.value != item.intent
    reason = (
        f"reviewer corrected {item.intent or 'nothing'} to {intent.value}"
        if corrected
        else f"reviewer confirmed {intent.value}"
    )
    if note:
        reason += f": {note}"
    try:
        effects = _apply(
            request,
            session,
            item,
            intent,
            numbers=numbers,
            promised=promised,
            paid=paid,
            amount=amount,
            reason=reason,
        )
    except RelanceError as exc:
        session.rollback()
        flash(request, "error", f"Nothing was changed: {exc}")
        return redirect(f"/review#item-{item.id}")
    if corrected:
        item.corrected_intent = intent.value
    item.invoice_numbers = numbers
    _close(
        request,
        item,
        {
            "action": "corrected" if corrected else "confirmed",
            "intent": intent.value,
            "invoice_numbers": numbers,
            "promised_date": promised.isoformat() if promised else None,
            "paid_date": paid.isoformat() if paid else None,
            "amount": str(amount) if amount is not None else None,
            "note": note,
            "effects": effects,
        },
    )
    session.commit()
    flash(request, "ok", f"Item {item.id}: {intent.value} — " + ("; ".join(effects) or "no change needed"))
    return redirect("/review")


@router.post("/review/{item_id}/confirm")
def confirm(request: Request, item_id: int, session: Db) -> Response:
    item = _open_item(session, item_id)
    if item.intent is None:
        raise HTTPException(422, "the bot proposed no intent here: choose one with Correct")
    record = latest_classification(session, item.inbound_id) if item.inbound_id else None
    return _decide(
        request,
        session,
        item,
        intent_of(item.intent),
        list(item.invoice_numbers),
        record.promised_date if record else None,
        record.paid_date if record else None,
        item.amount if item.amount is not None else (record.amount if record else None),
        "",
    )


@router.post("/review/{item_id}/correct")
def correct(
    request: Request,
    item_id: int,
    session: Db,
    intent: Annotated[str, Form(max_length=40)],
    invoices: OptStr = "",
    promised_date: OptStr = "",
    paid_date: OptStr = "",
    amount: OptStr = "",
    note: OptStr = "",
) -> Response:
    item = _open_item(session, item_id)
    return _decide(
        request,
        session,
        item,
        intent_of(intent),
        _known_invoices(session, invoice_numbers(invoices)),
        optional_date(promised_date, "promised date"),
        optional_date(paid_date, "paid date"),
        optional_amount(amount, "amount"),
        note.strip(),
    )


def _known_invoices(session: Session, numbers: list[str]) -> list[str]:
    unknown = [n for n in numbers if session.get(Invoice, n) is None]
    if unknown:
        raise HTTPException(422, f"unknown invoice number(s): {', '.join(unknown)}")
    return numbers


@router.post("/review/{item_id}/details")
def details(
    request: Request, item_id: int, session: Db, invoices: OptStr = "", amount: OptStr = ""
) -> Response:
    """Link other invoices or set the amount without deciding yet."""
    item = _open_item(session, item_id)
    item.invoice_numbers = _known_invoices(session, invoice_numbers(invoices))
    item.amount = optional_amount(amount, "amount")
    if item.client_id is None and item.invoice_numbers:
        first = session.get(Invoice, item.invoice_numbers[0])
        item.client_id = first.client_id if first else None
    session.commit()
    flash(request, "ok", f"Item {item.id}: invoices and amount saved")
    return redirect(f"/review#item-{item.id}")


@router.post("/review/{item_id}/reply")
def reply(
    request: Request, item_id: int, session: Db, template: Annotated[str, Form(max_length=120)]
) -> Response:
    """Answer the sender with a template (queued in the outbox like any message)."""
    from bot.app.compose import Composer, short_hash
    from bot.app.profiles import profile_for

    ctx = web(request)
    item = _open_item(session, item_id)
    row = review_row(session, item)
    if row.client is None or not row.invoices or row.inbound is None or not row.inbound.sender:
        raise HTTPException(422, "link the reply to a client and invoices first")
    now = ctx.clock.now()
    profile = profile_for(row.client.profile, ctx.settings, session)
    composer = Composer(ctx.settings, make_renderer(ctx.templates_root, ctx.sessions), profile.legal_rates)
    try:
        queued = composer.enqueue(
            session,
            key=f"review-reply:{item.id}:{template}:{short_hash(now)}",
            kind="ack",
            template=template,
            client=row.client,
            invoices=row.invoices,
            recipients=[row.inbound.sender],
            now=now,
            today=profile.local_date(now),
            jurisdiction=profile.jurisdiction,
            in_reply_to=row.inbound.message_id,
            references=[row.inbound.message_id] if row.inbound.message_id else [],
        )
    except RelanceError as exc:
        session.rollback()
        flash(request, "error", f"Reply not queued: {exc}")
        return redirect(f"/review#item-{item.id}")
    session.commit()
    flash(request, "ok", f"Reply {template} queued to {row.inbound.sender}" if queued else "Already queued")
    return redirect(f"/review#item-{item.id}")


@router.post("/review/{item_id}/done")
def done(request: Request, item_id: int, session: Db, note: OptStr = "") -> Response:
    item = _open_item(session, item_id)
    _close(request, item, {"action": "done", "intent": item.intent, "note": note.strip(), "effects": []})
    session.commit()
    flash(request, "ok", f"Item {item.id} marked done")
    return redirect("/review")


def label_of(session: Session, item: ReviewItem) -> dict[str, Any]:
    """A resolved reply as a line of labels.jsonl (the corpus's fields), for measuring the classifier."""
    record = latest_classification(session, item.inbound_id) if item.inbound_id else None
    res = item.resolution or {}
    intent = item.corrected_intent or res.get("intent") or item.intent or "other"
    return {
        "file": f"inbound/{item.inbound_id}.eml",
        "intent": intent,
        "secondary_intents": list(record.secondary_intents) if record else [],
        "needs_human": intent in {i.value for i in HUMAN_INTENTS},
        "language": record.language if record else None,
        "invoice_numbers": list(res.get("invoice_numbers") or item.invoice_numbers),
        "promised_date": res.get(
            "promised_date", record.promised_date.isoformat() if record and record.promised_date else None
        ),
        "amount": res.get("amount", str(record.amount) if record and record.amount is not None else None),
        "paid_date": res.get(
            "paid_date", record.paid_date.isoformat() if record and record.paid_date else None
        ),
        "hard": item.corrected_intent is not None,
        "note": str(res.get("note") or item.reason),
    }


@router.get("/review/export.jsonl")
def export(request: Request, session: Db) -> Response:
    items = list(
        session.scalars(
            select(ReviewItem)
            .where(ReviewItem.status == "done", ReviewItem.inbound_id.is_not(None))
            .order_by(ReviewItem.id)
        )
    )
    lines = [json.dumps(label_of(session, item), ensure_ascii=False) + "\n" for item in items]

    def body() -> Iterator[str]:
        yield from lines

    return StreamingResponse(
        body(),
        media_type="application/x-ndjson",
        headers={"content-disposition": 'attachment; filename="review-labels.jsonl"'},
    )
