"""Bulk inserts of many rows that share most of their values (the audit entries of one import).

SQLAlchemy's Core ``executemany`` runs every value of every row through its column type's bind processor
(a JSON dump for each JSON column, a conversion for each timestamp) and builds each row's parameters
generically. For 100,000 audit entries that all carry the same time, actor, action and empty ``old``,
that is most of the insert. Here the shared values go through the real column types once, per-row values
through the same processors, and the statement is built on untyped columns so nothing is processed twice.
What lands in the database is exactly what an ORM or Core insert would write (the tests compare).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, column, insert, table
from sqlalchemy.sql.expression import TableClause
from sqlalchemy.types import NullType

CHUNK = 5000


def _processor(tab: Table, name: str, conn: Connection) -> Callable[[Any], Any] | None:
    dialect = conn.dialect
    found: Callable[[Any], Any] | None = tab.c[name].type.dialect_impl(dialect).bind_processor(dialect)
    return found


def _untyped(tab: Table, names: Sequence[str]) -> TableClause:
    return table(tab.name, *(column(n, NullType()) for n in names), schema=tab.schema)


def insert_rows(conn: Connection, tab: Table, rows: Sequence[Mapping[str, Any]], shared: Mapping[str, Any]) -> None:
    """Insert ``rows`` (per-row values) into ``tab``, each completed with ``shared`` (the same for all)."""
    if not rows:
        return
    per_row = list(rows[0])
    # None goes through the processor too, as SQLAlchemy does (a JSON column stores JSON null for it).
    done_shared: dict[str, Any] = {}
    for name, value in shared.items():
        process = _processor(tab, name, conn)
        done_shared[name] = value if process is None else process(value)
    processors = [(n, p) for n in per_row if (p := _processor(tab, n, conn)) is not None]
    statement = insert(_untyped(tab, [*per_row, *done_shared]))
    for start in range(0, len(rows), CHUNK):
        batch = []
        for row in rows[start : start + CHUNK]:
            values = dict(row)
            for name, process in processors:
                values[name] = process(values[name])
            values.update(done_shared)
            batch.append(values)
        conn.execute(statement, batch)
