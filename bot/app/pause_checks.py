"""Invoices whose pause ran out: broken promises to pay, and "already paid" claims no payment confirmed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import transaction
from bot.adapters.db.models import Client, Invoice, Promise, ReviewItem
from bot.app.audit import audit
from bot.app.follow_up import raise_call_task
from bot.app.profiles import current_profiles
from bot.app.settings import Settings
from bot.domain.invoice import InvoiceEvent, InvoiceState, next_state
from bot.ports import Clock


def check_promises(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> int:
    """Promises whose date plus grace has passed unpaid are broken: ladder resumes, a call task is raised."""
    now = clock.now()
    broken = 0
    with transaction(factory) as session:
        config, _ = current_profiles(settings, session)
        clients = {c.client_id: c for c in session.scalars(select(Client))}
        for invoice in session.scalars(select(Invoice).where(Invoice.state == InvoiceState.PROMISED.value)):
            client = clients.get(invoice.client_id)
            profile = config.profiles.get(client.profile if client else "", config.profiles[config.default_profile])
            today = now.astimezone(profile.zone).date()
            if (
                invoice.promise_date is None
                or invoice.promise_date + timedelta(days=profile.promise_grace_days) >= today
            ):
                continue
            invoice.state = next_state(InvoiceState.PROMISED, InvoiceEvent.PROMISE_BROKEN, invoice.number).value
            invoice.paused_until, invoice.updated_at = None, now
            for promise in session.scalars(
                select(Promise).where(Promise.invoice_number == invoice.number, Promise.status == "pending")
            ):
                promise.status, promise.resolved_at = "broken", now
            audit(
                session,
                at=now,
                actor="bot",
                entity="invoice",
                entity_id=invoice.number,
                action="promise_broken",
                old={"state": "promised", "promise_date": invoice.promise_date.isoformat()},
                new={"state": invoice.state},
                reason=f"promised {invoice.promise_date.isoformat()} + {profile.promise_grace_days} days grace, "
                "still unpaid: reminders resume at the next step",
            )
            raise_call_task(
                session,
                key=f"promise-broken:{invoice.number}:{invoice.promise_date.isoformat()}",
                client_id=invoice.client_id,
                invoice_numbers=[invoice.number],
                reason=f"promise to pay by {invoice.promise_date.isoformat()} broken",
                now=now,
                due_on=today,
            )
            broken += 1
    return broken


def check_payment_claims(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> int:
    """'Already paid' claims with no payment recorded by the end of the pause go to a person."""
    now = clock.now()
    expired = 0
    with transaction(factory) as session:
        for invoice in session.scalars(select(Invoice).where(Invoice.state == InvoiceState.PAYMENT_CLAIMED.value)):
            if invoice.paused_until is None or invoice.paused_until >= now.date():
                continue
            invoice.state = next_state(InvoiceState.PAYMENT_CLAIMED, InvoiceEvent.CLAIM_EXPIRED, invoice.number).value
            invoice.updated_at = now
            audit(
                session,
                at=now,
                actor="bot",
                entity="invoice",
                entity_id=invoice.number,
                action="claim_expired",
                old={"state": "payment_claimed"},
                new={"state": invoice.state},
                reason=f"claimed paid, but no payment recorded by {invoice.paused_until.isoformat()}",
            )
            key = f"claim-unverified:{invoice.number}:{invoice.paused_until.isoformat()}"
            if session.scalar(select(ReviewItem.id).where(ReviewItem.source_key == key)) is None:
                session.add(
                    ReviewItem(
                        kind="claim_unverified",
                        status="open",
                        client_id=invoice.client_id,
                        invoice_numbers=[invoice.number],
                        intent="already_paid",
                        reason="payment claimed but not found in the ledger: check the bank",
                        source_key=key,
                        created_at=now,
                    )
                )
            expired += 1
    return expired
