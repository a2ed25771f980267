"""The daemon's parts (lease, listener, scheduler, JSON logs) and ``relance run`` as a real subprocess."""

from __future__ import annotations

import json
import logging
import mailbox
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import open_database, session_factory
from bot.adapters.db.models import InboundMessage
from bot.app.client_import import import_clients
from bot.app.clock import SystemClock
from bot.app.demo_replies import RESOURCES
from bot.app.inbox import InboxProcessor
from bot.app.invoice_import import import_invoices
from bot.app.jsonlog import JsonFormatter
from bot.app.lease import TableLease, make_lease
from bot.app.listener import InboxListener
from bot.app.payment_import import import_payments
from bot.app.profiles import current_profiles
from bot.app.scheduler import JOB_DEFAULTS, window_triggers
from bot.app.settings import Settings, load_settings
from bot.app.wiring import make_renderer
from tests.servers import free_port

CLI = "from bot.app import cli_run; from bot.app.cli import main; main()"


def reply(
    sender: str, n: int, body: str = "Nous n'avons jamais reçu la facture F2026-0412, merci de la renvoyer."
) -> bytes:
    return (
        f"From: {sender}\r\nTo: collections@relance.test\r\nSubject: Re: facture F2026-0412\r\n"
        f"Date: Mon, 12 Oct 2026 14:00:00 +0200\r\nMessage-ID: <daemon-test-{n}@atelier-durand.test>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"Bonjour,\r\n\r\n{body}\r\n\r\nJean Durand\r\n"
    ).encode()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def load_ledger(url: str) -> sessionmaker[Session]:
    factory = session_factory(open_database(url))
    now = datetime.now(UTC)
    import_clients(
        factory,
        RESOURCES / "clients.csv",
        now=now,
        profiles={"standard", "key_account", "public_sector", "risky", "uk_standard"},
    )
    import_invoices(factory, RESOURCES / "invoices.csv", now=now)
    import_payments(factory, RESOURCES / "payments.csv", now=now)
    return factory


def inbound_count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(InboundMessage)) or 0


# ------------------------------------------------------------------ leases


def test_one_lease_holder_at_a_time_and_release_hands_over(db_url: str) -> None:
    engine = open_database(db_url)
    factory = session_factory(engine)
    a = make_lease(engine, factory, "inbox-listener", "a")
    b = make_lease(engine, factory, "inbox-listener", "b")
    try:
        assert a.acquire()
        assert not b.acquire()
        assert a.renew() and a.acquire()  # re-acquiring one's own lease is a renewal
        a.release()
        assert b.acquire()
        assert not a.acquire()
    finally:
        a.release()
        b.release()
        engine.dispose()


def test_expired_table_lease_is_taken_over_and_old_holder_learns_it(tmp_path: Path) -> None:
    factory = session_factory(open_database(f"sqlite:///{tmp_path / 'r.db'}"))
    a = TableLease(factory, "inbox-listener", "a", ttl=timedelta(milliseconds=300))
    b = TableLease(factory, "inbox-listener", "b", ttl=timedelta(seconds=30))
    assert a.acquire()
    assert not b.acquire()
    time.sleep(0.4)  # a stops renewing (say, it was killed)
    assert b.acquire()
    assert b.holder_now() == "b"
    assert not a.renew()  # a must stop reading the inbox


@pytest.mark.postgres
def test_advisory_lock_is_released_when_the_holder_connection_dies(postgres_url: str) -> None:
    from bot.app.lease import AdvisoryLease

    engine = open_database(postgres_url)
    factory = session_factory(engine)
    a = make_lease(engine, factory, "inbox-listener", "a")
    b = make_lease(engine, factory, "inbox-listener", "b")
    assert isinstance(a, AdvisoryLease)
    assert a.acquire() and not b.acquire()
    assert a._conn is not None
    a._conn.invalidate()  # what the server sees when the holder's process is killed
    wait_for(b.acquire, 5, "the second replica to take the lock")
    assert not a.renew()
    b.release()
    engine.dispose()


# ------------------------------------------------------------------ listener


def test_two_listeners_one_maildir_each_message_read_once_with_failover(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    factory = load_ledger(url)
    settings = Settings(database_url=url, maildir=tmp_path / "maildir", outbox_dir=tmp_path / "outbox")
    renderer = make_renderer(settings, factory)
    from bot.adapters.maildir import MaildirMailbox

    def listener(name: str) -> InboxListener:
        processor = InboxProcessor(factory, settings, SystemClock(), renderer)
        lease = TableLease(factory, "inbox-listener", name, ttl=timedelta(seconds=2))
        return InboxListener(
            processor, lambda: MaildirMailbox(settings.maildir), lease, poll_s=0.2, idle_slice_s=0.3, standby_s=0.2
        )

    box = mailbox.Maildir(settings.maildir, create=True)
    for n in range(5):
        box.add(reply("compta@atelier-durand.test", n))
    first, second = listener("first"), listener("second")
    first.start()
    wait_for(lambda: first.leader, 10, "the first listener to lead")
    second.start()
    wait_for(lambda: inbound_count(factory) == 5, 20, "five messages processed")
    # The rows are committed before the pass returns (filing, then "connected"): wait for the pass to end.
    wait_for(lambda: first.passes > 0 and first.connected, 10, "the leader's first pass to end")
    assert first.leader and not second.leader
    standby = second.health()  # one snapshot: two calls could straddle a change of the standby's state
    assert first.health()["ok"] and standby == standby | {"ok": True, "leader": False}
    assert first.stop(5)  # releases the lease: the standby takes over
    wait_for(lambda: second.leader, 10, "the standby to take over")
    box.add(reply("compta@atelier-durand.test", 99))
    wait_for(lambda: inbound_count(factory) == 6, 20, "the new message processed by the new leader")
    assert second.stop(5)
    with factory() as session:
        rows = session.execute(select(InboundMessage.message_id, InboundMessage.status)).all()
    assert len({m for m, _s in rows}) == 6
    assert all(status != "duplicate" for _m, status in rows)


# ------------------------------------------------------------------ scheduler and logs


def test_one_window_trigger_per_distinct_opening() -> None:
    config, _ = current_profiles(load_settings(env={}))
    triggers = window_triggers(config)
    openings = {(p.timezone, p.send_window.days, p.send_window.start) for p in config.profiles.values()}
    assert len(triggers) == len(openings)
    paris_9 = next(t for k, t in triggers.items() if k == "window:Europe/Paris:mon,tue,wed,thu,fri:0900")
    saturday = datetime(2026, 10, 10, 12, 0, tzinfo=UTC)
    fire = paris_9.get_next_fire_time(None, saturday)
    assert fire is not None and fire.weekday() == 0 and (fire.hour, fire.minute) == (9, 0)  # Monday 09:00 Paris


def test_missed_runs_are_caught_up_once() -> None:
    runs: list[float] = []
    scheduler = BackgroundScheduler(job_defaults=JOB_DEFAULTS, timezone=UTC)
    past = datetime.now(UTC) - timedelta(seconds=30)  # 30 runs missed while "down"
    scheduler.add_job(
        lambda: runs.append(time.monotonic()), IntervalTrigger(seconds=1, start_date=past), next_run_time=past
    )
    scheduler.start()
    try:
        time.sleep(0.5)
    finally:
        scheduler.shutdown(wait=True)
    assert len(runs) == 1


def test_json_logs_one_object_per_line_without_secrets() -> None:
    formatter = JsonFormatter(["hunter2-imap-password"])
    record = logging.LogRecord(
        "bot.x", logging.WARNING, __file__, 1, "login %s failed: %s", ("bob", "server said hunter2-imap-password"), None
    )
    record.settings = {"imap_password": "hunter2-imap-password", "imap_host": "imap.test"}
    line = formatter.format(record)
    assert "\n" not in line and "hunter2" not in line
    data = json.loads(line)
    assert data["level"] == "warning" and data["msg"] == "login bob failed: server said ***"
    assert data["settings"] == {"imap_password": "***", "imap_host": "imap.test"}


# ------------------------------------------------------------------ relance run, for real


class RunningDaemon:
    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.port = folder, int(env["RELANCE_WEB_PORT"])
        self.log = (folder / "daemon.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CLI, "run", "--outbox-seconds", "1"],
            cwd=folder,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def up(self) -> bool:
        assert self.proc.poll() is None, (self.folder / "daemon.log").read_text()[-3000:]
        try:
            return self.get("/healthz")[0] == 200
        except OSError:
            return False

    def terminate(self) -> tuple[int, float]:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(15)
        finally:
            self.log.close()
        return code, time.monotonic() - started


def daemon_env(folder: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELANCE_")}
    env |= {
        "RELANCE_DATABASE_URL": f"sqlite:///{folder / 'relance.sqlite3'}",
        "RELANCE_MAILDIR": str(folder / "maildir"),
        "RELANCE_OUTBOX_DIR": str(folder / "outbox"),
        "RELANCE_WEB_PORT": str(free_port()),
        "RELANCE_SECRET_KEY": "daemon-test-secret-key-0123456789",
        "RELANCE_LOG_LEVEL": "INFO",
    }
    return env | extra


@pytest.fixture
def daemon_folder(tmp_path: Path) -> Iterator[Path]:
    load_ledger(f"sqlite:///{tmp_path / 'relance.sqlite3'}").kw["bind"].dispose()
    yield tmp_path


def _children(pid: int) -> dict[int, bytes]:
    """The processes whose parent is ``pid``, with their command lines."""
    found: dict[int, bytes] = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found[int(entry.name)] = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # ended meanwhile
    return found


def test_relance_run_health_reply_and_clean_sigterm(daemon_folder: Path) -> None:
    env = daemon_env(daemon_folder)
    daemon = RunningDaemon(daemon_folder, env)
    try:
        wait_for(daemon.up, 60, "/healthz to answer 200")
        # The inbox's reader process was forked from the daemon before its threads started (same command
        # line), not started later by a fork server (whose children are not the daemon's).
        own = Path(f"/proc/{daemon.proc.pid}/cmdline").read_bytes()
        readers = [pid for pid, cmdline in _children(daemon.proc.pid).items() if cmdline == own]
        assert len(readers) == 1, _children(daemon.proc.pid)
        status, body = daemon.get("/healthz")
        checks = json.loads(body)["checks"]
        assert {"database", "scheduler", "imap", "smtp"} <= checks.keys()
        assert checks["scheduler"]["running"]
        wait_for(lambda: json.loads(daemon.get("/healthz")[1])["checks"]["imap"]["leader"], 20, "inbox leadership")
        mailbox.Maildir(daemon_folder / "maildir", create=True).add(reply("compta@atelier-durand.test", 1))
        factory = session_factory(open_database(env["RELANCE_DATABASE_URL"]))
        wait_for(lambda: inbound_count(factory) == 1, 30, "the reply dropped in the Maildir to be processed")
        factory.kw["bind"].dispose()
        wait_for(lambda: "relance_replies_total{" in daemon.get("/metrics")[1], 10, "the reply in /metrics")
    finally:
        code, took = daemon.terminate()
    log = (daemon_folder / "daemon.log").read_text()
    assert code == 0, log[-3000:]
    assert took < 10, f"SIGTERM took {took:.1f} s"
    assert not Path(f"/proc/{readers[0]}").exists()  # stopped with the daemon
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any("stopped in" in line["msg"] for line in lines)
    assert env["RELANCE_SECRET_KEY"] not in log


@pytest.mark.servers
def test_relance_run_against_dovecot_and_smtp(
    daemon_folder: Path, dovecot_server: object, dovecot_user: object, smtp_server: object
) -> None:
    from tests.servers.dovecot import Dovecot, ImapUser
    from tests.servers.smtp_server import SmtpTestServer

    assert isinstance(dovecot_server, Dovecot) and isinstance(dovecot_user, ImapUser)
    assert isinstance(smtp_server, SmtpTestServer)
    env = daemon_env(
        daemon_folder,
        RELANCE_IMAP_HOST="127.0.0.1",
        RELANCE_IMAP_PORT=str(dovecot_server.port),
        RELANCE_IMAP_USER=dovecot_user.name,
        RELANCE_IMAP_PASSWORD=dovecot_user.password,
        RELANCE_IMAP_TLS="none",
        RELANCE_SMTP_HOST="127.0.0.1",
        RELANCE_SMTP_PORT=str(smtp_server.port),
        RELANCE_SMTP_TLS="none",
    )
    daemon = RunningDaemon(daemon_folder, env)
    try:
        wait_for(daemon.up, 60, "/healthz to answer 200 with IMAP connected")
        dovecot_server.deliver(dovecot_user, reply("compta@atelier-durand.test", 7))
        factory = session_factory(open_database(env["RELANCE_DATABASE_URL"]))
        wait_for(lambda: inbound_count(factory) == 1, 30, "the IMAP reply to be processed")
        factory.kw["bind"].dispose()
        # "never received the invoice" from a known contact: the copy goes out by SMTP, threaded on the reply.
        wait_for(
            lambda: any(
                "daemon-test-7@atelier-durand.test" in a.data.decode("utf-8", "replace") for a in smtp_server.accepted
            ),
            30,
            "the invoice copy accepted by SMTP",
        )
        health = json.loads(daemon.get("/healthz")[1])["checks"]
        assert health["imap"]["connected"] and health["smtp"]["last_success"]
    finally:
        code, took = daemon.terminate()
    assert code == 0, (daemon_folder / "daemon.log").read_text()[-3000:]
    assert took < 10
