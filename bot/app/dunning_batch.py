"""What recording a batch of dunning actions reads, loaded in a few Core queries as plain rows.

Recording reads each invoice's state and ladder position, the figures its message shows, and the client's
name, language and contacts. Loaded as ORM entities (identity map, instance state, a selectin load of the
contacts) they cost about a fifth of recording a message; nothing in the batch writes through them (the
ladder moves go out as one executemany, see ``dunning_record._Writes``), so plain rows carry the same values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from bot.adapters.db.models import Client, Contact, Invoice, OutboxMessage, Task
from bot.domain.planner import PlannedAction

_INVOICES = cast(Table, Invoice.__table__)
_CLIENTS = cast(Table, Client.__table__)
_CONTACTS = cast(Table, Contact.__table__)
_OUTBOX = cast(Table, OutboxMessage.__table__)
_TASKS = cast(Table, Task.__table__)
# SQLite's bound-parameter limit (999 in old builds): lists of keys go in parts.
_PART = 900


@dataclass(slots=True)
class InvoiceRow:
    """One invoice as recording reads it; ``state`` and ``last_step`` move as the batch records actions."""

    number: str
    issue_date: date
    due_date: date
    amount: Decimal
    amount_paid: Decimal
    currency: str
    state: str
    last_step: str | None


@dataclass(frozen=True, slots=True)
class ClientRow:
    """A client and its contacts as (email, status), in the order of ``Client.contacts`` (by position)."""

    client_id: str
    name: str
    language: str
    contacts: tuple[tuple[str, str], ...]

    def active_emails(self) -> list[str]:
        return [email for email, status in self.contacts if status == "active"]


_LOAD_INVOICES = select(
    _INVOICES.c.number,
    _INVOICES.c.issue_date,
    _INVOICES.c.due_date,
    _INVOICES.c.amount,
    _INVOICES.c.amount_paid,
    _INVOICES.c.currency,
    _INVOICES.c.state,
    _INVOICES.c.last_step,
).where(_INVOICES.c.number.in_(bindparam("keys", expanding=True)))
_LOAD_CLIENTS = select(_CLIENTS.c.client_id, _CLIENTS.c.name, _CLIENTS.c.language).where(
    _CLIENTS.c.client_id.in_(bindparam("keys", expanding=True))
)
# The same filter and order as the ORM's selectin load of Client.contacts, so ties come back in the same order.
_LOAD_CONTACTS = (
    select(_CONTACTS.c.client_id, _CONTACTS.c.email, _CONTACTS.c.status)
    .where(_CONTACTS.c.client_id.in_(bindparam("keys", expanding=True)))
    .order_by(_CONTACTS.c.position)
)
_KNOWN_OUTBOX_KEYS = select(_OUTBOX.c.idempotency_key).where(
    _OUTBOX.c.idempotency_key.in_(bindparam("keys", expanding=True))
)
_KNOWN_TASK_KEYS = select(_TASKS.c.source_key).where(_TASKS.c.source_key.in_(bindparam("keys", expanding=True)))


def _parts(keys: Sequence[str]) -> list[list[str]]:
    return [list(keys[start : start + _PART]) for start in range(0, len(keys), _PART)]


@dataclass
class RecordBatch:
    """What recording a batch of actions reads, loaded in a few queries instead of a few per action."""

    invoices: dict[str, InvoiceRow]
    clients: dict[str, ClientRow]
    outbox_keys: set[str]
    task_keys: set[str]

    @classmethod
    def load(cls, session: Session, actions: Sequence[PlannedAction]) -> RecordBatch:
        conn = session.connection()
        numbers = sorted({n for a in actions for n in a.invoice_numbers})
        client_ids = sorted({a.client_id for a in actions})
        keys = [a.idempotency_key for a in actions]
        invoices: dict[str, InvoiceRow] = {}
        contacts: dict[str, list[tuple[str, str]]] = {}
        clients: dict[str, ClientRow] = {}
        outbox_keys: set[str] = set()
        task_keys: set[str] = set()
        for part in _parts(numbers):
            invoices.update((r[0], InvoiceRow(*r)) for r in conn.execute(_LOAD_INVOICES, {"keys": part}))
        for part in _parts(client_ids):
            for client_id, email, status in conn.execute(_LOAD_CONTACTS, {"keys": part}):
                contacts.setdefault(client_id, []).append((email, status))
            for client_id, name, language in conn.execute(_LOAD_CLIENTS, {"keys": part}):
                clients[client_id] = ClientRow(client_id, name, language, tuple(contacts.get(client_id, ())))
        for part in _parts(keys):
            outbox_keys.update(conn.execute(_KNOWN_OUTBOX_KEYS, {"keys": part}).scalars())
            task_keys.update(k for k in conn.execute(_KNOWN_TASK_KEYS, {"keys": part}).scalars() if k)
        return cls(invoices, clients, outbox_keys, task_keys)
