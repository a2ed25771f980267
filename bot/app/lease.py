"""Leader leases: only one replica reads the inbox at a time, and another takes over when the holder dies.

PostgreSQL: a session-level ``pg_try_advisory_lock`` held on a dedicated connection. The server releases it
the moment that connection dies (process killed, network lost), so fail-over needs no timeout.

SQLite (one machine, several processes): a row in the ``leases`` table with an expiry the holder renews;
a holder that stops renewing loses the lease once it expires. Expiry uses the wall clock, never the demo's
simulated one.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, Engine, delete, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.models import LeaderLease

log = logging.getLogger(__name__)


class Lease(Protocol):
    name: str
    holder: str

    def acquire(self) -> bool:
        """Take the lease if it is free (or already ours); True when held afterwards."""
        ...

    def renew(self) -> bool:
        """Confirm we still hold it; False means leadership was lost and work must stop."""
        ...

    def release(self) -> None: ...


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` from the lease's name."""
    return int.from_bytes(hashlib.sha256(f"relance:{name}".encode()).digest()[:8], "big", signed=True)


class AdvisoryLease:
    """PostgreSQL advisory lock on its own connection (not from the pool other work uses)."""

    def __init__(self, engine: Engine, name: str, holder: str) -> None:
        self.engine, self.name, self.holder = engine, name, holder
        self.key = advisory_key(name)
        self._conn: Connection | None = None
        self._backend: object = None

    def acquire(self) -> bool:
        if self._conn is not None:
            return self.renew()
        conn = self.engine.connect()
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
            conn.commit()  # end the implicit transaction; the session-level lock outlives it
        except DBAPIError:
            conn.close()
            log.warning("lease %s: database unreachable", self.name, exc_info=True)
            return False
        if not got:
            conn.close()
            return False
        self._conn = conn
        self._backend = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        conn.commit()
        log.info("lease %s acquired by %s", self.name, self.holder)
        return True

    def renew(self) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            # A session lock lives exactly as long as its server session: same backend, still held. (An
            # invalidated connection would silently reconnect to a new backend, without the lock.)
            if not conn.invalidated:
                backend = conn.execute(text("SELECT pg_backend_pid()")).scalar()
                conn.commit()
                if backend == self._backend:
                    return True
            log.warning("lease %s lost: its database session ended", self.name)
            self._forget()
            return False
        except DBAPIError:
            # The connection is gone, and the lock with it: another replica may hold it already.
            log.warning("lease %s lost: its connection dropped", self.name)
            self._forget()
            return False

    def release(self) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            conn.commit()
        except DBAPIError:
            pass  # the connection died: the server released the lock already
        self._forget()
        log.info("lease %s released by %s", self.name, self.holder)

    def _forget(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # never hand a connection holding a session lock back to the pool
                conn.close()
            except DBAPIError:
                pass


class TableLease:
    """A row in ``leases`` with an expiry; renewing pushes the expiry forward."""

    def __init__(
        self, factory: sessionmaker[Session], name: str, holder: str, ttl: timedelta = timedelta(seconds=30)
    ) -> None:
        self.factory, self.name, self.holder, self.ttl = factory, name, holder, ttl
        self._held = False
        #: How often the holder should renew (the listener does it from a small thread).
        self.heartbeat_s = ttl.total_seconds() / 3

    @staticmethod
    def _now() -> datetime:
        return datetime.now(UTC)

    def acquire(self) -> bool:
        now = self._now()
        try:
            with self.factory() as session, session.begin():
                row = session.get(LeaderLease, self.name)
                if row is None:
                    session.add(LeaderLease(name=self.name, holder=self.holder, expires_at=now + self.ttl))
                elif row.holder == self.holder or row.expires_at <= now:
                    # Guarded update: two processes seeing the same expired row cannot both win.
                    result = session.execute(
                        update(LeaderLease)
                        .where(
                            LeaderLease.name == self.name,
                            LeaderLease.holder == row.holder,
                            LeaderLease.expires_at == row.expires_at,
                        )
                        .values(holder=self.holder, expires_at=now + self.ttl)
                        .execution_options(synchronize_session=False)
                    )
                    if result.rowcount != 1:  # type: ignore[attr-defined]
                        return False
                    if row.holder != self.holder:
                        log.warning(
                            "lease %s taken over from %s (expired %s)",
                            self.name,
                            row.holder,
                            row.expires_at.isoformat(),
                        )
                else:
                    return False
        except (IntegrityError, OperationalError):
            return False  # another process inserted or holds the write lock: try again later
        if not self._held:
            log.info("lease %s acquired by %s", self.name, self.holder)
        self._held = True
        return True

    def renew(self) -> bool:
        if not self._held:
            return False
        try:
            with self.factory() as session, session.begin():
                result = session.execute(
                    update(LeaderLease)
                    .where(LeaderLease.name == self.name, LeaderLease.holder == self.holder)
                    .values(expires_at=self._now() + self.ttl)
                    .execution_options(synchronize_session=False)
                )
                ok = bool(result.rowcount == 1)  # type: ignore[attr-defined]
        except OperationalError:
            log.warning("lease %s: cannot renew (database busy)", self.name)
            return True  # still ours until it expires; the next renewal will tell
        if not ok:
            log.warning("lease %s lost by %s", self.name, self.holder)
            self._held = False
        return ok

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        try:
            with self.factory() as session, session.begin():
                session.execute(
                    delete(LeaderLease).where(LeaderLease.name == self.name, LeaderLease.holder == self.holder)
                )
        except OperationalError:
            log.warning("lease %s: could not release; it will expire", self.name)
            return
        log.info("lease %s released by %s", self.name, self.holder)

    def holder_now(self) -> str | None:
        """Who holds the lease at this moment (None when free or expired)."""
        with self.factory() as session:
            row = session.scalar(select(LeaderLease).where(LeaderLease.name == self.name))
            return row.holder if row is not None and row.expires_at > self._now() else None


def make_lease(
    engine: Engine,
    factory: sessionmaker[Session],
    name: str,
    holder: str,
    ttl: timedelta = timedelta(seconds=30),
) -> Lease:
    """The advisory lock on PostgreSQL, the leases table elsewhere."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLease(engine, name, holder)
    return TableLease(factory, name, holder, ttl)
