"""The write-only rows of one inbox batch, collected as column values and inserted with a few executemany calls.

SQLite gives SQLAlchemy no way to insert many ORM objects that need their primary key in one statement, so a
batch of 1,000 replies cost 1,000 INSERTs per table (classifications, audit entries, promises...) plus the unit
of work's bookkeeping. Nothing in the batch needs those rows' ids, so they are kept here as dicts and written
just before the batch's commit, in the same transaction: what is durable, and when, is unchanged.

The reads that must see an earlier reply's rows of the same batch (the acknowledgement cap, a pending promise
to supersede, an earlier "invoice copy sent", review item and call task keys) consult the indexes kept here
instead of the session's unflushed objects. Rows are inserted in the order they were collected, which is the
order the unit of work would have used.

Changes to rows the batch loaded (an invoice's state, a client's pause, a superseded promise, a reply's status)
go through :meth:`BatchWrites.change`: the ORM object (or the invoice's plain row, ``batch_rows``) is changed in
memory, an ORM object without history (so later replies of the batch read the new value), and the row is updated
with the batch's other writes, one executemany per table and set of columns, instead of the unit of work tracking
and flushing every object. As with the unit of work,
only the columns whose value differs from the one loaded are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.base import instance_state

from bot.adapters.db.models import (
    AuditEntry,
    ClassificationRecord,
    InboundMessage,
    OutboxMessage,
    Promise,
    ReviewItem,
    Task,
)
from bot.app.audit import audit_values
from bot.app.batch_rows import INVOICES_TABLE, InvoiceRow
from bot.app.bulk_insert import JsonMemo, insert_many, update_many
from bot.app.inbound import NewInbound


class BatchWrites:
    """Rows to insert at the end of one inbox batch, with the look-ups its later replies need."""

    def __init__(self) -> None:
        self.inbound: dict[int, NewInbound] = {}  # by their allocated id
        self.classifications: list[dict[str, Any]] = []
        self.audit: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []
        self.promises: list[dict[str, Any]] = []
        self.reviews: list[dict[str, Any]] = []
        self.tasks: list[dict[str, Any]] = []
        self._promises_by_invoice: dict[str, list[dict[str, Any]]] = {}
        self._review_keys: set[str] = set()
        self._task_keys: set[str] = set()
        self._acks: dict[str, list[tuple[list[str], datetime]]] = {}
        self._copies: dict[str, list[datetime]] = {}  # client → "invoice_copy_sent" audit times
        # (table, primary key) → (the ORM object, its attributes' values before the batch changed them).
        self._changes: dict[tuple[str, tuple[Any, ...]], tuple[Any, dict[str, Any]]] = {}

    # ------------------------------------------------------------- collecting

    def add_inbound(self, row: NewInbound) -> None:
        """A reply's record, its id allocated; inserted first, with whatever the batch set on it meanwhile."""
        self.inbound[row.id] = row

    def add_audit(self, **values: Any) -> None:
        """An audit entry, same arguments as ``audit.audit`` without the session."""
        row = audit_values(**values)
        self.audit.append(row)
        if row["entity"] == "client" and row["action"] == "invoice_copy_sent":
            self._copies.setdefault(row["entity_id"], []).append(row["at"])

    def add_outbox(self, row: dict[str, Any]) -> None:
        """An outbox row from ``Composer.outbox_row`` (its key already claimed with ``outbox.claim_key``)."""
        self.outbox.append(row)
        if row["kind"] == "ack":
            self._acks.setdefault(row["client_id"], []).append((row["recipients"], row["created_at"]))

    def add_promise(
        self,
        *,
        invoice_number: str,
        client_id: str,
        promised_date: date,
        amount: Any,
        source: str,
        now: datetime,
    ) -> None:
        row = {
            "invoice_number": invoice_number,
            "client_id": client_id,
            "promised_date": promised_date,
            "amount": amount,
            "source": source,
            "status": "pending",
            "created_at": now,
            "resolved_at": None,
        }
        self.promises.append(row)
        self._promises_by_invoice.setdefault(invoice_number, []).append(row)

    def add_review(
        self,
        *,
        kind: str,
        inbound_id: int | None,
        reason: str,
        now: datetime,
        client_id: str | None = None,
        invoice_numbers: Sequence[str] = (),
        intent: str | None = None,
        confidence: float | None = None,
        amount: Any = None,
        source_key: str | None = None,
    ) -> None:
        # Every review row carries the same keys (one executemany); the columns left out are those the ORM
        # path never sets either (NULL, not JSON null, for ``resolution``).
        self.reviews.append(
            {
                "kind": kind,
                "status": "open",
                "inbound_id": inbound_id,
                "client_id": client_id,
                "invoice_numbers": list(invoice_numbers),
                "intent": intent,
                "confidence": confidence,
                "amount": amount,
                "reason": reason,
                "source_key": source_key,
                "created_at": now,
            }
        )
        if source_key is not None:
            self._review_keys.add(source_key)

    def add_task(self, **values: Any) -> None:
        """A task row (every column but the id and the ones only a person fills in)."""
        self.tasks.append(values)
        if values.get("source_key") is not None:
            self._task_keys.add(values["source_key"])

    def add_classification(self, **values: Any) -> None:
        self.classifications.append(values)

    def change(self, obj: Any, **values: Any) -> None:
        """Set attributes of a persistent ORM object: at once in memory (no history: the unit of work ignores
        it), in its row with the batch's other writes (:meth:`flush`). A reply's record not inserted yet
        (:class:`NewInbound`) just takes the values."""
        if isinstance(obj, NewInbound):
            for name, value in values.items():
                setattr(obj, name, value)
            return
        if isinstance(obj, InvoiceRow):
            key: tuple[str, tuple[Any, ...]] = (INVOICES_TABLE.name, (obj.number,))
            set_value: Any = setattr
        else:
            state = instance_state(obj)
            if state.identity is None:
                raise ValueError(f"{obj!r} is not in the database yet: set its attributes instead")
            key = (cast(Table, state.mapper.local_table).name, state.identity)
            set_value = set_committed_value
        entry = self._changes.get(key)
        if entry is None:
            entry = self._changes[key] = (obj, {})
        before = entry[1]
        for name, value in values.items():
            if name not in before:
                before[name] = getattr(obj, name)
            set_value(obj, name, value)

    # ------------------------------------------------------------- reading back

    def pending_promises(self, invoice_number: str) -> list[dict[str, Any]]:
        """This batch's promise rows on the invoice (any status), in the order they were made."""
        return self._promises_by_invoice.get(invoice_number, [])

    def has_review(self, source_key: str) -> bool:
        return source_key in self._review_keys

    def has_task(self, source_key: str) -> bool:
        return source_key in self._task_keys

    def acks(self, client_id: str, since: datetime) -> list[list[str]]:
        """Recipients of this batch's acknowledgements to the client made since ``since``."""
        return [recipients for recipients, created in self._acks.get(client_id, []) if created >= since]

    def copy_sent(self, client_id: str, since: datetime) -> bool:
        """Whether this batch sent the client an invoice copy since ``since``."""
        return any(at >= since for at in self._copies.get(client_id, []))

    # ------------------------------------------------------------- writing

    def flush(self, session: Session) -> None:
        """Insert everything collected, then update the changed rows, in the caller's transaction (one
        executemany per table, values processed by their column types as a Core statement would, see
        ``bulk_insert.insert_many``)."""
        conn = session.connection()
        json_memo: JsonMemo = {}  # a reply's evidence is both its classification's and its audit entry's
        # The replies first: the other rows refer to them.
        insert_many(conn, cast(Table, InboundMessage.__table__), [row.values() for row in self.inbound.values()])
        for model, rows in (
            (ClassificationRecord, self.classifications),
            (Promise, self.promises),
            (ReviewItem, self.reviews),
            (Task, self.tasks),
            (AuditEntry, self.audit),
            (OutboxMessage, self.outbox),  # what ``outbox.insert_outbox`` does
        ):
            # On the table, not the mapped class: the ORM's bulk layer costs as much as the INSERT itself.
            insert_many(conn, cast(Table, model.__table__), rows, json_memo)
        for table, names, params in self._updates():
            update_many(conn, table, names, params)
        for rows in (self.classifications, self.promises, self.reviews, self.tasks, self.audit, self.outbox):
            rows.clear()
        self.inbound.clear()
        self._changes.clear()

    def _updates(self) -> list[tuple[Table, tuple[str, ...], list[dict[str, Any]]]]:
        """The changed rows by table and set of changed columns, in order: (table, columns, rows by column)."""
        groups: dict[tuple[str, tuple[str, ...]], tuple[Table, tuple[str, ...], list[dict[str, Any]]]] = {}
        for obj, before in self._changes.values():
            names = tuple(name for name, old in before.items() if getattr(obj, name) != old)
            if not names:
                continue
            # The mapped models name attributes as their columns.
            params = {name: getattr(obj, name) for name in names}
            if isinstance(obj, InvoiceRow):
                table = INVOICES_TABLE
                params["number"] = obj.number
            else:
                mapper = instance_state(obj).mapper
                table = cast(Table, mapper.local_table)
                for column in mapper.primary_key:
                    params[column.name] = getattr(obj, mapper.get_property_by_column(column).key)
            group = groups.get((table.name, names))
            if group is None:
                group = groups[(table.name, names)] = (table, names, [])
            group[2].append(params)
        return list(groups.values())
