"""Reading ledger CSV files as real exports write them: BOM or not, `,` or `;`, with line numbers."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.domain.errors import FieldProblem, InputError


@dataclass(frozen=True)
class CsvTable:
    source: str
    sha256: str
    columns: tuple[str, ...]
    rows: list[tuple[int, dict[str, str]]]  # (line number in the file, values by column)


def read_csv(path: Path, required: Sequence[str]) -> CsvTable:
    """Read and check the header; every problem is an :class:`InputError` naming file, line and field."""
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(source, [FieldProblem(0, "file", f"cannot read: {exc.strerror}")]) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            source,
            [FieldProblem(line, "encoding", "not UTF-8; export the file as UTF-8 (with or without BOM)")],
        ) from exc
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(
            source, [FieldProblem(1, "header", "the file is empty; expected a header row")]
        ) from None
    columns = tuple(h.strip().lower() for h in header)
    missing = [c for c in required if c not in columns]
    problems = [FieldProblem(1, c, "missing column in the header row") for c in missing]
    if problems:
        raise InputError(source, problems)
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(columns):
                problems.append(
                    FieldProblem(
                        line,
                        "row",
                        f"expected {len(columns)} values separated by {delimiter!r}, found {len(values)}",
                    )
                )
                continue
            rows.append((line, dict(zip(columns, values, strict=True))))
    except csv.Error as exc:
        problems.append(FieldProblem(reader.line_num, "row", f"unreadable CSV: {exc}"))
    if problems:
        raise InputError(source, problems)
    return CsvTable(source, hashlib.sha256(data).hexdigest(), columns, rows)
