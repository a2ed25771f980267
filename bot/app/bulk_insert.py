"""Bulk inserts of many rows that share most of their values (the audit entries of one import).

SQLAlchemy's Core ``executemany`` runs every value of every row through its column type's bind processor
(a JSON dump for each JSON column, a conversion for each timestamp) and builds each row's parameters
generically. For 100,000 audit entries that all carry the same time, actor, action and empty ``old``,
that is most of the insert. Here the shared values go through the real column types once, per-row values
through the same processors, and the statement is built on untyped columns so nothing is processed twice.
What lands in the database is exactly what an ORM or Core insert would write (the tests compare).

:func:`insert_many` and :func:`update_many` do the same for rows that share nothing in particular (an inbox
batch's classifications, audit entries, acknowledgements, invoice state changes): each value goes through its
column's processor, values repeated down a column (the batch's time, NULLs, short strings) only once.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Dialect,
    Insert,
    Table,
    Update,
    and_,
    bindparam,
    column,
    func,
    insert,
    select,
    table,
    text,
    update,
)
from sqlalchemy.sql.expression import TableClause
from sqlalchemy.sql.schema import ScalarElementColumnDefault
from sqlalchemy.types import NullType

CHUNK = 5000


def _processor(tab: Table, name: str, conn: Connection) -> Callable[[Any], Any] | None:
    dialect = conn.dialect
    found: Callable[[Any], Any] | None = tab.c[name].type.dialect_impl(dialect).bind_processor(dialect)
    return found


def _untyped(tab: Table, names: Sequence[str]) -> TableClause:
    return table(tab.name, *(column(n, NullType()) for n in names), schema=tab.schema)


@functools.lru_cache(maxsize=256)
def _insert_statement(tab: Table, names: tuple[str, ...]) -> Insert:
    # The same statement object each time: SQLAlchemy then finds its compiled form without rebuilding its key.
    return insert(_untyped(tab, names))


def insert_rows(
    conn: Connection,
    tab: Table,
    rows: Sequence[Mapping[str, Any]],
    shared: Mapping[str, Any],
    json_memo: JsonMemo | None = None,
) -> None:
    """Insert ``rows`` (per-row values) into ``tab``, each completed with ``shared`` (the same for all);
    ``json_memo``: see ``insert_many``."""
    if not rows:
        return
    per_row = list(rows[0])
    # None goes through the processor too, as SQLAlchemy does (a JSON column stores JSON null for it).
    done_shared: dict[str, Any] = {}
    for name, value in shared.items():
        process = _processor(tab, name, conn)
        done_shared[name] = value if process is None else process(value)
    names = (*per_row, *done_shared)
    statement = _insert_statement(tab, names)
    positions = {name: i for i, name in enumerate(per_row)}
    converted = [(positions[name], convert) for name, convert in _converters(tab, per_row, conn, json_memo)]
    for begin in range(0, len(rows), CHUNK):
        chunk = rows[begin : begin + CHUNK]
        # Column by column: one call per column and chunk instead of one per value.
        columns = [[row[name] for row in chunk] for name in per_row]
        for i, convert in converted:
            columns[i] = convert.column(columns[i])
        shared_columns = [itertools.repeat(value, len(chunk)) for value in done_shared.values()]
        values = zip(*columns, *shared_columns, strict=True)
        if conn.dialect.name == "sqlite":
            # The values are processed already: the driver's executemany on the statement's SQL skips Core's
            # per-row parameter building, which cost as much as the INSERT. (Elsewhere Core's executemany
            # batches the rows into multi-row statements: kept.)
            conn.exec_driver_sql(_positional_sql(statement, names, conn.dialect), list(values))
        else:
            conn.execute(statement, [dict(zip(names, row, strict=True)) for row in values])


@functools.lru_cache(maxsize=256)
def _positional_sql(statement: Insert, names: tuple[str, ...], dialect: Dialect) -> str:
    """The INSERT's SQL for a positional (``?``) driver, its parameters in the order of ``names``."""
    compiled = statement.compile(dialect=dialect)
    if compiled.positiontup != list(names):
        raise AssertionError(f"unexpected parameter order {compiled.positiontup} for {names}")
    return str(compiled)


#: Values whose processed form depends only on their type and value, so a column processes each once. Not
#: floats (0.0 == -0.0) nor decimals (Decimal("1.0") == Decimal("1.00")), which print differently.
_MEMO_TYPES = (type(None), str, bool, int, date, datetime)
#: Scalars inside a JSON list or dict that make its key (``_flat_key``): equal ones print the same, once their
#: type is part of the key (``True == 1``).
_FLAT_TYPES = (type(None), str, bool, int)

_MISSING = object()

#: Processed JSON containers of one batch's inserts by identity (``id`` → (the value, kept alive so that its
#: id is not reused, its processed form)): a reply's evidence list goes into its classification and its audit
#: entry, one JSON dump.
JsonMemo = dict[int, tuple[object, Any]]


def _flat_key(value: list[Any] | dict[Any, Any]) -> tuple[Any, ...] | None:
    """A key equal for two lists (or dicts) exactly when their JSON is the same, or None when the container
    holds anything but ``_FLAT_TYPES`` (nested containers, floats)."""
    flat = _FLAT_TYPES
    if isinstance(value, list):
        if all(type(item) in flat for item in value):
            return (list, *[(type(item), item) for item in value])
        return None
    if all(type(k) is str and type(v) in flat for k, v in value.items()):
        return (dict, *[(k, type(v), v) for k, v in value.items()])
    return None


class _Column:
    """One column's bind processor, remembering what it made of the values seen (see ``_MEMO_TYPES``, and
    ``_flat_key`` and ``JsonMemo`` for JSON lists and dicts)."""

    __slots__ = ("json_memo", "memo", "process")

    def __init__(self, process: Callable[[Any], Any], json_memo: JsonMemo | None = None) -> None:
        self.process = process
        self.memo: dict[tuple[Any, ...], Any] = {}
        self.json_memo = json_memo

    def column(self, values: list[Any]) -> list[Any]:
        """The processed ``values``, each distinct one processed once (see ``_MEMO_TYPES``; the zone is part of a
        datetime's key: equal aware datetimes in different zones are equal)."""
        memo, process, memo_types, missing = self.memo, self.process, _MEMO_TYPES, _MISSING
        done: list[Any] = []
        for value in values:
            kind = type(value)
            key: tuple[Any, ...] | None
            if kind in memo_types:
                key = (kind, value, value.tzinfo) if kind is datetime else (kind, value)
            elif kind is list or kind is dict:
                key = _flat_key(value)
            else:
                done.append(process(value))
                continue
            if key is None:
                done.append(self._by_identity(value))
                continue
            hit = memo.get(key, missing)
            if hit is missing:
                hit = memo[key] = process(value)
            done.append(hit)
        return done

    def _by_identity(self, value: Any) -> Any:
        if self.json_memo is None:
            return self.process(value)
        hit = self.json_memo.get(id(value))
        if hit is None or hit[0] is not value:
            hit = self.json_memo[id(value)] = (value, self.process(value))
        return hit[1]


def _converters(
    tab: Table, names: Sequence[str], conn: Connection, json_memo: JsonMemo | None = None
) -> list[tuple[str, _Column]]:
    # The identity memo only for JSON columns: their processors all write the same JSON for the same value.
    return [
        (n, _Column(p, json_memo if isinstance(tab.c[n].type, JSON) else None))
        for n in names
        if (p := _processor(tab, n, conn)) is not None
    ]


def insert_many(
    conn: Connection, tab: Table, rows: Sequence[Mapping[str, Any]], json_memo: JsonMemo | None = None
) -> None:
    """``conn.execute(insert(tab), rows)`` (rows with the same keys), each distinct value processed once.

    Columns left out take their scalar default, as with a Core insert; a table with a callable default left
    out is inserted the Core way. ``json_memo``: JSON containers processed by earlier inserts of the same
    values, by identity (see ``JsonMemo``; the values must not change meanwhile).
    """
    if not rows:
        return
    names = list(rows[0])
    defaults: dict[str, Any] = {}
    for col in tab.c:
        if col.name in names or col.default is None:
            continue
        if not isinstance(col.default, ScalarElementColumnDefault):
            conn.execute(insert(tab), list(rows))
            return
        defaults[col.name] = col.default.arg
    insert_rows(conn, tab, rows, defaults, json_memo)


@functools.lru_cache(maxsize=256)
def _update_statement(tab: Table, names: tuple[str, ...], keys: tuple[str, ...]) -> Update:
    untyped = _untyped(tab, [*names, *keys])
    return (
        update(untyped)
        .where(and_(*(untyped.c[k] == bindparam(f"k_{k}") for k in keys)))
        .values({untyped.c[n]: bindparam(f"v_{n}") for n in names})
    )


def update_many(conn: Connection, tab: Table, names: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    """``UPDATE tab SET name = ... WHERE primary key = ...`` for each row (the new values and the key columns,
    by column name), as a Core executemany would write them, each distinct value processed once."""
    if not rows:
        return
    keys = [c.name for c in tab.primary_key.columns]
    statement = _update_statement(tab, tuple(names), tuple(keys))
    converters = dict(_converters(tab, [*names, *keys], conn))
    columns = []
    for name in [*names, *keys]:
        values = [row[name] for row in rows]
        convert = converters.get(name)
        columns.append(convert.column(values) if convert is not None else values)
    params = [f"v_{n}" for n in names] + [f"k_{k}" for k in keys]
    conn.execute(statement, [dict(zip(params, row, strict=True)) for row in zip(*columns, strict=True)])


def allocate_ids(conn: Connection, tab: Table, count: int) -> list[int]:
    """``count`` new values of ``tab``'s integer primary key, ascending, for rows this transaction will insert
    with their ids given (rows that others refer to, inserted in one executemany with them).

    PostgreSQL: from the column's sequence, as an INSERT would take them (replicas never collide). SQLite: the
    ones after the highest id, as SQLite itself would give them (``INTEGER PRIMARY KEY``, no AUTOINCREMENT);
    that is safe only because a transaction that writes holds SQLite's write lock from its start (``BEGIN
    IMMEDIATE``, ``engine.transaction``), and only if nothing else in the transaction inserts into ``tab``
    before these rows are.
    """
    if count <= 0:
        return []
    (key,) = tab.primary_key.columns
    if conn.dialect.name == "postgresql":
        sequence = conn.execute(
            text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": tab.name, "c": key.name}
        ).scalar_one()
        found = conn.execute(
            text("SELECT nextval(CAST(:s AS regclass)) FROM generate_series(1, :n)"), {"s": sequence, "n": count}
        ).scalars()
        return sorted(found)
    if conn.dialect.name != "sqlite":
        raise NotImplementedError(f"allocate_ids on {conn.dialect.name}")
    top = conn.execute(select(func.max(key))).scalar() or 0
    return list(range(top + 1, top + 1 + count))
