"""insert_rows writes exactly what a Core insert of the same values writes (JSON null, UTC times...)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, insert, text

from bot.adapters.db.engine import open_database
from bot.adapters.db.models import AuditEntry
from bot.app.bulk_insert import insert_rows

AUDIT = cast("Table", AuditEntry.__table__)
NOW = datetime(2026, 11, 1, 9, 30, 15, 123456, tzinfo=UTC)
COLUMNS = "at, actor, entity, entity_id, action, CAST(old AS TEXT), CAST(new AS TEXT), reason, CAST(evidence AS TEXT)"


def test_insert_rows_stores_what_core_insert_stores(db_url: str) -> None:
    engine = open_database(db_url)
    shared: dict[str, Any] = {
        "at": NOW,
        "actor": "import",
        "entity": "invoice",
        "action": "created",
        "old": None,
        "reason": "invoice imported",
        "evidence": None,
    }
    rows = [{"entity_id": f"N{i}", "new": {"number": f"N{i}", "amount": "1.50", "é": None}} for i in range(7)]
    with engine.begin() as conn:
        conn.execute(insert(AUDIT), [row | shared for row in rows])
        insert_rows(conn, AUDIT, rows, shared)
        insert_rows(conn, AUDIT, [], shared)  # nothing to do
        stored = conn.execute(text(f"SELECT {COLUMNS} FROM audit_log ORDER BY id")).all()
    assert len(stored) == 14
    assert stored[:7] == stored[7:]
    assert stored[0][5] == "null" and '"N0"' in stored[0][6]
