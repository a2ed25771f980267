"""One ledger import run: its rows validated before anything is written, the run recorded, its result.

Every row is validated and every problem collected before anything is written; then the whole file is
applied in one transaction (``client_import``, ``invoice_import``, ``payment_import``). Re-importing the
same file changes nothing (upserts compare values first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.adapters.db.models import ImportRun
from bot.app.csvfile import CsvTable
from bot.domain.errors import FieldProblem

Progress = Callable[[int], None]
ACTOR = "import"


@dataclass(frozen=True)
class ImportResult:
    kind: str
    rows: int
    created: int
    updated: int
    unchanged: int

    def summary(self) -> str:
        return (
            f"{self.kind}: {self.rows} rows — {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged"
        )


def collect_rows(
    table: CsvTable, parse: Callable[[int, dict[str, str]], Any], key: Callable[[Any], str], key_field: str
) -> tuple[list[tuple[int, Any]], list[FieldProblem]]:
    records: list[tuple[int, Any]] = []
    problems: list[FieldProblem] = []
    seen: dict[str, int] = {}
    for line, values in table.rows:
        result = parse(line, values)
        if isinstance(result, list):
            problems.extend(result)
            continue
        k = key(result)
        if k in seen:
            problems.append(FieldProblem(line, key_field, f"duplicate of line {seen[k]}", k))
            continue
        seen[k] = line
        records.append((line, result))
    return records, problems


def record_run(session: Session, table: CsvTable, kind: str, now: datetime, created: int, updated: int) -> None:
    session.add(
        ImportRun(
            kind=kind,
            source=table.source,
            sha256=table.sha256,
            rows=len(table.rows),
            created=created,
            updated=updated,
            imported_at=now,
        )
    )
