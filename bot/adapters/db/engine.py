"""Engine, sessions and automatic schema upgrade.

Every command calls :func:`open_database`, which brings the schema up to date with Alembic first, so a
fresh or older database just works. SQLite gets WAL, a busy timeout and foreign keys; PostgreSQL is used as is.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.errors import ConfigError, TemporaryError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
DEFAULT_URL = "sqlite:///relance.sqlite3"
#: ``pg_advisory_xact_lock`` key serialising schema upgrades between replicas (any fixed 64-bit number).
MIGRATION_LOCK_KEY = 0x72656C616E6365  # "relance"

T = TypeVar("T")


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("RELANCE_DATABASE_URL") or DEFAULT_URL


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the web UI read while the daemon writes; busy_timeout turns "database is locked" into a wait.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # A unit of work that will write takes the write lock up front (BEGIN IMMEDIATE), so another writer makes it
    # wait (busy_timeout) instead of failing at its first write with "database is locked"; reads stay deferred
    # so the web UI never queues behind a long import.
    immediate = conn.get_execution_options().get("sqlite_immediate")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str | None = None) -> Engine:
    url = database_url(url)
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgres://")
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15})
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; emit it ourselves so locks are taken up front.
        event.listen(engine, "begin", _sqlite_begin)

        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

    elif url.startswith("postgresql"):
        engine = create_engine(url, pool_pre_ping=True)
    else:
        raise ConfigError(f"RELANCE_DATABASE_URL: unsupported database {url.split(':', 1)[0]!r}")
    return engine


def upgrade_schema(engine: Engine) -> None:
    """Apply pending Alembic migrations (no-op when up to date)."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(cfg)
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current == script.get_current_head():
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Replicas started together (or restarted on a new release) would all run the same migration and
            # all but one crash on "already exists": the first takes this lock, the others wait, then find the
            # schema up to date. Transaction-level, so it is released at commit or when the process dies.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            current = MigrationContext.configure(conn).get_current_revision()
            if current == script.get_current_head():
                return
        log.info("upgrading database schema from %s to %s", current, script.get_current_head())
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_database(url: str | None = None) -> Engine:
    engine = make_engine(url)
    upgrade_schema(engine)
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work that writes: commit on success, roll back on any error.

    On SQLite the write lock is taken when the unit starts (see ``_sqlite_begin``); PostgreSQL ignores the option.
    """
    with factory() as session, session.begin():
        session.connection(execution_options={"sqlite_immediate": True})
        yield session


def run_with_retry(fn: Callable[[], T], *, attempts: int = 5, base_delay: float = 0.2) -> T:
    """Retry a whole unit of work when the database says it is busy or the connection dropped."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except OperationalError as exc:
            if attempt == attempts:
                raise TemporaryError(f"database unavailable: {exc.orig}") from exc
            log.warning("database busy or disconnected (attempt %d/%d): %s", attempt, attempts, exc.orig)
            time.sleep(base_delay * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def table_names(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except OperationalError:
        return False


class WalCheckpointer:
    """On SQLite, copies the write-ahead log back into the database from a helper thread during a run that
    writes a lot (a send run, an inbox pass).

    Every commit appends pages to the WAL; whichever commit pushes it past 1,000 pages runs the checkpoint
    itself, fsyncs included (tens of milliseconds on a slow disk), and the run waits for it: on a send run, the
    event loop and so every SMTP session; on an inbox pass, the batch being recorded (0.3 s per 3,000 replies).
    Checkpointing a little every ``period`` seconds from a thread keeps the log short, so no commit of the run
    has to. PASSIVE never waits for readers or writers (and a commit that finds a checkpoint running skips its
    own), so nothing on the run ever waits for this thread. Durability does not
    change: a commit is in the WAL before it returns; checkpoints only move pages into the main file.
    No-op on other databases and on in-memory SQLite.
    """

    def __init__(self, engine: object, period: float = 0.1) -> None:
        self._period = period
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if (
            isinstance(engine, Engine)  # a session factory bound to a connection, or to nothing: no helper
            and engine.dialect.name == "sqlite"
            and engine.url.database not in (None, "", ":memory:")
        ):
            self._engine = engine
            self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            conn = self._engine.raw_connection()
        except Exception:  # the run goes on without it: commits checkpoint as they always did
            log.debug("WAL checkpointer: no connection", exc_info=True)
            return
        try:
            while not self._stop.wait(self._period):
                cursor = conn.cursor()
                try:
                    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    cursor.fetchall()
                finally:
                    cursor.close()
        except Exception:
            log.debug("WAL checkpointer stopped", exc_info=True)
        finally:
            conn.close()

    def __enter__(self) -> WalCheckpointer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
