"""SELECTs over a list of keys (``column IN (...)``), in the form each database runs with the least work.

An inbox batch reads its rows with a dozen statements over the batch's keys (a few hundred addresses, client ids,
invoice numbers, UIDs). SQLAlchemy renders an expanding ``IN`` list again at each execution, one bind parameter
per key: about 1 ms per statement for 200 keys, several per cent of recording a backlog. On SQLite the keys go
instead as one JSON array that ``json_each`` unfolds (``IN (SELECT value FROM json_each(?))``): the statement is
compiled once and cached, and SQLite still looks each key up in the column's index (tests check the plans).
Other databases keep the expanding list, which their drivers handle well.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVarTuple

from sqlalchemy import ColumnElement, Connection, Select, String, bindparam, func, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.sql.elements import BindParameter

Ts = TypeVarTuple("Ts")

#: What a statement's builder is given: ``keyed(column)`` is the condition ``column IN keys`` (a column, or a
#: mapped attribute).
Keyed = Callable[[Any], ColumnElement[bool]]

_EXPANDING: BindParameter[Any] = bindparam("keys", expanding=True)
_JSON_KEYS = func.json_each(bindparam("keys_json", type_=String())).table_valued("value")


def _in_list(column: Any) -> ColumnElement[bool]:
    condition: ColumnElement[bool] = column.in_(_EXPANDING)
    return condition


def _in_json(column: Any) -> ColumnElement[bool]:
    condition: ColumnElement[bool] = column.in_(select(_JSON_KEYS.c.value))
    return condition


class KeyedSelect(Generic[*Ts]):
    """One SELECT over a list of keys, built by ``build(keyed)`` once per form (see the module's docstring)."""

    def __init__(self, build: Callable[[Keyed], Select[*Ts]]) -> None:
        self.expanding: Select[*Ts] = build(_in_list)
        self.json: Select[*Ts] = build(_in_json)

    def form(self, dialect_name: str, keys: Sequence[Any], **params: Any) -> tuple[Select[*Ts], dict[str, Any]]:
        """The statement and parameters to execute for ``keys`` on this database (for ``Session.scalars``)."""
        if dialect_name == "sqlite":
            return self.json, {"keys_json": json.dumps(list(keys)), **params}
        return self.expanding, {"keys": list(keys), **params}

    def execute(self, connection: Connection, keys: Sequence[Any], **params: Any) -> CursorResult[*Ts]:
        """Run on ``connection``; an empty ``keys`` still runs (and finds nothing)."""
        statement, values = self.form(connection.dialect.name, keys, **params)
        return connection.execute(statement, values)
