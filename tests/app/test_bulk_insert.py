"""insert_rows writes exactly what a Core insert of the same values writes (JSON null, UTC times...)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, text, update

from bot.adapters.db.engine import open_database
from bot.adapters.db.models import AuditEntry, Client, OutboxMessage, ReviewItem
from bot.app.bulk_insert import JsonMemo, insert_many, insert_rows, update_many

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


OUTBOX = cast("Table", OutboxMessage.__table__)
PARIS = timezone(timedelta(hours=1))


def _outbox_rows() -> list[dict[str, Any]]:
    # The same instant in two zones, equal strings, lists and NULLs: what the memo must not confuse.
    times = [NOW, NOW.astimezone(PARIS), NOW + timedelta(microseconds=1)]
    return [
        {
            "idempotency_key": f"k{i}",
            "message_id": f"<m{i}@t>",
            "kind": "ack",
            "client_id": "C1",
            "invoice_numbers": ["F1", "F2"] if i % 2 else [],
            "step": None if i % 3 else "reminder_1",
            "template": "promise_ack",
            "language": "fr",
            "recipients": ["a@b.test"],
            "subject": "Sujet é",
            "raw": b"raw\r\n",
            "next_attempt_at": times[i % 3],
            "deadline_at": times[2],
            "created_at": times[(i + 1) % 3],
        }
        for i in range(7)
    ]


def test_insert_many_and_update_many_store_what_core_statements_store(db_url: str) -> None:
    """Every column as the database holds it, after the same rows went the Core way and the memoised way."""
    engine = open_database(db_url)
    with engine.begin() as conn:
        conn.execute(
            insert(cast("Table", Client.__table__)),
            {
                "client_id": "C1",
                "name": "C",
                "language": "fr",
                "profile": "standard",
                "created_at": NOW,
                "updated_at": NOW,
            },
        )
    results = []
    for way in ("core", "many"):
        with engine.begin() as conn:
            conn.execute(OUTBOX.delete())
            rows = _outbox_rows()
            if way == "core":
                conn.execute(insert(OUTBOX), rows)  # status and attempts from their column defaults
            else:
                insert_many(conn, OUTBOX, rows)
            ids = [r[0] for r in conn.execute(text("SELECT id FROM outbox ORDER BY id"))]
            changes = [
                {"status": "sent", "sent_at": NOW.astimezone(PARIS), "attempts": 1, "id": ids[0]},
                {"status": "sent", "sent_at": NOW, "attempts": 2, "id": ids[3]},
            ]
            if way == "core":
                conn.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id == bindparam("k_id"))
                    .values(status=bindparam("v_status"), sent_at=bindparam("v_sent"), attempts=bindparam("v_att")),
                    [
                        {"k_id": c["id"], "v_status": c["status"], "v_sent": c["sent_at"], "v_att": c["attempts"]}
                        for c in changes
                    ],
                )
            else:
                update_many(conn, OUTBOX, ("status", "sent_at", "attempts"), changes)
            columns = ", ".join(f"CAST({c.name} AS TEXT)" for c in OUTBOX.c if c.name != "id")
            results.append(conn.execute(text(f"SELECT {columns} FROM outbox ORDER BY id")).all())
    assert len(results[0]) == 7
    assert results[0] == results[1]
    assert results[1][0][11:13] == ("sent", "1")  # status, attempts


def test_json_values_that_look_alike_keep_their_own_json(db_url: str) -> None:
    """Lists and dicts are processed once per content, and a container given to two inserts of one batch once:
    values equal in Python but written differently in JSON (True and 1, 0 and 0.0, key order, nested) each
    keep what a Core insert writes."""
    shared_evidence = [{"rule": "r", "weight": 1.0}, {"rule": "s", "weight": -0.0}]
    news: list[Any] = [
        {"a": True},
        {"a": 1},
        {"a": 1.0},
        {"b": 2, "a": 1},
        {"a": 1, "b": 2},
        ["x", 1],
        ["x", True],
        ["x", 1.0],
        [],
        {},
        {"a": None},
        {"a": {"nested": 1}},
        {"a": {"nested": True}},
        {"1": "one"},
        {1: "one"},
        shared_evidence,
        ["x", 1],
        {"a": True},
    ]
    rows = [{"entity_id": f"N{i}", "new": new, "evidence": shared_evidence} for i, new in enumerate(news)]
    fixed = {"at": NOW, "actor": "bot", "entity": "invoice", "action": "x", "old": None, "reason": "r"}
    engine = open_database(db_url)
    with engine.begin() as conn:
        conn.execute(insert(AUDIT), [row | fixed for row in rows])
        memo: JsonMemo = {}
        insert_many(conn, AUDIT, [row | fixed for row in rows], memo)
        insert_many(conn, AUDIT, [row | fixed for row in rows], memo)  # the same containers again
        stored = conn.execute(text(f"SELECT {COLUMNS} FROM audit_log ORDER BY id")).all()
    n = len(rows)
    assert stored[:n] == stored[n : 2 * n] == stored[2 * n :]
    written = [row[6] for row in stored[:n]]
    assert written[0] != written[1] != written[2] and written[3] != written[4] and written[5] != written[6]
    assert written[11] != written[12] and written[13] == written[14]
    assert {row[8] for row in stored} == {stored[0][8]} and "-0.0" in stored[0][8]


def test_insert_many_falls_back_to_core_for_a_callable_default(db_url: str) -> None:
    engine = open_database(db_url)
    review = cast("Table", ReviewItem.__table__)
    with engine.begin() as conn:
        insert_many(conn, review, [{"kind": "reply", "reason": "r", "created_at": NOW}])  # invoice_numbers: list()
        stored = conn.execute(text("SELECT status, CAST(invoice_numbers AS TEXT) FROM review_items")).all()
    assert stored == [("open", "[]")]


def test_allocated_ids_are_those_inserts_take_and_never_collide(db_url: str) -> None:
    """GIVEN a table with rows WHEN ids are allocated in a writing transaction and rows inserted with them
    THEN they follow the existing ids, and a later ordinary insert takes the id after them."""
    from bot.adapters.db.engine import session_factory, transaction
    from bot.adapters.db.models import InboundMessage
    from bot.app.bulk_insert import allocate_ids

    engine = open_database(db_url)
    factory = session_factory(engine)
    table = cast("Table", InboundMessage.__table__)

    def row(uid: int, **extra: Any) -> dict[str, Any]:
        return (
            {"mailbox": "m", "uidvalidity": 1, "uid": uid, "raw": b"x", "status": "processed"}
            | {
                "received_at": NOW,
                "processed_at": NOW,
            }
            | extra
        )

    with transaction(factory) as session:
        session.add(InboundMessage(**row(1)))
    with transaction(factory) as session:
        conn = session.connection()
        first = conn.execute(text("SELECT max(id) FROM inbound_messages")).scalar_one()
        ids = allocate_ids(conn, table, 3)
        assert ids == sorted(ids) and len(set(ids)) == 3 and min(ids) > first
        insert_many(conn, table, [row(10 + i, id=new) for i, new in enumerate(ids)])
        assert allocate_ids(conn, table, 0) == []
    with transaction(factory) as session:
        later = InboundMessage(**row(20))
        session.add(later)
        session.flush()
        assert later.id > max(ids)
    with engine.connect() as conn:
        stored = {uid: key for uid, key in conn.execute(text("SELECT uid, id FROM inbound_messages"))}
    assert [stored[10], stored[11], stored[12]] == ids
    engine.dispose()
