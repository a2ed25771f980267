"""The outbox's hot path on a real database: batch claims (order, take-overs) and the per-message "sent" commit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from bot.adapters.db.engine import WalCheckpointer, open_database, session_factory, transaction
from bot.adapters.db.models import Client, OutboxMessage
from bot.app.clock import FixedClock
from bot.app.outbox import insert_outbox, outbox_values
from bot.app.outbox_claim import SentMarker, claim
from bot.app.outbox_delivery import deliver_due
from bot.ports import OutgoingMail

NOW = datetime(2026, 11, 3, 11, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)


def _world(db_url: str, due_offsets_minutes: list[int]):  # type: ignore[no-untyped-def]
    engine = open_database(db_url)
    factory = session_factory(engine)
    with transaction(factory) as session:
        session.add(
            Client(client_id="C1", name="Acme", language="en", profile="standard", created_at=NOW, updated_at=NOW)
        )
        session.flush()
        rows = [
            outbox_values(
                key=f"k{i}",
                mail=OutgoingMail(f"<m{i}@relance.test>", "ar@relance.test", ("ap@acme.test",), b"raw %d" % i),
                kind="reminder",
                client_id="C1",
                invoice_numbers=[f"INV-{i}"],
                step="reminder_1",
                template="reminder_1",
                language="en",
                subject=f"subject {i}",
                now=NOW,
                deadline=timedelta(hours=72),
                not_before=NOW + timedelta(minutes=offset),
            )
            for i, offset in enumerate(due_offsets_minutes)
        ]
        insert_outbox(session, rows)
    return engine, factory


def test_claims_take_the_oldest_due_rows_first_with_what_sending_needs(db_url: str) -> None:
    engine, factory = _world(db_url, [-5, -30, 60, -30])  # k2 is not due yet
    rows, takeovers = claim(factory, FixedClock(NOW), "w1", 2, LEASE)
    assert [r.message_id for r in rows] == ["<m1@relance.test>", "<m3@relance.test>"]  # due time, then id
    assert takeovers == []
    assert rows[0].raw == b"raw 1" and rows[0].recipients == ["ap@acme.test"] and rows[0].invoice_numbers == ["INV-1"]
    assert rows[0].attempts == 0 and rows[0].deadline_at == NOW - timedelta(minutes=30) + timedelta(hours=72)
    rest, _ = claim(factory, FixedClock(NOW), "w2", 5, LEASE)
    assert [r.message_id for r in rest] == ["<m0@relance.test>"]  # claimed rows are not claimed twice
    with factory() as session:
        status = dict(session.execute(select(OutboxMessage.idempotency_key, OutboxMessage.status)).all())
        claimers = dict(session.execute(select(OutboxMessage.idempotency_key, OutboxMessage.claimed_by)).all())
    assert status == {"k0": "sending", "k1": "sending", "k2": "pending", "k3": "sending"}
    assert claimers == {"k0": "w2", "k1": "w1", "k2": None, "k3": "w1"}
    engine.dispose()


def test_a_claim_whose_worker_died_is_taken_over_and_reported(db_url: str) -> None:
    engine, factory = _world(db_url, [-5, -5])
    dead = datetime.now(UTC) - LEASE - timedelta(minutes=1)
    alive = datetime.now(UTC) - timedelta(minutes=1)
    with transaction(factory) as session:
        for key, at in (("k0", dead), ("k1", alive)):
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.idempotency_key == key)
                .values(status="sending", claimed_by="gone", claimed_at=at)
            )
    rows, takeovers = claim(factory, FixedClock(NOW), "w", 10, LEASE)
    assert [r.message_id for r in rows] == ["<m0@relance.test>"]
    assert takeovers == ["<m0@relance.test>"]
    engine.dispose()


def test_marking_sent_writes_what_the_orm_would(db_url: str) -> None:
    engine, factory = _world(db_url, [-5, -5])
    rows, _ = claim(factory, FixedClock(NOW), "w", 10, LEASE)
    marker = SentMarker(engine)
    at = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)  # no microseconds: the driver's own format would drop them
    marker.mark(rows[0].id, at)
    marker.close()
    with factory() as session:
        sent = session.scalar(select(OutboxMessage).where(OutboxMessage.id == rows[0].id))
        other = session.scalar(select(OutboxMessage).where(OutboxMessage.id == rows[1].id))
        assert sent is not None and other is not None
        assert (sent.status, sent.attempts, sent.claimed_by, sent.last_error) == ("sent", 1, None, None)
        assert sent.sent_at == at
        assert (other.status, other.sent_at) == ("sending", None)
        # Stored exactly as an ORM write stores it (the same text on SQLite), so comparisons in SQL still work.
        session.execute(update(OutboxMessage).where(OutboxMessage.id == rows[1].id).values(sent_at=at))
        session.commit()
        assert (
            session.scalar(select(OutboxMessage.id).where(OutboxMessage.sent_at == at, OutboxMessage.status == "sent"))
            == rows[0].id
        )
        assert len(session.scalars(select(OutboxMessage.id).where(OutboxMessage.sent_at == at)).all()) == 2
    engine.dispose()


class _Session:
    """A MailSender whose first send takes ``first_delay`` seconds; records which session sent what, when."""

    def __init__(self, name: str, first_delay: float, log: list[tuple[str, str]]) -> None:
        self.name, self.first_delay, self.log = name, first_delay, log

    async def send(self, mail: OutgoingMail) -> None:
        if self.first_delay:
            delay, self.first_delay = self.first_delay, 0.0
            await asyncio.sleep(delay)
        self.log.append((self.name, mail.message_id))

    async def close(self) -> None:
        pass


def test_a_session_does_not_wait_for_a_slow_one_at_the_end_of_a_batch(db_url: str) -> None:
    """Batches of 2, one session stuck on its first message: the other sends everything else meanwhile."""
    engine, factory = _world(db_url, [-5] * 7)
    log: list[tuple[str, str]] = []
    names = iter(["slow", "fast"])

    def senders() -> _Session:
        name = next(names)
        return _Session(name, 0.5 if name == "slow" else 0.0, log)

    report = asyncio.run(
        deliver_due(factory, senders, FixedClock(NOW), envelope_from="ar@relance.test", batch=2, concurrency=2)
    )
    assert report.sent == 7 and report.possibly_duplicated == []
    assert [who for who, _ in log] == ["fast"] * 6 + ["slow"]  # with a wait at each batch's end: alternating
    assert sorted(m for _, m in log) == sorted(f"<m{i}@relance.test>" for i in range(7))  # each once
    with factory() as session:
        assert set(session.scalars(select(OutboxMessage.status))) == {"sent"}
    engine.dispose()


def test_the_checkpointer_moves_the_log_into_the_database_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wal.db'}"
    engine, _factory = _world(url, [])
    with closing(sqlite3.connect(tmp_path / "wal.db", isolation_level=None)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # only the checkpointer may copy pages back
        conn.execute("CREATE TABLE filler (x BLOB)")
        for _ in range(100):
            conn.execute("INSERT INTO filler VALUES (zeroblob(4000))")
        size = (tmp_path / "wal.db").stat().st_size
        assert (tmp_path / "wal.db-wal").stat().st_size > 100 * 4000  # in the log, not in the file yet
        checkpointer = WalCheckpointer(engine, period=0.01)
        deadline = time.monotonic() + 10
        while (tmp_path / "wal.db").stat().st_size < size + 100 * 4000 and time.monotonic() < deadline:
            time.sleep(0.01)
        checkpointer.close()
    assert (tmp_path / "wal.db").stat().st_size >= size + 100 * 4000
    assert not [t for t in threading.enumerate() if t.name == "outbox-wal-checkpoint"]
    engine.dispose()


def test_the_checkpointer_does_nothing_elsewhere(db_url: str) -> None:
    engine = open_database(db_url) if db_url.startswith("postgresql") else open_database("sqlite://")
    checkpointer = WalCheckpointer(engine)
    assert not [t for t in threading.enumerate() if t.name == "outbox-wal-checkpoint"]
    checkpointer.close()
    engine.dispose()
