"""The test servers themselves start, answer and stop: Dovecot, PostgreSQL, Chromium."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import imapclient
import pytest

from tests.servers import unavailable
from tests.servers.dovecot import Dovecot, ImapUser, group_alive, simple_message
from tests.servers.postgres import Postgres

pytestmark = pytest.mark.servers


def test_dovecot_serves_delivered_mail_and_restarts(make_dovecot: type[Dovecot]) -> None:
    server = make_dovecot()
    server.start()
    user = server.add_user()
    server.deliver(user, simple_message("first"))
    with imapclient.IMAPClient(server.host, server.port, ssl=False, timeout=10) as client:
        client.login(user.name, user.password)
        assert b"MOVE" in client.capabilities()
        assert client.select_folder("INBOX")[b"EXISTS"] == 1
    pid = server.pid()
    server.stop()
    assert pid is not None and not group_alive(pid)
    server.deliver(user, simple_message("while down"))
    server.start()
    with imapclient.IMAPClient(server.host, server.port, ssl=False, timeout=10) as client:
        client.login(user.name, user.password)
        assert client.select_folder("INBOX")[b"EXISTS"] == 2


def test_dovecot_without_move_hides_the_capability(dovecot_server_without_move: Dovecot) -> None:
    user = dovecot_server_without_move.add_user()
    with imapclient.IMAPClient("127.0.0.1", dovecot_server_without_move.port, ssl=False, timeout=10) as client:
        client.login(user.name, user.password)
        caps = client.capabilities()
        assert b"MOVE" not in caps and b"IDLE" in caps and b"UIDPLUS" in caps


def test_dovecot_uidvalidity_can_be_changed(dovecot_server: Dovecot, dovecot_user: ImapUser) -> None:
    dovecot_server.deliver(dovecot_user, simple_message("one"))
    with imapclient.IMAPClient("127.0.0.1", dovecot_server.port, ssl=False, timeout=10) as client:
        client.login(dovecot_user.name, dovecot_user.password)
        before = client.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"]
    dovecot_server.set_uidvalidity(dovecot_user, before + 1000)
    with imapclient.IMAPClient("127.0.0.1", dovecot_server.port, ssl=False, timeout=10) as client:
        client.login(dovecot_user.name, dovecot_user.password)
        assert client.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"] == before + 1000


def test_dovecot_rejects_a_wrong_password(dovecot_server: Dovecot, dovecot_user: ImapUser) -> None:
    with imapclient.IMAPClient("127.0.0.1", dovecot_server.port, ssl=False, timeout=10) as client:
        with pytest.raises(imapclient.exceptions.LoginError):
            client.login(dovecot_user.name, "wrong")


@pytest.mark.postgres
def test_postgres_answers_and_gives_fresh_databases(postgres_server: Postgres, postgres_url: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            assert conn.execute(sqlalchemy.text("SELECT 1")).scalar_one() == 1
            conn.execute(sqlalchemy.text("CREATE TABLE t (x int)"))
    finally:
        engine.dispose()
    other = postgres_server.create_database()
    engine = sqlalchemy.create_engine(other)
    try:
        with engine.connect() as conn:
            tables = conn.execute(sqlalchemy.text("SELECT count(*) FROM pg_tables WHERE tablename = 't'"))
            assert tables.scalar_one() == 0
    finally:
        engine.dispose()
        postgres_server.drop_database(other)


def test_db_url_gives_a_usable_database(db_url: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("CREATE TABLE probe (x integer)"))
            conn.execute(sqlalchemy.text("INSERT INTO probe VALUES (41), (1)"))
            assert conn.execute(sqlalchemy.text("SELECT sum(x) FROM probe")).scalar_one() == 42
    finally:
        engine.dispose()


@pytest.fixture
def local_site(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "index.html").write_text("<html><title>relance probe</title><body><p id=x>ok 42</p></body></html>")
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    except OSError as exc:
        unavailable(f"cannot serve a local page: {exc}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.mark.browser
def test_chromium_loads_a_local_page(page: Any, local_site: str) -> None:
    page.goto(local_site)
    assert page.title() == "relance probe"
    assert page.text_content("#x") == "ok 42"
