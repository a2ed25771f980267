"""The durable outbox: record first, then send, then mark sent (DESIGN.md, "Reliability promises").

A message is rendered and stored with a unique idempotency key and a deterministic Message-ID in the same
transaction as the decision that caused it. Workers then claim due rows, send them, and record the outcome.
A crash after the server accepted a message but before the "sent" commit leaves the row in ``sending``; once
its claim expires another worker sends it again and logs it as *possibly sent twice* — the only window where a
duplicate can happen, and the Message-ID lets the recipient's mail system drop it.

This module records rows (keys, column values, inserts); ``outbox_delivery`` sends them and records each
outcome, with ``outbox_claim`` for claiming due rows and marking them sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from bot.adapters.db.models import OutboxMessage
from bot.app.bulk_insert import insert_many
from bot.ports import OutgoingMail


def add_to_outbox(
    session: Session,
    *,
    key: str,
    mail: OutgoingMail,
    kind: str,
    client_id: str,
    invoice_numbers: Sequence[str],
    step: str | None,
    template: str,
    language: str,
    subject: str,
    now: datetime,
    deadline: timedelta,
    not_before: datetime | None = None,
    fresh_key: bool = False,
) -> OutboxMessage | None:
    """Record a message to send; returns None when the key is already there (never twice).

    ``fresh_key``: the caller knows no stored row can hold ``key`` (made from something recorded for the first
    time in this transaction), so only the keys this session added are checked; the unique index still guards.
    """
    return add_outbox_row(
        session,
        outbox_values(
            key=key,
            mail=mail,
            kind=kind,
            client_id=client_id,
            invoice_numbers=invoice_numbers,
            step=step,
            template=template,
            language=language,
            subject=subject,
            now=now,
            deadline=deadline,
            not_before=not_before,
        ),
        fresh_key=fresh_key,
    )


def add_outbox_row(session: Session, values: dict[str, Any], *, fresh_key: bool = False) -> OutboxMessage | None:
    """Add the row of ``outbox_values`` to the session; None when its key is already recorded (never twice)."""
    key = values["idempotency_key"]
    # Callers record many messages per transaction: reading without a flush lets their rows go to the database
    # in a few multi-row INSERTs; the rows not flushed yet are checked in memory.
    known = None
    if not fresh_key:
        with session.no_autoflush:
            known = session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key))
    if known is not None or not claim_key(session, key):
        return None
    row = OutboxMessage(**values)
    session.add(row)
    return row


def claim_key(session: Session, key: str) -> bool:
    """True the first time this session records ``key``; False if it already did (flushed or not)."""
    # A set, because a cycle adds hundreds of keys per transaction.
    added: set[str] = session.info.setdefault("outbox_keys", set())
    if key in added:
        return False
    added.add(key)
    return True


def outbox_values(
    *,
    key: str,
    mail: OutgoingMail,
    kind: str,
    client_id: str,
    invoice_numbers: Sequence[str],
    step: str | None,
    template: str,
    language: str,
    subject: str,
    now: datetime,
    deadline: timedelta,
    not_before: datetime | None = None,
) -> dict[str, Any]:
    """Every column of a new ``pending`` outbox row, for ``OutboxMessage(**values)`` or ``insert_outbox``."""
    return {
        "idempotency_key": key,
        "message_id": mail.message_id,
        "kind": kind,
        "client_id": client_id,
        "invoice_numbers": list(invoice_numbers),
        "step": step,
        "template": template,
        "language": language,
        "recipients": list(mail.recipients),
        "subject": subject,
        "raw": mail.data,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": not_before or now,
        "deadline_at": (not_before or now) + deadline,
        "created_at": now,
        "last_error": None,
        "claimed_by": None,
        "claimed_at": None,
        "sent_at": None,
    }


def insert_outbox(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Write new outbox rows (from ``outbox_values``) in the caller's transaction, a few multi-row INSERTs.

    Durable when the caller's transaction commits, which is before anything is sent: the rows carry their
    idempotency key and Message-ID, and the unique indexes refuse a second row for either.
    """
    # On the table, not the mapped class: the ORM's bulk-insert layer cost as much as the INSERT itself.
    insert_many(session.connection(), cast(Table, OutboxMessage.__table__), rows)
