"""Rows an inbox batch changes, read as plain objects rather than ORM entities.

Loading an ORM entity, reading its instrumented attributes and setting them without history cost more than the
reply's actions on it. A batch changes invoices only through ``BatchWrites.change``, which writes the changed
columns back with the batch's other writes (one executemany per table and set of columns), as it does for
entities: what reaches the database is the same.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Row, Table

from bot.adapters.db.models import Invoice

__all__ = ["INVOICES_TABLE", "InvoiceRow"]

INVOICES_TABLE = cast(Table, Invoice.__table__)
_COLUMNS = tuple(column.name for column in INVOICES_TABLE.columns)


class InvoiceRow:
    """One invoice as stored when the batch read it, then as the batch's replies changed it."""

    __slots__ = _COLUMNS

    number: str
    normalised_number: str
    client_id: str
    issue_date: date
    due_date: date
    amount: Decimal
    currency: str
    amount_paid: Decimal
    state: str
    paused_until: date | None
    promise_date: date | None
    last_step: str | None
    last_step_on: date | None
    cycle: int
    document_path: str | None
    created_at: datetime
    updated_at: datetime

    def __init__(self, row: Row[Any]) -> None:
        """``row``: every column of ``INVOICES_TABLE``, in order (``select(*INVOICES_TABLE.columns)``)."""
        for name, value in zip(_COLUMNS, row, strict=True):
            setattr(self, name, value)

    @property
    def balance(self) -> Decimal:
        return self.amount - self.amount_paid

    def __repr__(self) -> str:
        return f"InvoiceRow({self.number!r}, {self.state!r})"
