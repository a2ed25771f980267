"""Crash safety of reading replies (issue 9 §1, inbox): SIGKILL ``relance inbox fetch`` mid-way, restart, repeat.

A Maildir holds 100 replies from 100 clients (promises, "already paid", disputes). ``relance inbox fetch`` runs as
a separate process and is killed with SIGKILL as soon as the database has recorded a random number of messages
(plus a random few milliseconds, so kills also fall inside a transaction or a Maildir move); it is restarted
until a run completes. Promise under test (DESIGN.md): every message recorded exactly once, and its effects
(invoice transitions in the audit log, promises, acknowledgements in the outbox, review items) never doubled.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from bot.adapters.db.engine import open_database, session_factory
from bot.adapters.db.models import AuditEntry, InboundMessage, OutboxMessage, Promise, ReviewItem
from bot.app.client_import import import_clients
from bot.app.invoice_import import import_invoices

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 3, 8, tzinfo=UTC)
CLI = "from bot.app.cli import main; main()"
REPLIES = 300  # enough that a run lasts well past its first commit: the kills must land mid-run

BODIES = {
    "promise": "Bonjour,\n\nNous réglerons la facture {inv} par virement le 20/11/2026.\n\nCordialement,\nLa compta",
    "paid": "Hi,\n\nWe already paid invoice {inv} by bank transfer yesterday.\n\nRegards",
    "dispute": "Hello,\n\nWe dispute invoice {inv}: the goods were never delivered. We will not pay it.\n\nRegards",
}


def kind_of(i: int) -> str:
    return ("promise", "paid", "dispute")[i % 3]


def make_ledger(folder: Path) -> str:
    url = f"sqlite:///{folder / 'relance.db'}"
    factory = session_factory(open_database(url))
    (folder / "c.csv").write_text(
        "client_id,name,email,language,profile\n"
        + "".join(f"C{i:03d},Client {i},ap@client{i}.test,fr,standard\n" for i in range(REPLIES)),
        encoding="utf-8",
    )
    (folder / "i.csv").write_text(
        "invoice_number,client_id,issue_date,due_date,amount,currency,amount_paid\n"
        + "".join(f"INV-{i:03d},C{i:03d},2026-10-01,2026-11-02,{200 + i}.00,EUR,0\n" for i in range(REPLIES)),
        encoding="utf-8",
    )
    import_clients(factory, folder / "c.csv", now=NOW, profiles={"standard"})
    import_invoices(factory, folder / "i.csv", now=NOW)
    return url


def fill_maildir(maildir: Path) -> None:
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for i in range(REPLIES):
        inv = f"INV-{i:03d}"
        raw = (
            f"From: Compta <ap@client{i}.test>\r\nTo: collections@relance.test\r\n"
            f"Subject: RE: Relance facture {inv}\r\nDate: Tue, 03 Nov 2026 10:12:00 +0100\r\n"
            f"Message-ID: <reply{i}@client{i}.test>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + BODIES[kind_of(i)].format(inv=inv).replace("\n", "\r\n")
            + "\r\n"
        )
        (maildir / "new" / f"1793700000.M{i}P1.test").write_bytes(raw.encode())


def recorded(url: str) -> int:
    # A bare read-only connection: polled every few milliseconds while the fetch process writes (WAL).
    with closing(sqlite3.connect(f"file:{url.removeprefix('sqlite:///')}?mode=ro", uri=True, timeout=5)) as db:
        return int(db.execute("SELECT count(*) FROM inbound_messages").fetchone()[0])


def fetch_env(url: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELANCE_")}
    env.update(
        RELANCE_DATABASE_URL=url,
        RELANCE_CONFIG_DIR=str(ROOT / "config"),
        RELANCE_TEMPLATES_DIR=str(ROOT / "templates"),
        RELANCE_MAILDIR=str(workdir / "maildir"),
        RELANCE_OUTBOX_DIR=str(workdir / "outbox"),
        RELANCE_LOG_LEVEL="WARNING",
    )
    return env


def kill_after_progress(proc: subprocess.Popen[bytes], url: str, done: int, delay_s: float) -> bool:
    """SIGKILL ``proc`` ``delay_s`` after it first committed something; False when it exited first.

    The inbox commits messages in growing batches (1, 2, 4 ... per transaction), so the kill falls anywhere:
    inside a batch's transaction, between a commit and the Maildir move, or while parsing.
    """
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            progressed = recorded(url) > done
        except sqlite3.Error:  # the writer may hold the database for a moment: look again
            progressed = False
        if progressed:
            time.sleep(delay_s)
            if proc.poll() is not None:
                return False
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            return True
        time.sleep(0.005)
    raise AssertionError("inbox fetch made no progress for 120 s")


def test_inbox_fetch_survives_sigkill(tmp_path: Path) -> None:
    seed = int(os.environ.get("RELANCE_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    url = make_ledger(tmp_path)
    fill_maildir(tmp_path / "maildir")
    env = fetch_env(url, tmp_path)
    kills, runs, kill_points = 0, 0, []
    final: dict[str, object] = {}
    for attempt in range(30):
        runs += 1
        err_path = tmp_path / f"run{attempt}.err"
        with err_path.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-c", CLI, "inbox", "fetch"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=err
            )
            if kills < 4:
                # Within 50 ms of a commit: processing runs at hundreds of replies a second, so a longer wait
                # would let a whole run finish before the kill.
                if kill_after_progress(proc, url, recorded(url), rng.uniform(0, 0.05)):
                    kills += 1
                    kill_points.append(recorded(url))
                    continue
            out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"seed {seed}: {err_path.read_text()[-2000:]}"
        final = json.loads(out.decode().strip().splitlines()[-1])
        break  # a run that ends by itself has read everything
    assert recorded(url) == REPLIES, f"seed {seed}"
    assert kills >= 2, f"seed {seed}: the runs finished before they could be killed ({kill_points})"
    print(f"inbox crash: seed={seed} runs={runs} kills={kills} recorded at kills={kill_points} last run={final}")

    factory = session_factory(open_database(url))
    with factory() as s:
        rows = list(s.scalars(select(InboundMessage)))
        ids = Counter(r.message_id for r in rows)
        assert len(rows) == REPLIES, f"seed {seed}: {len(rows)} rows for {REPLIES} messages"
        assert all(n == 1 for n in ids.values()), f"seed {seed}: recorded twice {[m for m, n in ids.items() if n > 1]}"
        assert {r.status for r in rows} <= {"processed", "review"}, f"seed {seed}"
        # Effects, once each.
        changes = Counter(
            (a.entity_id, a.action) for a in s.scalars(select(AuditEntry).where(AuditEntry.entity == "invoice"))
        )
        assert changes and max(changes.values()) == 1, f"seed {seed}: {changes.most_common(3)}"
        promises = Counter(p.invoice_number for p in s.scalars(select(Promise)))
        expected_promises = {f"INV-{i:03d}" for i in range(REPLIES) if kind_of(i) == "promise"}
        assert set(promises) == expected_promises and set(promises.values()) == {1}, f"seed {seed}"
        acks = Counter(
            tuple(o.invoice_numbers) for o in s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "ack"))
        )
        assert acks and set(acks.values()) == {1}, f"seed {seed}: an acknowledgement queued twice"
        reviews = Counter(r.inbound_id for r in s.scalars(select(ReviewItem)))
        assert reviews and set(reviews.values()) == {1}, f"seed {seed}: a reply reviewed twice"
        disputes = sum(1 for i in range(REPLIES) if kind_of(i) == "dispute")
        assert sum(reviews.values()) >= disputes
    # Nothing left behind in the inbox: every message was filed (a kill between the commit and the move leaves
    # the file where it was; the restarted run must still not process it twice, which the counts above prove).
    leftover = list((tmp_path / "maildir" / "new").iterdir()) + list((tmp_path / "maildir" / "cur").iterdir())
    print(f"inbox crash: messages left unfiled in INBOX after the last run: {len(leftover)}")
