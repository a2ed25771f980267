"""Crash trials for ``relance send``: a ledger with N due reminders, a real SMTP server, SIGKILL, restart.

Shared by ``tests/reliability/test_send_crash.py`` (short) and ``benchmarks/crash_trials.py`` (long).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from bot.adapters.db.engine import open_database, session_factory
from bot.adapters.db.models import OutboxMessage
from bot.app.client_import import import_clients
from bot.app.invoice_import import import_invoices
from bot.app.payment_import import import_payments
from tests.servers.smtp_server import SmtpTestServer

ROOT = Path(__file__).resolve().parents[2]
AS_OF = "2026-11-03"  # the day after every invoice fell due
IMPORTED_AT = datetime(2026, 11, 2, 8, tzinfo=UTC)
POSSIBLY_TWICE = "possibly sent twice"
CLI = "from bot.app.cli import main; main()"


def make_ledger(db_path: Path, clients: int, url: str | None = None) -> str:
    """A ledger of ``clients`` clients with one invoice each, all due 2026-11-02; returns its URL.

    In a SQLite file at ``db_path``, or in the empty database at ``url`` (PostgreSQL); the CSVs go next to
    ``db_path`` either way."""
    url = url or f"sqlite:///{db_path}"
    engine = open_database(url)
    factory = session_factory(engine)
    folder = db_path.parent
    rows = [f"C{i:05d},Client {i} SARL,ap{i}@client{i}.test,{'fr' if i % 2 else 'en'},standard" for i in range(clients)]
    (folder / "clients.csv").write_text(
        "client_id,name,email,language,profile\n" + "\n".join(rows) + "\n", encoding="utf-8"
    )
    inv = [f"INV-{i:05d},C{i:05d},2026-10-01,2026-11-02,{100 + i}.50,EUR,0" for i in range(clients)]
    (folder / "invoices.csv").write_text(
        "invoice_number,client_id,issue_date,due_date,amount,currency,amount_paid\n" + "\n".join(inv) + "\n",
        encoding="utf-8",
    )
    (folder / "payments.csv").write_text("invoice_number,amount,paid_on,reference\n", encoding="utf-8")
    import_clients(factory, folder / "clients.csv", now=IMPORTED_AT, profiles={"standard"})
    import_invoices(factory, folder / "invoices.csv", now=IMPORTED_AT)
    import_payments(factory, folder / "payments.csv", now=IMPORTED_AT)
    engine.dispose()
    return url


def send_env(url: str, server: SmtpTestServer, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELANCE_")}
    env.update(
        RELANCE_DATABASE_URL=url,
        RELANCE_CONFIG_DIR=str(ROOT / "config"),
        RELANCE_TEMPLATES_DIR=str(ROOT / "templates"),
        RELANCE_SMTP_HOST=server.host,
        RELANCE_SMTP_PORT=str(server.port),
        RELANCE_SMTP_TLS="none",
        RELANCE_FROM="collections@relance.test",
        RELANCE_OUTBOX_DIR=str(workdir / "outbox"),
        # ``--as-of`` freezes the clock at noon, so claims are stamped with that same instant: a negative lease
        # makes any claim left by an earlier (killed) run stale at once. Runs here never overlap.
        RELANCE_OUTBOX_LEASE_SECONDS="-1",
        RELANCE_LOG_LEVEL="WARNING",
    )
    return env


@dataclass
class TrialResult:
    planned: int = 0
    runs: int = 0
    kills: int = 0
    received: int = 0
    duplicates: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    taken_over: set[str] = field(default_factory=set)
    logged_twice: int = 0
    #: Kills that fell between the server's acceptance and the "sent" commit (rows left ``sending`` that the
    #: server had already received), and how many such rows they left.
    window_kills: int = 0
    window_rows: int = 0
    not_sent: int = 0
    seconds: float = 0.0

    @property
    def unexplained_duplicates(self) -> list[str]:
        return [m for m in self.duplicates if m not in self.taken_over]


def run_trial(
    workdir: Path,
    server: SmtpTestServer,
    *,
    clients: int,
    kills: int,
    delay: tuple[float, float],
    rng: random.Random,
    max_runs: int = 40,
    on_count: bool = False,
    database_url: str | None = None,
    pace: float = 0.0,
) -> TrialResult:
    """Kill ``relance send`` ``kills`` times, then let it finish; count what arrived.

    ``on_count=False``: each kill after a random delay (it may fall in start-up or planning).
    ``on_count=True``: each kill as soon as the server has received a random number of messages, so kills
    land while a batch is on the wire — mostly between the server's acceptance and the commit.
    ``database_url``: an empty database to use instead of a SQLite file (PostgreSQL trials).
    ``pace``: seconds the server takes over each message's DATA. Timed kills need it: a run killed after at
    most ``delay[1]`` seconds then sends at most ``delay[1] / pace`` messages, so when
    ``clients * pace > kills * delay[1]`` every timed kill is sure to fall while work remains, however fast the
    machine sends (unpaced, a fast machine sent all 200 before the first kill).
    """
    if pace and not on_count and clients * pace <= kills * delay[1]:
        raise ValueError(f"pace {pace}s cannot keep {clients} messages going through {kills} kills of {delay}")
    started = time.monotonic()
    if pace:
        server.slow(pace, count=1 << 30)
    url = make_ledger(workdir / "relance.db", clients, database_url)
    env = send_env(url, server, workdir)
    result = TrialResult()
    before = len(server.accepted)
    for attempt in range(max_runs):
        log = workdir / f"run{attempt}.err"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-c", CLI, "send", "--as-of", AS_OF],
                cwd=workdir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=err,
            )
            result.runs += 1
            killed = False
            if result.kills < kills and on_count:
                # This run sends at least every row not yet ``sent``: aim at a random point inside that.
                remaining = _unsent(url) if attempt else clients
                target = len(server.state.accepted) + rng.randint(1, max(1, remaining - 1))
                killed = _kill_at_count(proc, server, target, timeout_s=300)
            elif result.kills < kills:
                try:
                    proc.wait(timeout=rng.uniform(*delay))
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
                    killed = True
            out, _ = proc.communicate(timeout=300)
        text = log.read_text(encoding="utf-8", errors="replace")
        result.logged_twice += text.count(POSSIBLY_TWICE)
        # A takeover logged by a run that was itself killed later still explains a duplicate.
        result.taken_over.update(re.findall(POSSIBLY_TWICE + r": (\S+) was claimed", text))
        if killed:
            result.kills += 1
            in_window = _received_but_uncommitted(url, server.accepted_ids()[before:])
            result.window_kills += bool(in_window)
            result.window_rows += in_window
            continue
        if proc.returncode != 0:
            raise AssertionError(f"relance send failed ({proc.returncode}): {log.read_text()[-2000:]}")
        report = json.loads(out.decode().strip().splitlines()[-1])
        result.taken_over.update(report["possibly_sent_twice"])
        if result.kills >= kills and report["sent"] == 0 and not report["possibly_sent_twice"]:
            break
    # What the database planned, against what the server received.
    engine = open_database(url)
    with session_factory(engine)() as session:
        rows = list(session.scalars(select(OutboxMessage)))
    engine.dispose()
    planned = {r.message_id for r in rows}
    result.planned = len(planned)
    result.not_sent = sum(1 for r in rows if r.status != "sent")
    received = server.accepted_ids()[before:]
    result.received = len(received)
    counts: dict[str, int] = {}
    for mid in received:
        counts[mid] = counts.get(mid, 0) + 1
    result.duplicates = [m for m, n in counts.items() if n > 1 for _ in range(n - 1)]
    result.lost = sorted(planned - counts.keys())
    result.seconds = time.monotonic() - started
    if pace:
        server.clear_faults()
    return result


def _kill_at_count(proc: subprocess.Popen[bytes], server: SmtpTestServer, count: int, timeout_s: float) -> bool:
    """SIGKILL ``proc`` as soon as the server holds ``count`` messages; False when it exited first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(server.state.accepted) >= count:  # len() of a list is atomic: no copy, no lock, no delay
            proc.send_signal(signal.SIGKILL)
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    return True


def _unsent(url: str) -> int:
    engine = open_database(url)
    try:
        with session_factory(engine)() as session:
            rows = session.scalars(select(OutboxMessage.status))
            return sum(1 for status in rows if status != "sent")
    finally:
        engine.dispose()


def _received_but_uncommitted(url: str, received: list[str]) -> int:
    """Rows a killed run left ``sending`` although the server had accepted them: the duplicate window."""
    proc_done = set(received)
    engine = open_database(url)
    try:
        with session_factory(engine)() as session:
            sending = session.scalars(select(OutboxMessage.message_id).where(OutboxMessage.status == "sending"))
            return sum(1 for mid in sending if mid.strip("<>") in proc_done or mid in proc_done)
    finally:
        engine.dispose()
