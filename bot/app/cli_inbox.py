"""CLI: inbox classify / fetch, review list, invoices show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.app.cli import app, command_group, fail, run_guarded, runtime

inbox_app = command_group("Read replies: classify files, or fetch the inbox once.")
review_app = command_group("The collectors' review queue.")
invoices_app = command_group("Look at invoices.")
app.add_typer(inbox_app, name="inbox")
app.add_typer(review_app, name="review")
app.add_typer(invoices_app, name="invoices")

Json = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]


def _iso(value: Any) -> Any:
    return None if value is None else value.isoformat()


@inbox_app.command("classify")
def inbox_classify(files: list[Path], as_json: Json = False) -> None:
    """Classify .eml files against the imported ledger, changing nothing."""
    from dataclasses import replace

    from bot.adapters.parse import parse_message
    from bot.app.inbound import classify_parsed
    from bot.app.reply_matching import match_reply, resolve_details
    from bot.domain.errors import UnreadableMessageError

    rt = runtime()
    failures = 0
    with rt.sessions() as session:
        for file in files:
            try:
                parsed = parse_message(file.read_bytes())
            except (OSError, UnreadableMessageError) as exc:
                failures += 1
                typer.echo(json.dumps({"file": str(file), "error": str(exc)}) if as_json else f"{file}: {exc}")
                continue
            c = classify_parsed(parsed)
            match = match_reply(session, parsed, c)
            promised, amount = resolve_details(session, c, match)
            c = replace(c, promised_date=promised, amount=amount)
            session.rollback()  # read-only: nothing of the classification is kept
            bounce = parsed.bounce
            out = {
                "file": str(file),
                "intent": c.intent.value,
                "secondary_intents": [i.value for i in c.secondary_intents],
                "needs_human": c.needs_human,
                "confidence": round(c.confidence, 3),
                "language": c.language,
                "invoice_numbers": list(match.invoice_numbers),
                "promised_date": _iso(c.promised_date),
                "paid_date": _iso(c.paid_date),
                "amount": None if c.amount is None else f"{c.amount:.2f}",
                "evidence": [e.as_dict() for e in c.evidence],
                "human_reasons": list(c.human_reasons),
                "auto_reply": parsed.auto_reply,
                "bounce": None
                if bounce is None
                else {"recipient": bounce.recipient, "status": bounce.status, "action": bounce.action},
                "reply_text": parsed.reply_text,
                "client_id": match.client_id,
                "match_reasons": list(match.reasons),
            }
            if as_json:
                typer.echo(json.dumps(out, ensure_ascii=False))
            else:
                typer.echo(
                    f"{file}: {out['intent']} ({out['confidence']}) human={out['needs_human']} "
                    f"invoices={','.join(out['invoice_numbers']) or '-'}"
                )
    if failures:
        raise typer.Exit(1)


@inbox_app.command("fetch")
def inbox_fetch() -> None:
    """One pass over the IMAP (or Maildir) inbox: process every new message, then exit."""
    from bot.app.inbox import InboxProcessor
    from bot.app.wiring import make_renderer, open_mailbox

    rt = runtime()

    def body() -> None:
        mailbox = open_mailbox(rt.settings)
        processor = InboxProcessor(rt.sessions, rt.settings, rt.clock, make_renderer(rt.settings, rt.sessions))
        try:
            report = processor.run_once(mailbox)
        finally:
            processor.close()
            mailbox.close()
        typer.echo(json.dumps(report.as_dict()))

    run_guarded(body)


@review_app.command("list")
def review_list(as_json: Json = False) -> None:
    """The open review items, newest first, with the evidence."""
    from sqlalchemy import select

    from bot.adapters.db.models import ClassificationRecord, InboundMessage, ReviewItem

    rt = runtime()
    with rt.sessions() as session:
        items = session.scalars(
            select(ReviewItem)
            .where(ReviewItem.status == "open")
            .order_by(ReviewItem.created_at.desc(), ReviewItem.id.desc())
        )
        for item in items:
            inbound = session.get(InboundMessage, item.inbound_id) if item.inbound_id else None
            record = (
                session.scalar(select(ClassificationRecord).where(ClassificationRecord.inbound_id == item.inbound_id))
                if item.inbound_id
                else None
            )
            out = {
                "id": item.id,
                "kind": item.kind,
                "created_at": item.created_at.isoformat(),
                "intent": item.intent,
                "confidence": item.confidence,
                "reason": item.reason,
                "client_id": item.client_id,
                "invoice_numbers": item.invoice_numbers,
                "amount": None if item.amount is None else f"{item.amount:.2f}",
                "sender": inbound.sender if inbound else None,
                "subject": inbound.subject if inbound else None,
                "reply_text": record.reply_text if record else None,
                "evidence": record.evidence if record else [],
            }
            if as_json:
                typer.echo(json.dumps(out, ensure_ascii=False))
            else:
                typer.echo(
                    f"#{item.id} [{item.kind}] {item.intent or '-'} {item.client_id or '?'} "
                    f"{','.join(item.invoice_numbers)}: {item.reason}"
                )


@invoices_app.command("show")
def invoices_show(number: str, as_json: Json = False) -> None:
    """One invoice: state, balance, next step, promise, pauses and its timeline."""
    from bot.app.timeline import invoice_view

    rt = runtime()

    def body() -> None:
        with rt.sessions() as session:
            view = invoice_view(session, rt.settings, number, rt.clock.now())
        if view is None:
            raise fail(f"error: no invoice {number!r}")
        if as_json:
            typer.echo(json.dumps(view, ensure_ascii=False, default=str))
            return
        for key in (
            "number",
            "client_id",
            "state",
            "amount",
            "amount_paid",
            "balance",
            "currency",
            "due_date",
            "promise_date",
            "paused_until",
            "last_step",
            "next_step",
        ):
            typer.echo(f"{key:>13}: {view.get(key)}")
        typer.echo("     timeline:")
        for event in view["timeline"]:
            typer.echo(f"  {event['at'][:16]}  {event['kind']:<9} {event['what']}")

    run_guarded(body)
