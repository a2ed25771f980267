"""What the planner reads from the ledger: open invoices streamed client by client, and the clients.

The daily plan reads every open invoice (a million in the benchmark), so this path skips the ORM,
SQLAlchemy's per-value result processing and even snapshot objects: the compiled query runs on the driver
(streamed) and its tuples go to :meth:`Planner.plan_rows` as they are. PostgreSQL's driver already returns
``date`` and ``Decimal``; SQLite hands back ISO strings for ``Date`` (converted here, each distinct date
parsed once) and floats/ints for ``Numeric`` (left alone: the planner only compares the two amounts).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from itertools import chain, groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import ClauseElement, Connection, func, select
from sqlalchemy.orm import Session

from bot.adapters.db.models import Client, Contact, Invoice, OutboxMessage, Task
from bot.domain.invoice import InvoiceState
from bot.domain.planner import ClientSnapshot, InvoiceRow, new_client_snapshot

FETCH = 5000
#: libpq 17 added chunked rows mode, which ``psycopg``'s ``stream(size=...)`` uses.
_LIBPQ_CHUNKED = 170000
_CACHE_LIMIT = 50_000  # distinct dates kept parsed (bounded, though a ledger has few)

_OPEN_QUERY = (
    select(
        Invoice.client_id,
        Invoice.number,
        Invoice.due_date,
        Invoice.amount,
        Invoice.amount_paid,
        Invoice.paused_until,
        Invoice.promise_date,
        Invoice.last_step,
        Invoice.last_step_on,
        Invoice.cycle,
    )
    .where(Invoice.state == InvoiceState.OPEN.value)
    .order_by(Invoice.client_id)
)
#: The planner's row layout, which the query above must follow column for column (checked by the tests).
OPEN_COLUMNS = tuple(c.name for c in _OPEN_QUERY.selected_columns)


class _Dates(dict[str, date]):
    """ISO text from SQLite -> ``date``; invoice dates repeat a lot, so each distinct one is parsed once."""

    def __missing__(self, value: str) -> date:
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        found = self[value] = date.fromisoformat(value)
        return found


def _sql(conn: Connection, query: ClauseElement) -> str:
    # Literal binds: the only parameter is the constant state name, and this keeps the SQL driver-neutral.
    return str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


@contextmanager
def _open_rows(conn: Connection, query: ClauseElement) -> Iterator[Iterator[Sequence[Any]]]:
    """Plain driver tuples, streamed on the session's own connection and transaction.

    The DB-API cursor is used directly because wrapping every row in a SQLAlchemy ``Row`` costs about half
    as much again as fetching it, and rows flow through C iterators only (``chain``, psycopg's stream).
    SQLite's rows are re-made with real dates (:func:`_dated`). Memory stays flat on PostgreSQL too: chunked
    rows mode (libpq 17+), else a named (server-side) cursor. Chunked mode is one query whose rows the
    server keeps sending while the planner works on the previous chunk; a named cursor waits for a FETCH
    round trip per batch instead, the server idle meanwhile.
    """
    driver = conn.connection.driver_connection
    if driver is None:  # pragma: no cover - a live session connection always has one
        raise RuntimeError("no DB-API connection behind the session")
    sql = _sql(conn, query)
    if conn.dialect.name == "postgresql":
        import psycopg

        if psycopg.pq.version() >= _LIBPQ_CHUNKED:
            rows = driver.cursor().stream(sql, size=FETCH)
            try:
                yield rows
            finally:
                # Left early: read the rest rather than let psycopg cancel the query, which would abort
                # the session's transaction (a named cursor is simply closed).
                for _row in rows:
                    pass
            return
        cursor = driver.cursor(name="relance_open_invoices")
    else:
        cursor = driver.cursor()
    try:
        cursor.execute(sql)
        batches = iter(lambda: cursor.fetchmany(FETCH), [])
        if conn.dialect.name == "sqlite":
            dates = _Dates()
            batches = (_dated(batch, dates) for batch in batches)
        yield chain.from_iterable(batches)
    finally:
        cursor.close()


def _dated(batch: Sequence[Any], dates: _Dates) -> list[InvoiceRow]:
    """SQLite rows with their ISO date texts turned into dates (amounts stay the driver's numbers)."""
    return [
        (client, number, dates[due], amount, paid, paused and dates[paused], promised and dates[promised], step,
         on and dates[on], cycle)
        for client, number, due, amount, paid, paused, promised, step, on, cycle in batch
    ]  # fmt: skip


def open_invoice_groups(session: Session) -> Iterator[tuple[str, Iterator[InvoiceRow]]]:
    """Open invoices as planner rows grouped by client, streamed in client order (each client once).

    Each group is an iterator valid until the next group is taken (``itertools.groupby``).
    """
    if session.autoflush:
        session.flush()  # pending changes first, as an ORM query would (the cursor below bypasses the ORM)
    with _open_rows(session.connection(), _OPEN_QUERY) as rows:
        yield from groupby(rows, itemgetter(0))


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
    # Core results on the session's connection, fetched whole (a row each, 50,000 clients in the benchmark):
    # the ORM's result layer and row-by-row fetching cost more than the rows themselves.
    conn = session.connection()
    emails: dict[str, list[str]] = {}
    for client_id, email in conn.execute(
        select(Contact.client_id, Contact.email).where(Contact.status == "active").order_by(Contact.position)
    ).all():
        found = emails.get(client_id)
        if found is None:
            emails[client_id] = [email]
        else:
            found.append(email)
    last: dict[str, date] = {}
    for client_id, when in conn.execute(
        select(OutboxMessage.client_id, func.max(OutboxMessage.next_attempt_at))
        .where(OutboxMessage.kind == "reminder")
        .group_by(OutboxMessage.client_id)
    ):
        if when is not None:
            last[client_id] = (when if isinstance(when, datetime) else datetime.fromisoformat(str(when))).date()
    for client_id, letter_day in conn.execute(
        select(Task.client_id, func.max(Task.due_on)).where(Task.kind == "letter").group_by(Task.client_id)
    ):
        if letter_day is not None and (client_id not in last or letter_day > last[client_id]):
            last[client_id] = letter_day
    make, no_emails = new_client_snapshot, ()
    return {
        client_id: make(
            client_id,
            name,
            language,
            profile,
            tuple(found) if (found := emails.get(client_id)) else no_emails,
            excluded,
            paused_until,
            last.get(client_id),
        )
        for client_id, name, language, profile, excluded, paused_until in conn.execute(
            select(
                Client.client_id,
                Client.name,
                Client.language,
                Client.profile,
                Client.excluded,
                Client.paused_until,
            )
        ).all()
    }
