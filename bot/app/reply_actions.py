"""What the bot does about a reply, one small strategy per intent (issue 6, "Actions per intent").

``apply_decision`` is called by the inbox when the safety rule allows an automatic action, and by the web UI
when a collector confirms or corrects what the bot understood. Every effect is written to the audit log with
the reason and evidence, and returned as a sentence for the timeline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db.models import AuditEntry, Client, InboundMessage, Invoice, Promise
from bot.app.batch_rows import InvoiceRow
from bot.app.compose import Composer, invoice_document
from bot.app.inbound import NewInbound
from bot.app.profiles import profile_for
from bot.app.reply_context import ActionContext
from bot.app.reply_lookups import ClientRow, ReplyLookups, pending
from bot.app.settings import Settings
from bot.domain.cadence import add_business_days
from bot.domain.intent import Intent
from bot.domain.invoice import InvoiceEvent, InvoiceState
from bot.ports import Clock, Renderer

log = logging.getLogger(__name__)

#: Days reminders wait after an invoice copy was sent, so the debtor can pay it ("restart the clock").
COPY_PAUSE_DAYS = 10
#: A second "never received" within this window is flagged to a person: something is wrong with the address.
REPEAT_MISSING_WINDOW = timedelta(days=90)
#: The templates the strategies acknowledge replies with (compiled when an inbox is set up).
ACK_TEMPLATES = ("promise_ack", "payment_claim_ack", "invoice_copy")
#: With no date in the promise ("we'll pay soon"), this many days are assumed before it counts as broken.
UNDATED_PROMISE_DAYS = 7


# ------------------------------------------------------------------ strategies


def _promise(ctx: ActionContext) -> None:
    promised = ctx.promised_date or ctx.today + timedelta(days=UNDATED_PROMISE_DAYS)
    until = promised + timedelta(days=ctx.profile.promise_grace_days)
    for invoice in ctx.invoices:
        number = invoice.number
        stored = ctx.lookups.stored_promises(number) if ctx.lookups is not None else None
        if stored is None:
            with ctx.session.no_autoflush:
                stored = list(
                    ctx.session.scalars(
                        select(Promise).where(Promise.invoice_number == number, Promise.status == "pending")
                    )
                )
        writes = ctx.writes
        olds = list(stored)
        if writes is None:
            olds += pending(ctx.session, Promise, invoice_number=number)
        for old in olds:
            if old.status == "pending":  # as held in memory: an unflushed change wins over the database
                ctx.change(old, status="superseded", resolved_at=ctx.now)
        for row in writes.pending_promises(number) if writes is not None else ():
            if row["status"] == "pending":
                row["status"], row["resolved_at"] = "superseded", ctx.now
        if not ctx.transition(invoice, InvoiceEvent.PROMISE, promise_date=promised, paused_until=until):
            continue
        if writes is not None:
            writes.add_promise(
                invoice_number=invoice.number,
                client_id=invoice.client_id,
                promised_date=promised,
                amount=ctx.amount,
                source="reply" if ctx.inbound_id else "call",
                now=ctx.now,
            )
        else:
            ctx.session.add(
                Promise(
                    invoice_number=invoice.number,
                    client_id=invoice.client_id,
                    promised_date=promised,
                    amount=ctx.amount,
                    source="reply" if ctx.inbound_id else "call",
                    status="pending",
                    created_at=ctx.now,
                )
            )
    ctx.acknowledge("promise_ack", promise_date=promised, promise_amount=ctx.amount)


def _already_paid(ctx: ActionContext) -> None:
    until = add_business_days(ctx.today, ctx.profile.paid_claim_pause_days, ctx.profile.holidays)
    for invoice in ctx.invoices:
        ctx.transition(invoice, InvoiceEvent.PAID_CLAIM, paused_until=until)
    if not ctx.has_remittance:
        from bot.adapters.render_context import PaymentFacts

        ctx.acknowledge("payment_claim_ack", payment=PaymentFacts(date=ctx.paid_date, amount=ctx.amount))


def _missing_invoice(ctx: ActionContext) -> None:
    if ctx.client is None or not ctx.invoices:
        return
    since = ctx.now - REPEAT_MISSING_WINDOW
    client_id = ctx.client.client_id
    with ctx.session.no_autoflush:
        earlier = ctx.session.scalar(
            select(AuditEntry.id).where(
                AuditEntry.entity == "client",
                AuditEntry.entity_id == client_id,
                AuditEntry.action == "invoice_copy_sent",
                AuditEntry.at >= since,
            )
        )
    writes = ctx.writes
    if earlier is None and (
        writes.copy_sent(client_id, since)
        if writes is not None
        else pending(
            ctx.session,
            AuditEntry,
            lambda a: (
                a.entity == "client" and a.entity_id == client_id and a.action == "invoice_copy_sent" and a.at >= since
            ),
        )
    ):
        earlier = 0
    attachments = [doc for doc in (invoice_document(i) for i in ctx.invoices) if doc]
    ctx.acknowledge("invoice_copy", attachments=attachments)
    until = ctx.today + timedelta(days=COPY_PAUSE_DAYS)
    for invoice in ctx.invoices:
        if InvoiceState(invoice.state) is InvoiceState.OPEN and (invoice.paused_until or ctx.today) < until:
            ctx.change(invoice, paused_until=until)
            ctx.record_audit(
                at=ctx.now,
                actor=ctx.actor,
                entity="invoice",
                entity_id=invoice.number,
                action="paused",
                new={"paused_until": until.isoformat()},
                reason="invoice copy sent: the debtor gets time to pay it",
                evidence=ctx.evidence,
            )
    ctx.record_audit(
        at=ctx.now,
        actor=ctx.actor,
        entity="client",
        entity_id=ctx.client.client_id,
        action="invoice_copy_sent",
        new={"invoices": [i.number for i in ctx.invoices]},
        reason=ctx.reason,
        evidence=ctx.evidence,
    )
    if earlier is not None:
        ctx.review(
            "client_flag",
            "second 'invoice not received' within 90 days: check the address and process",
            Intent.MISSING_INVOICE,
        )


def _dispute(ctx: ActionContext) -> None:
    for invoice in ctx.invoices:
        ctx.transition(invoice, InvoiceEvent.DISPUTE)
    ctx.review("reply", "dispute: reminders stopped, a person must look", Intent.DISPUTE)


def _to_review(intent: Intent, why: str) -> Callable[[ActionContext], None]:
    def strategy(ctx: ActionContext) -> None:
        ctx.review("reply", why, intent)

    return strategy


STRATEGIES: dict[Intent, Callable[[ActionContext], None]] = {
    Intent.PROMISE_TO_PAY: _promise,
    Intent.ALREADY_PAID: _already_paid,
    Intent.MISSING_INVOICE: _missing_invoice,
    Intent.DISPUTE: _dispute,
    Intent.PAYMENT_PLAN_REQUEST: _to_review(Intent.PAYMENT_PLAN_REQUEST, "payment plan request: negotiate"),
    Intent.WRONG_CONTACT: _to_review(Intent.WRONG_CONTACT, "wrong contact: update the client's addresses"),
    Intent.OTHER: _to_review(Intent.OTHER, "reply needs reading"),
    Intent.AUTO_REPLY: lambda ctx: None,  # handled by the inbox (return date), no invoice effect
    Intent.BOUNCE: lambda ctx: None,  # handled by the inbox (contact marked), no invoice effect
}


def _client(session: Session, lookups: ReplyLookups | None, client_id: str) -> Client | ClientRow | None:
    # A batch's preloaded row (what the actions read of a client), else the entity.
    return (lookups.loaded_client(client_id) if lookups is not None else None) or session.get(Client, client_id)


def _invoice(session: Session, lookups: ReplyLookups | None, number: str) -> Invoice | InvoiceRow | None:
    return (lookups.loaded_invoice(number) if lookups is not None else None) or session.get(Invoice, number)


def apply_decision(
    session: Session,
    *,
    settings: Settings,
    clock: Clock,
    renderer: Renderer,
    client_id: str | None,
    invoice_numbers: list[str],
    intent: Intent,
    promised_date: date | None,
    paid_date: date | None,
    amount: Decimal | None,
    actor: str,
    inbound_id: int | None,
    reason: str,
    evidence: list[dict[str, Any]] | None = None,
    has_remittance: bool = False,
    lookups: ReplyLookups | None = None,
) -> list[str]:
    """Carry out ``intent``'s strategy on the given invoices; returns the effects as sentences.

    ``lookups`` is the inbox batch's memo (profiles read once per batch); without it everything is read here.
    """
    now = clock.now()
    client = _client(session, lookups, client_id) if client_id else None
    invoices = [inv for n in invoice_numbers if (inv := _invoice(session, lookups, n)) is not None]
    if client is None and invoices:
        client = _client(session, lookups, invoices[0].client_id)
    profile_name = client.profile if client else None
    profile = lookups.profile(profile_name) if lookups is not None else profile_for(profile_name, settings, session)
    # An inbox batch inserts its replies' rows at its end: the reply is then the batch's, not the session's.
    inbound: NewInbound | InboundMessage | None = None
    if inbound_id:
        pending_row = lookups.writes.inbound.get(inbound_id) if lookups is not None else None
        inbound = pending_row or session.get(InboundMessage, inbound_id)
    ctx = ActionContext(
        session=session,
        settings=settings,
        composer=(
            lookups.composer(renderer, profile.legal_rates)
            if lookups is not None
            else Composer(settings, renderer, profile.legal_rates)
        ),
        now=now,
        today=profile.local_date(now),
        client=client,
        invoices=invoices,
        profile=profile,
        promised_date=promised_date,
        paid_date=paid_date,
        amount=amount,
        actor=actor,
        reason=reason,
        evidence=evidence,
        reply_to=inbound.sender if inbound else None,
        reply_message_id=inbound.message_id if inbound else None,
        inbound_id=inbound_id,
        has_remittance=has_remittance,
        effects=[],
        lookups=lookups,
    )
    STRATEGIES[intent](ctx)
    log.info("applied %s for %s on %s: %s", intent.value, actor, invoice_numbers, ctx.effects)
    return ctx.effects
