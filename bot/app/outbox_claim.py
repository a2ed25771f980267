"""The outbox's hot path: claiming due rows for a send run and marking each one sent as the server accepts it.

Both run once per batch or once per message, so they use prepared Core statements (and, to mark a message
sent, the database driver directly) rather than ORM sessions: an ORM claim of 20 rows cost ~10 ms and an ORM
"sent" commit ~0.25 ms, a tenth of what sending the message costs. What they write is unchanged: the same
guarded claim (a row another worker took meanwhile is left out) and one short commit per accepted message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, or_, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.models import OutboxMessage
from bot.ports import Clock

log = logging.getLogger(__name__)

_T: Table = OutboxMessage.__table__  # type: ignore[assignment]  # declarative tables are Tables


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    """What sending a claimed outbox row and recording its outcome need."""

    id: int
    message_id: str
    client_id: str
    invoice_numbers: list[str]
    template: str
    recipients: list[str]
    raw: bytes
    attempts: int
    deadline_at: datetime


# Due now: pending and its time has come, or "sending" by a worker whose lease ran out (it died mid-send).
_DUE = or_(
    (_T.c.status == "pending") & (_T.c.next_attempt_at <= bindparam("now")),
    (_T.c.status == "sending") & (_T.c.claimed_at < bindparam("stale_before")),
)
# Picked by the small columns, each kind of due row on its own: with the OR, the database sorted every due
# row (message bytes included) to keep 20, at each claim; "pending" alone reads ix_outbox_status_next in order
# and stops at the limit. FOR UPDATE SKIP LOCKED lets PostgreSQL workers pick disjoint rows; SQLite ignores it.
_PICKED = (_T.c.id, _T.c.status, _T.c.claimed_by, _T.c.claimed_at, _T.c.next_attempt_at)
_PICK_PENDING = (
    select(*_PICKED)
    .where(_T.c.status == "pending", _T.c.next_attempt_at <= bindparam("now"))
    .order_by(_T.c.next_attempt_at, _T.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_PICK_STALE = (
    select(*_PICKED)
    .where(_T.c.status == "sending", _T.c.claimed_at < bindparam("stale_before"))
    .order_by(_T.c.next_attempt_at, _T.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_TAKE = {
    "status": "sending",
    "claimed_by": bindparam("worker"),
    "claimed_at": bindparam("wall"),
}
_CLAIMED = (
    _T.c.id,
    _T.c.message_id,
    _T.c.client_id,
    _T.c.invoice_numbers,
    _T.c.template,
    _T.c.recipients,
    _T.c.raw,
    _T.c.attempts,
    _T.c.deadline_at,
)
# One guarded UPDATE for the whole batch: the WHERE re-checks that each row is still due, so a row another
# worker claimed meanwhile (fresh claimed_at) or sent is left out; RETURNING gives the rows it took.
_TAKE_ALL = update(_T).where(_T.c.id.in_(bindparam("ids", expanding=True)), _DUE).values(_TAKE).returning(*_CLAIMED)
_LOAD = select(*_CLAIMED).where(_T.c.id.in_(bindparam("ids", expanding=True)))


def claim(
    factory: sessionmaker[Session], clock: Clock, worker: str, limit: int, lease: timedelta
) -> tuple[list[ClaimedMessage], list[str]]:
    """Take up to ``limit`` due rows for this worker, oldest due first; also the Message-IDs taken over."""
    now = clock.now()
    # Leases measure whether a worker process is alive: wall-clock time, even under a simulated clock (--as-of).
    wall = datetime.now(UTC)
    window = {"now": now, "stale_before": wall - lease}
    engine: Engine = factory.kw["bind"]
    # A Core connection, not a session: the claim runs once per batch on the send loop, and a session's setup
    # and teardown cost as much as its three statements. On SQLite the write lock is taken at BEGIN, as in
    # ``transaction`` (see engine._sqlite_begin).
    with engine.connect() as conn:
        conn.execution_options(sqlite_immediate=True)
        with conn.begin():
            picked = sorted(
                [
                    *conn.execute(_PICK_PENDING, {**window, "limit": limit}),
                    *conn.execute(_PICK_STALE, {**window, "limit": limit}),
                ],
                key=lambda p: (p.next_attempt_at, p.id),
            )[:limit]
            if not picked:
                return [], []
            if conn.dialect.update_returning:
                params = {**window, "ids": [p.id for p in picked], "worker": worker, "wall": wall}
                rows = {r.id: ClaimedMessage(*r) for r in conn.execute(_TAKE_ALL, params)}
            else:
                got = [p.id for p in picked if _claim_one(conn, p.id, p.status, p.claimed_at, worker, wall)]
                rows = {r.id: ClaimedMessage(*r) for r in conn.execute(_LOAD, {"ids": got})} if got else {}
            if not rows:
                return [], []
    claimed: list[ClaimedMessage] = []
    takeovers: list[str] = []
    for p in picked:
        row = rows.get(p.id)
        if row is None:
            continue
        claimed.append(row)
        if p.status == "sending":  # as selected: a claim whose worker died
            takeovers.append(row.message_id)
            log.warning(
                "possibly sent twice: %s was claimed by %s, which stopped mid-send; sending again",
                row.message_id,
                p.claimed_by,
            )
    return claimed, takeovers


def _claim_one(
    conn: Connection, row_id: int, status: str, claimed_at: datetime | None, worker: str, wall: datetime
) -> bool:
    """Claim one row if nobody changed it since it was selected (databases without UPDATE ... RETURNING)."""
    # The guarded UPDATE makes the claim safe on SQLite too, where FOR UPDATE does not exist.
    result = conn.execute(
        update(_T)
        .where(
            _T.c.id == row_id,
            _T.c.status == status,
            _T.c.claimed_at.is_(None) if claimed_at is None else _T.c.claimed_at == claimed_at,
        )
        .values(status="sending", claimed_by=worker, claimed_at=wall)
    )
    return bool(result.rowcount == 1)


class SentMarker:
    """Marks one message sent in its own short transaction, on a driver connection kept for the whole run.

    This is the hot path (one commit per accepted message, so a crash re-sends at most the message on the
    wire). The UPDATE is compiled once for the database and run on the driver connection: through a
    SQLAlchemy connection, its begin/execute/commit cost ~6x what the database itself spends.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        dialect = engine.dialect
        stmt = text(
            "UPDATE outbox SET status = 'sent', sent_at = :now, attempts = attempts + 1, claimed_by = NULL, "
            "last_error = NULL WHERE id = :rid"
        )
        compiled = stmt.compile(dialect=dialect)
        self._sql = compiled.string
        self._order = list(compiled.positiontup or ()) if compiled.positional else None
        # The column types as this database stores them (SQLite: UTC text with microseconds), as SQLAlchemy would.
        self._now = _T.c.sent_at.type.dialect_impl(dialect).bind_processor(dialect)
        self._rid = _T.c.id.type.dialect_impl(dialect).bind_processor(dialect)
        self._fairy: Any = None  # the pool's wrapper, given back on close
        self._conn: Any = None  # the driver's connection inside it
        self._cursor: Any = None
        self._last_now: tuple[datetime, Any] | None = None

    def _params(self, row_id: int, now: datetime) -> Any:
        # A run marks many messages at one clock reading (or a few): the converted time is reused while equal.
        if self._last_now is None or self._last_now[0] != now:
            self._last_now = (now, self._now(now) if self._now else now)
        values: dict[str, Any] = {"rid": self._rid(row_id) if self._rid else row_id, "now": self._last_now[1]}
        return values if self._order is None else [values[name] for name in self._order]

    def mark(self, row_id: int, now: datetime) -> None:
        params = self._params(row_id, now)
        try:
            if self._conn is None:
                self._fairy = self._engine.raw_connection()
                self._conn = self._fairy.driver_connection
                self._cursor = self._conn.cursor()
            # SQLite's driver runs in autocommit mode here (see engine.py): the UPDATE is its own
            # transaction. Other drivers open one, which commit() closes.
            self._cursor.execute(self._sql, params)
            self._conn.commit()
        except self._engine.dialect.loaded_dbapi.Error as exc:
            self.close()  # a broken connection is not reused; the next mark opens a new one
            # The same exception classes a SQLAlchemy connection raises (OperationalError...).
            raise DBAPIError.instance(
                self._sql, params, exc, self._engine.dialect.loaded_dbapi.Error, dialect=self._engine.dialect
            ) from exc
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._fairy is not None:
            fairy, cursor = self._fairy, self._cursor
            self._fairy, self._conn, self._cursor = None, None, None
            try:
                if cursor is not None:
                    cursor.close()
                fairy.close()
            except Exception:  # closing a connection that already broke: nothing more to do
                log.debug("closing the outbox marker's connection failed", exc_info=True)
