"""What an intent strategy acts through: the reply, its client and invoices, and how effects are recorded.

Outside an inbox batch (the web UI confirming a reply, one message per transaction) effects are ORM objects in
the session. In an inbox batch (``lookups`` given) write-only rows are collected in ``lookups.writes`` and the
loaded rows (invoices, promises) are changed through ``BatchWrites.change``: one executemany per table at the
end of the batch instead of the unit of work flushing every object.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db.models import Client, Invoice, OutboxMessage, ReviewItem
from bot.app.audit import audit
from bot.app.batch_rows import InvoiceRow
from bot.app.compose import Composer, short_hash
from bot.app.outbox import claim_key
from bot.app.profiles import ProfileView
from bot.app.reply_lookups import ClientRow, ReplyLookups, pending
from bot.app.reply_outcomes import set_values
from bot.app.reply_writes import BatchWrites
from bot.app.settings import Settings
from bot.domain.intent import Intent
from bot.domain.invoice import InvoiceEvent, InvoiceState, can_take, next_state


@dataclass
class ActionContext:
    session: Session
    settings: Settings
    composer: Composer
    now: datetime
    today: date
    client: Client | ClientRow | None
    invoices: list[Invoice | InvoiceRow]
    profile: ProfileView
    promised_date: date | None
    paid_date: date | None
    amount: Decimal | None
    actor: str
    reason: str
    evidence: list[dict[str, Any]] | None
    reply_to: str | None  # the sender's address, for acknowledgements
    reply_message_id: str | None
    inbound_id: int | None
    has_remittance: bool
    effects: list[str]
    lookups: ReplyLookups | None = None

    @property
    def writes(self) -> BatchWrites | None:
        """The inbox batch's write-only rows (None outside a batch: ORM objects are added to the session)."""
        return self.lookups.writes if self.lookups is not None else None

    def change(self, obj: Any, **values: Any) -> None:
        """Set attributes of a loaded row (invoice, promise): collected for the batch's UPDATE in an inbox batch."""
        set_values(obj, self.writes, **values)

    def record_audit(self, **values: Any) -> None:
        """``audit.audit`` in the session, or collected for the batch's multi-row INSERT."""
        writes = self.writes
        if writes is not None:
            writes.add_audit(**values)
        else:
            audit(self.session, **values)

    def transition(self, invoice: Invoice | InvoiceRow, event: InvoiceEvent, **changes: Any) -> bool:
        """Move one invoice; an event its state cannot take is skipped and said, never forced."""
        state = InvoiceState(invoice.state)
        if not can_take(state, event):
            self.effects.append(f"{invoice.number}: left {state.value} ({event.value} not possible there)")
            return False
        new = next_state(state, event, invoice.number)
        old = {"state": state.value} | {k: _plain(getattr(invoice, k)) for k in changes}
        self.change(invoice, state=new.value, **changes, updated_at=self.now)
        self.record_audit(
            at=self.now,
            actor=self.actor,
            entity="invoice",
            entity_id=invoice.number,
            action=event.value,
            old=old,
            new={"state": new.value} | {k: _plain(v) for k, v in changes.items()},
            reason=self.reason,
            evidence=self.evidence,
        )
        self.effects.append(f"{invoice.number}: {state.value} → {new.value}")
        return True

    def review(self, kind: str, reason: str, intent: Intent | None = None) -> None:
        if kind == "reply" and self.actor.startswith("user:"):
            return  # a collector is deciding this very reply: asking them again would loop the queue
        key = f"{kind}:{self.inbound_id}:{reason}" if self.inbound_id else None
        writes = self.writes
        if key:
            with self.session.no_autoflush:
                known = self.session.scalar(select(ReviewItem.id).where(ReviewItem.source_key == key))
            if known or (
                writes.has_review(key) if writes is not None else pending(self.session, ReviewItem, source_key=key)
            ):
                return
        values: dict[str, Any] = {
            "kind": kind,
            "inbound_id": self.inbound_id,
            "client_id": self.client.client_id if self.client else None,
            "invoice_numbers": [i.number for i in self.invoices],
            "intent": intent.value if intent else None,
            "amount": self.amount,
            "reason": reason,
            "source_key": key,
        }
        if writes is not None:
            writes.add_review(now=self.now, **values)
        else:
            self.session.add(ReviewItem(status="open", created_at=self.now, **values))
        self.effects.append(f"review item: {reason}")

    def acknowledge(self, template: str, **extra: Any) -> None:
        """Send a written acknowledgement to the sender, capped per address per day (no mail loops)."""
        if not (self.client and self.reply_to and self.invoices):
            return
        since = self.now - timedelta(days=1)
        client_id = self.client.client_id
        # Read without flushing (the inbox batches its writes) and count the acknowledgements not flushed yet.
        stored = self.lookups.stored_acks(client_id, since) if self.lookups is not None else None
        if stored is None:
            with self.session.no_autoflush:
                stored = list(
                    self.session.scalars(
                        select(OutboxMessage.recipients).where(
                            OutboxMessage.kind == "ack",
                            OutboxMessage.client_id == client_id,
                            OutboxMessage.created_at >= since,
                        )
                    )
                )
        recent = list(stored)
        writes = self.writes
        if writes is not None:
            recent += writes.acks(client_id, since)
        else:
            recent += [
                row.recipients
                for row in pending(
                    self.session,
                    OutboxMessage,
                    lambda r: r.kind == "ack" and r.client_id == client_id and r.created_at >= since,
                )
            ]
        sent_today = sum(1 for recipients in recent if self.reply_to in recipients)
        if sent_today >= self.settings.auto_answer_cap_per_day:
            self.effects.append(f"no {template}: {sent_today} automatic answers to {self.reply_to} today already")
            return
        key = f"ack:{template}:{self.reply_message_id or short_hash(self.inbound_id, self.now)}"
        # Inbound Message-IDs are stored without their angle brackets; the headers need them back.
        thread = f"<{self.reply_message_id.strip('<>')}>" if self.reply_message_id else None
        mail: dict[str, Any] = dict(
            key=key,
            kind="ack",
            template=template,
            client=self.client,
            invoices=self.invoices,
            recipients=[self.reply_to],
            now=self.now,
            today=self.today,
            jurisdiction=self.profile.jurisdiction,
            in_reply_to=thread,
            references=[thread] if thread else [],
            **extra,
        )
        if writes is not None:
            # In an inbox batch the reply was recorded for the first time in this transaction (Message-ID and
            # coordinates checked), so no stored row can hold a key made from it; the unique index still guards.
            if not claim_key(self.session, key):
                return
            writes.add_outbox(self.composer.outbox_row(**mail))
            self.effects.append(f"{template} queued to {self.reply_to}")
            return
        row = self.composer.enqueue(self.session, **mail)
        if row is not None:
            self.effects.append(f"{template} queued to {self.reply_to}")


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)
