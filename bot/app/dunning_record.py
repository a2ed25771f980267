"""Recording a dunning cycle's due actions: an outbox row, a task or an escalation each, and the ladder moves.

Recording an action and moving the invoices' ladder position happen in one transaction per batch; the
outbox key makes a second cycle on the same day record nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import transaction
from bot.adapters.db.models import AuditEntry, Invoice, Task
from bot.app.bulk_insert import insert_many
from bot.app.compose import Composer
from bot.app.dunning_batch import InvoiceRow, RecordBatch
from bot.app.outbox import claim_key, insert_outbox
from bot.app.profiles import current_profiles
from bot.app.settings import Settings
from bot.domain.errors import StaleLedgerError
from bot.domain.invoice import InvoiceEvent, InvoiceState, can_take, next_state
from bot.domain.planner import PlannedAction
from bot.domain.profile import Channel
from bot.ports import Clock, Renderer

BATCH = 500


@dataclass
class CycleReport:
    recorded: Counter[str] = field(default_factory=Counter)  # by step
    tasks: int = 0
    escalations: int = 0
    blocked: Counter[str] = field(default_factory=Counter)
    not_yet: int = 0  # due but outside the send window now

    def as_dict(self) -> dict[str, object]:
        return {
            "recorded": dict(self.recorded),
            "tasks": self.tasks,
            "escalations": self.escalations,
            "blocked": dict(self.blocked),
            "not_yet": self.not_yet,
        }


def record_actions(
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    renderer: Renderer,
    actions: list[PlannedAction],
    *,
    refuse_when_stale: bool = True,
) -> CycleReport:
    """Record the planned actions due now: render and store each e-mail in the outbox, raise each task."""
    now = clock.now()
    report = CycleReport()
    with factory() as session:
        config, _calendars = current_profiles(settings, session)
    stale = sorted({a.profile for a in actions if a.blocked is not None and a.blocked.value == "stale ledger"})
    if stale and refuse_when_stale:
        raise StaleLedgerError(
            f"the ledger is stale (no payments import in the last {config.stale_ledger_days} days): "
            "import payments first (relance import payments FILE.csv); no reminder was sent"
        )
    due = []
    for action in actions:
        if action.blocked is not None:
            report.blocked[action.blocked.value] += 1
        elif action.send_at > now:
            report.not_yet += 1
        else:
            due.append(action)
    composer = Composer(settings, renderer, config.legal_rates)
    for start in range(0, len(due), BATCH):
        chunk = due[start : start + BATCH]
        with transaction(factory) as session, session.no_autoflush:
            batch = RecordBatch.load(session, chunk)
            writes = _Writes()
            for action in chunk:
                _record(
                    session,
                    composer,
                    action,
                    now,
                    config.profiles[action.profile].legal.jurisdiction.value,
                    report,
                    batch,
                    writes,
                )
            writes.flush(session)
    return report


@dataclass
class _Writes:
    """The outbox rows and audit entries of one batch, written in a few multi-row INSERTs before it commits.

    Building an ORM object per row and letting the unit of work flush it cost about as much as rendering
    the message; the rows are the same and land in the same transaction, so nothing is sent before they are
    durable (the send step only reads committed rows).
    """

    outbox: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    invoices: list[dict[str, Any]] = field(default_factory=list)  # ladder moves, see _move_invoice

    def flush(self, session: Session) -> None:
        insert_outbox(session, self.outbox)
        insert_many(session.connection(), cast(Table, AuditEntry.__table__), self.audit)
        if self.invoices:
            session.execute(_MOVE_INVOICE, self.invoices)


_INVOICES = cast(Table, Invoice.__table__)
_MOVE_INVOICE = (
    update(_INVOICES)
    .where(_INVOICES.c.number == bindparam("b_number"))
    .values(
        last_step=bindparam("b_last_step"),
        last_step_on=bindparam("b_last_step_on"),
        updated_at=bindparam("b_updated_at"),
        state=bindparam("b_state"),
    )
)


def _move_invoice(invoice: InvoiceRow, writes: _Writes, step: str, today: date, now: datetime, state: str) -> None:
    """Move an invoice up its ladder: in the batch's rows now (later actions of the batch read them), in the
    database with the batch's other writes (one executemany)."""
    invoice.last_step, invoice.state = step, state
    writes.invoices.append(
        {
            "b_number": invoice.number,
            "b_last_step": step,
            "b_last_step_on": today,
            "b_updated_at": now,
            "b_state": state,
        }
    )


def _record(
    session: Session,
    composer: Composer,
    action: PlannedAction,
    now: datetime,
    jurisdiction: str,
    report: CycleReport,
    batch: RecordBatch,
    writes: _Writes,
) -> None:
    invoices = [
        i
        for n in action.invoice_numbers
        if (i := batch.invoices.get(n)) is not None and i.state == InvoiceState.OPEN.value
    ]
    client = batch.clients.get(action.client_id)
    if not invoices or client is None:
        return
    today = now.astimezone(action.send_at.tzinfo).date()
    key = action.idempotency_key
    done = False
    if action.channel is Channel.EMAIL:
        recipients = client.active_emails()[:1]
        # Recorded once per key: not stored before this batch, not added earlier in this transaction.
        done = key not in batch.outbox_keys and claim_key(session, key)
        if done:
            writes.outbox.append(
                composer.outbox_row(
                    key=key,
                    kind="reminder",
                    template=action.template or action.step,
                    client=client,
                    invoices=invoices,
                    recipients=recipients,
                    now=now,
                    today=today,
                    step=action.step,
                    jurisdiction=jurisdiction,
                    not_before=action.send_at,
                )
            )
            report.recorded[action.step] += 1
    elif key not in batch.task_keys:
        kind = {Channel.CALL_TASK: "call", Channel.LETTER_TASK: "letter"}.get(action.channel, "escalate")
        total = sum((i.amount - i.amount_paid for i in invoices), start=invoices[0].amount * 0)
        session.add(
            Task(
                kind=kind,
                client_id=client.client_id,
                invoice_numbers=[i.number for i in invoices],
                reason=f"step {action.step}: {kind} about {total} {invoices[0].currency} overdue",
                source_key=key,
                status="open",
                due_on=today,
                created_at=now,
            )
        )
        batch.task_keys.add(key)
        report.tasks += 1
        done = True
        if action.channel is Channel.ESCALATE:
            report.escalations += 1
    if not done:
        return
    for invoice in invoices:
        old_step = invoice.last_step
        event = InvoiceEvent.ESCALATE if action.channel is Channel.ESCALATE else InvoiceEvent.REMINDER_SENT
        old_state = InvoiceState(invoice.state)
        state = next_state(old_state, event, invoice.number).value if can_take(old_state, event) else invoice.state
        _move_invoice(invoice, writes, action.step, today, now, state)
        writes.audit.append(  # the entry bot.app.audit.audit would add
            {
                "at": now,
                "actor": "bot",
                "entity": "invoice",
                "entity_id": invoice.number,
                "action": f"step:{action.step}",
                "old": {"last_step": old_step, "state": old_state.value},
                "new": {"last_step": action.step, "state": invoice.state, "channel": action.channel.value},
                "reason": f"{action.profile} ladder: step {action.step} due on {today.isoformat()}",
                "evidence": None,
            }
        )
