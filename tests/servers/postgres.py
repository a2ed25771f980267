"""A private PostgreSQL for the tests: ``initdb`` + ``pg_ctl`` under a temporary directory, unprivileged.

It listens on 127.0.0.1 on a free port with its unix socket in the same directory, trusts local connections
and runs with ``fsync=off`` (the data is thrown away). Each test that wants isolation gets its own database
with :meth:`Postgres.create_database`.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import as_server_user, free_port, private_dir, remove_dir, unavailable

_database_numbers = itertools.count(1)


def postgres_bin_dir() -> Path | None:
    """Debian's ``postgresql-NN`` puts initdb/pg_ctl in /usr/lib/postgresql/NN/bin, which is not on PATH."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


class Postgres:
    def __init__(self) -> None:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            unavailable("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.bin_dir = bin_dir
        self.root = private_dir("relance-postgres-")
        self.data = self.root / "data"
        self.port = free_port()
        self.host = "127.0.0.1"
        self.user = "postgres"

    def _run(self, *cmd: str, timeout_s: float = 60) -> None:
        proc = subprocess.run(
            as_server_user(cmd), capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
        )
        if proc.returncode != 0:
            unavailable(f"{' '.join(cmd[:2])} failed: {proc.stderr.strip() or proc.stdout.strip()}")

    def start(self) -> None:
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        # pg_ctl -w waits until the server accepts connections; its log goes to a file so no pipe stays open.
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "postgres.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        self.execute("CREATE DATABASE relance_test")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                as_server_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
                capture_output=True,
                timeout=60,
            )

    def destroy(self) -> None:
        self.stop()
        remove_dir(self.root)

    def url(self, database: str = "relance_test") -> str:
        """A SQLAlchemy URL for ``database`` (psycopg 3 driver)."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={database}"

    def execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, template: str = "template0") -> str:
        """A fresh empty database; returns its SQLAlchemy URL."""
        name = f"relance_t{os.getpid()}_{next(_database_numbers)}"
        self.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    server = Postgres()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def postgres_url(postgres_server: Postgres) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)
