"""The planner's snapshots read from the ledger: open invoices streamed client by client, and the clients.

The daily plan reads every open invoice (a million in the benchmark), so this path skips the ORM and
SQLAlchemy's per-value result processing: the compiled query runs on the driver (streamed) and values are
converted here, once per distinct value where that pays. SQLite hands back ISO strings for ``Date`` and
floats/ints for ``Numeric``; PostgreSQL's driver already returns ``date`` and ``Decimal``.
"""

from __future__ import annotations

import gc
import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import ClauseElement, Connection, func, select
from sqlalchemy.orm import Session

from bot.adapters.db.models import Client, Contact, Invoice, OutboxMessage, Task
from bot.domain.invoice import InvoiceState
from bot.domain.planner import ClientSnapshot, InvoiceSnapshot

FETCH = 5000
_CACHE_LIMIT = 50_000  # distinct dates or amounts kept converted (bounded: amounts are mostly distinct)

_OPEN_QUERY = (
    select(
        Invoice.number,
        Invoice.client_id,
        Invoice.issue_date,
        Invoice.due_date,
        Invoice.amount,
        Invoice.amount_paid,
        Invoice.currency,
        Invoice.paused_until,
        Invoice.promise_date,
        Invoice.last_step,
        Invoice.last_step_on,
        Invoice.cycle,
    )
    .where(Invoice.state == InvoiceState.OPEN.value)
    .order_by(Invoice.client_id)
)


class _Money(dict[Any, Decimal]):
    """float/int/str from the driver -> the ``Decimal`` SQLAlchemy's ``Numeric(14, 2)`` would return."""

    def __missing__(self, value: Any) -> Decimal:
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        found = self[value] = Decimal(value) if isinstance(value, Decimal | str) else Decimal(f"{value:.2f}")
        return found


class _Dates(dict[str, date]):
    """ISO text from SQLite -> ``date``; invoice dates repeat a lot, so each distinct one is parsed once."""

    def __missing__(self, value: str) -> date:
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        found = self[value] = date.fromisoformat(value)
        return found


class _Snapshot:
    """Builds a genuine :class:`InvoiceSnapshot` several times faster than its own constructor.

    A frozen dataclass sets each of its 13 fields through ``object.__setattr__`` (about 5 us a snapshot,
    more than fetching the row); this twin has the same slots, sets them plainly, then becomes an
    ``InvoiceSnapshot`` (``__class__`` assignment between classes of identical slot layout). The result is
    indistinguishable: same type, frozen, equal to a normally built one. Used only when the fields match
    exactly (checked below and by the tests); otherwise the normal constructor is used.
    """

    __slots__ = InvoiceSnapshot.__slots__

    def __init__(
        self,
        number: str,
        client_id: str,
        issue_date: date,
        due_date: date,
        amount: Decimal,
        amount_paid: Decimal,
        currency: str,
        state: InvoiceState,
        paused_until: date | None,
        promise_date: date | None,
        last_step: str | None,
        last_step_on: date | None,
        cycle: int,
    ) -> None:
        self.number = number
        self.client_id = client_id
        self.issue_date = issue_date
        self.due_date = due_date
        self.amount = amount
        self.amount_paid = amount_paid
        self.currency = currency
        self.state = state
        self.paused_until = paused_until
        self.promise_date = promise_date
        self.last_step = last_step
        self.last_step_on = last_step_on
        self.cycle = cycle
        self.__class__ = InvoiceSnapshot  # type: ignore[assignment]


def _fast_constructor_fits() -> bool:
    names = tuple(f.name for f in fields(InvoiceSnapshot))
    params = tuple(inspect.signature(_Snapshot.__init__).parameters)[1:]
    return (
        names == params and tuple(InvoiceSnapshot.__slots__) == names and not hasattr(InvoiceSnapshot, "__post_init__")
    )


#: What builds invoice snapshots here (``InvoiceSnapshot`` itself if its fields ever change).
make_snapshot: Callable[..., InvoiceSnapshot] = (
    cast("Callable[..., InvoiceSnapshot]", _Snapshot) if _fast_constructor_fits() else InvoiceSnapshot
)


def _sql(conn: Connection, query: ClauseElement) -> str:
    # Literal binds: the only parameter is the constant state name, and this keeps the SQL driver-neutral.
    return str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


def _stream(conn: Connection, query: ClauseElement) -> Iterator[Sequence[Any]]:
    """Plain driver tuples in batches, on the session's own connection and transaction.

    The DB-API cursor is used directly because wrapping every row in a SQLAlchemy ``Row`` costs about half
    as much again as fetching it. PostgreSQL gets a server-side (named) cursor so memory stays flat.
    """
    driver = conn.connection.driver_connection
    if driver is None:  # pragma: no cover - a live session connection always has one
        raise RuntimeError("no DB-API connection behind the session")
    sql = _sql(conn, query)
    named = conn.dialect.name == "postgresql"
    cursor = driver.cursor(name="relance_open_invoices") if named else driver.cursor()
    try:
        cursor.execute(sql)
        while batch := cursor.fetchmany(FETCH):
            yield batch
    finally:
        cursor.close()


def open_invoice_groups(session: Session) -> Iterator[tuple[str, list[InvoiceSnapshot]]]:
    """Open invoices grouped by client, streamed in client order (a client's invoices come together)."""
    if session.autoflush:
        session.flush()  # pending changes first, as an ORM query would (the cursor below bypasses the ORM)
    conn = session.connection()
    builder = _GroupBuilder(converted=conn.dialect.name == "sqlite")
    for batch in _stream(conn, _OPEN_QUERY):
        yield from builder.add(batch)
    if builder.group:
        yield builder.current, builder.group


class _GroupBuilder:
    """Turns driver rows into snapshots grouped by client, carrying a client's group across batches.

    Two copies of the row loop, on purpose: this is the hot path of the daily plan (a million rows), and
    the PostgreSQL one has nothing to convert, so it must not pay a call per value.
    """

    def __init__(self, *, converted: bool) -> None:
        self.converted = converted
        self.dates, self.money = _Dates(), _Money()
        self.current = ""
        self.group: list[InvoiceSnapshot] = []

    def add(self, batch: Sequence[Any]) -> list[tuple[str, list[InvoiceSnapshot]]]:
        done: list[tuple[str, list[InvoiceSnapshot]]] = []
        snapshot, open_state = make_snapshot, InvoiceState.OPEN
        current, group = self.current, self.group
        if self.converted:
            dates, money = self.dates, self.money
            for number, client_id, issued, due, amount, paid, currency, paused, promised, step, on, cycle in batch:
                if client_id != current:
                    if group:
                        done.append((current, group))
                    current, group = client_id, []
                group.append(
                    snapshot(
                        number,
                        client_id,
                        dates[issued],
                        dates[due],
                        money[amount],
                        money[paid],
                        currency,
                        open_state,
                        None if paused is None else dates[paused],
                        None if promised is None else dates[promised],
                        step,
                        None if on is None else dates[on],
                        cycle,
                    )
                )
        else:
            for number, client_id, issued, due, amount, paid, currency, paused, promised, step, on, cycle in batch:
                if client_id != current:
                    if group:
                        done.append((current, group))
                    current, group = client_id, []
                group.append(
                    snapshot(
                        number,
                        client_id,
                        issued,
                        due,
                        amount,
                        paid,
                        currency,
                        open_state,
                        paused,
                        promised,
                        step,
                        on,
                        cycle,
                    )
                )
        self.current, self.group = current, group
        return done


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for one bulk read-and-plan.

    Planning a large ledger allocates a few objects per invoice and frees them by reference counting (they
    form no cycles), yet each allocation burst triggers collections that walk every live object, imported
    modules included: about a fifth of the plan's time. Cycles made meanwhile are collected afterwards.
    Process-wide, so keep the block short and free of waits.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def client_snapshots(session: Session) -> dict[str, ClientSnapshot]:
    """Every client as the planner sees it: active contacts in order, and the day of its last reminder
    (email queued, or letter task) so the minimum gap between written reminders holds."""
    emails: dict[str, list[str]] = {}
    for client_id, email in session.execute(
        select(Contact.client_id, Contact.email).where(Contact.status == "active").order_by(Contact.position)
    ):
        emails.setdefault(client_id, []).append(email)
    last: dict[str, date] = {}
    for client_id, when in session.execute(
        select(OutboxMessage.client_id, func.max(OutboxMessage.next_attempt_at))
        .where(OutboxMessage.kind == "reminder")
        .group_by(OutboxMessage.client_id)
    ):
        if when is not None:
            last[client_id] = (when if isinstance(when, datetime) else datetime.fromisoformat(str(when))).date()
    for client_id, letter_day in session.execute(
        select(Task.client_id, func.max(Task.due_on)).where(Task.kind == "letter").group_by(Task.client_id)
    ):
        if letter_day is not None and (client_id not in last or letter_day > last[client_id]):
            last[client_id] = letter_day
    return {
        client_id: ClientSnapshot(
            client_id,
            name,
            language,
            profile,
            tuple(emails.get(client_id, ())),
            excluded,
            paused_until,
            last.get(client_id),
        )
        for client_id, name, language, profile, excluded, paused_until in session.execute(
            select(
                Client.client_id,
                Client.name,
                Client.language,
                Client.profile,
                Client.excluded,
                Client.paused_until,
            )
        )
    }
