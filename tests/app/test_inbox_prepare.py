"""Reading replies in a reader process gives exactly what reading them in the main process gives.

Ledger (``two_client_ledger``): client A1 (compta@alpha.test) owes INV-1 and INV-2; B2 (ap@beta.test) owes INV-3.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.models import InboundMessage, Promise
from bot.adapters.parse import parse_message
from bot.app.clock import FixedClock
from bot.app.inbox import InboxProcessor
from bot.app.inbox_prepare import POOL_MIN_BATCH, Reader, default_workers
from bot.app.settings import load_settings
from bot.app.wiring import make_renderer
from bot.ports import InboundMail
from tests.fakes import ListMailbox

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 3, 11, 0, tzinfo=UTC)
UNREADABLE = b""  # not a message at all: the parser refuses it


def reply(i: int) -> bytes:
    sender, invoice = ("compta@alpha.test", "INV-1") if i % 2 else ("ap@beta.test", "INV-3")
    kind = (
        f"Nous réglerons la facture {invoice} le {10 + i % 15}/11/2026."
        if i % 3
        else f"We dispute invoice {invoice}: the goods never arrived."
    )
    return (
        f"From: Compta <{sender}>\r\nTo: collections@relance.test\r\nSubject: Re: Relance facture {invoice}\r\n"
        f"Date: Tue, 03 Nov 2026 10:{i % 60:02d}:00 +0100\r\nMessage-ID: <r{i}@test>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nBonjour,\r\n\r\n{kind}\r\n\r\nCordialement\r\n"
    ).encode()


@contextlib.contextmanager
def another_thread() -> Iterator[None]:
    """A second thread running meanwhile (as in the daemon)."""
    busy = threading.Event()
    other = threading.Thread(target=busy.wait)
    other.start()
    try:
        yield
    finally:
        busy.set()
        other.join()


def mails(n: int) -> list[InboundMail]:
    raws = [reply(i) for i in range(n)]
    raws[5] = UNREADABLE
    return [InboundMail("t:INBOX", 1, i + 1, raw) for i, raw in enumerate(raws)]


def test_a_reader_process_reads_exactly_what_the_main_process_reads() -> None:
    batch = mails(POOL_MIN_BATCH + 4)
    inline = Reader(parse_message, workers=0, default_parser=True).start(batch)()
    reader = Reader(parse_message, workers=2, default_parser=True)
    try:
        pooled = reader.start(batch)()
        assert reader._pool is not None  # the batch really went to the reader processes
    finally:
        reader.close()
    assert [p.mail for p in pooled] == batch
    assert [(p.parsed, p.classification, p.refs, p.error) for p in pooled] == [
        (p.parsed, p.classification, p.refs, p.error) for p in inline
    ]
    assert pooled[5].parsed is None and pooled[5].error  # the unreadable one says why, the others are read
    assert all(p.classification is not None for i, p in enumerate(pooled) if i != 5)


def test_small_batches_stay_in_the_main_process_only_while_a_fork_server_would_start_the_readers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small = mails(POOL_MIN_BATCH - 1)
    reader = Reader(parse_message, workers=1, default_parser=True)
    with another_thread():  # readers would need a fork server (the daemon)
        assert len(reader.start(small)()) == len(small)
        assert reader._pool is None
    # Whatever threads earlier tests left behind, the reader now decides as in a single-threaded process.
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    try:
        inline = Reader(parse_message, workers=0, default_parser=True).start(small)()
        pooled = reader.start(small)()  # a plain fork is instant: even one message goes to the reader
        assert reader._pool is not None
        assert [(p.parsed, p.classification, p.error) for p in pooled] == [
            (p.parsed, p.classification, p.error) for p in inline
        ]
    finally:
        reader.close()


def test_custom_parsers_stay_in_the_main_process() -> None:
    custom = Reader(lambda raw: parse_message(raw), workers=1, default_parser=False)
    assert len(custom.start(mails(POOL_MIN_BATCH + 1))()) == POOL_MIN_BATCH + 1
    assert custom._pool is None


def test_a_reader_process_that_dies_is_replaced_by_reading_here() -> None:
    batch = mails(POOL_MIN_BATCH * 4)
    reader = Reader(parse_message, workers=1, default_parser=True)
    try:
        reader.start(batch[:POOL_MIN_BATCH])()  # the pool is up
        assert reader._pool is not None
        for pid in list(reader._pool._processes):
            os.kill(pid, signal.SIGKILL)
        result = reader.start(batch)()
    finally:
        reader.close()
    assert len(result) == len(batch) and result[6].classification is not None
    assert reader.workers == 0 and reader._pool is None  # not used again


def test_default_workers() -> None:
    assert default_workers(0) == 0 and default_workers(3) == 3
    assert default_workers(-1) == max(0, min(2, (os.cpu_count() or 1) - 1))


def test_a_pipelined_backlog_gives_the_outcome_of_reading_in_the_main_process(
    two_client_ledger: sessionmaker[Session], tmp_path: Path
) -> None:
    """GIVEN a backlog of 120 replies WHEN read by a reader process THEN the rows are those of reading here."""
    settings = load_settings(ROOT / "config", env={})
    from bot.adapters.db.engine import open_database, session_factory

    other = session_factory(open_database(f"sqlite:///{tmp_path / 'inline.db'}"))
    with two_client_ledger() as src, other() as dst, dst.begin():
        for table in ("clients", "contacts", "invoices"):
            for row in src.execute(select(InboundMessage.metadata.tables[table])).mappings():
                dst.execute(InboundMessage.metadata.tables[table].insert().values(**row))
    raws = [m.raw for m in mails(120)]
    results = []
    for db, workers in ((two_client_ledger, 1), (other, 0)):
        proc = InboxProcessor(db, settings, FixedClock(NOW), make_renderer(settings), workers=workers)
        try:
            report = proc.run_once(ListMailbox(raws))
            if workers:
                assert proc.reader._pool is not None
        finally:
            proc.close()
        with db() as s:
            results.append(
                (
                    report.as_dict(),
                    sorted(tuple(r) for r in s.execute(select(InboundMessage.uid, InboundMessage.status))),
                    sorted(tuple(r) for r in s.execute(select(Promise.invoice_number, Promise.promised_date))),
                )
            )
    assert results[0] == results[1]
    assert results[0][0]["quarantined"] == 1 and results[0][0]["processed"] + results[0][0]["review"] == 119


def test_warming_up_forks_the_readers_only_while_no_other_thread_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The readers are started before a mailbox's I/O thread exists (a plain fork), never with other threads
    around (that needs a fork server, started when a batch is big enough), and read as before."""
    reader = Reader(parse_message, workers=1, default_parser=True)
    with another_thread():
        reader.warm_up()
        assert reader._pool is None
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    try:
        reader.warm_up()
        pool = reader._pool
        assert pool is not None and pool._mp_context.get_start_method() == "fork"
        reader.warm_up()  # once started, nothing more
        assert reader._pool is pool
        batch = mails(7)
        inline = Reader(parse_message, workers=0, default_parser=True).start(batch)()
        assert [(p.parsed, p.classification, p.error) for p in reader.start(batch)()] == [
            (p.parsed, p.classification, p.error) for p in inline
        ]
        assert reader._pool is pool
    finally:
        reader.close()
    idle = Reader(parse_message, workers=0, default_parser=True)
    idle.warm_up()
    assert idle._pool is None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in status)
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to watch the processes")
def test_reader_processes_do_not_outlive_a_killed_inbox() -> None:
    """GIVEN an inbox process with its reader processes WHEN it is killed with SIGKILL THEN they exit too
    (left alone they would wait for work forever)."""
    import subprocess
    import sys
    import time

    script = (
        "import sys, time\n"
        "from bot.adapters.parse import parse_message\n"
        "from bot.app.inbox_prepare import Reader\n"
        "reader = Reader(parse_message, workers=1, default_parser=True)\n"
        "reader.warm_up()\n"
        "assert reader._pool is not None\n"
        "reader._pool.submit(int).result()\n"
        "print(*reader._pool._processes, flush=True)\n"
        "time.sleep(60)\n"
    )
    inbox = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert inbox.stdout is not None
        workers = [int(pid) for pid in inbox.stdout.readline().split()]
        assert workers and all(_alive(pid) for pid in workers)
    finally:
        os.kill(inbox.pid, signal.SIGKILL)
        inbox.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


def test_the_inbox_starts_its_reader_when_set_up_and_close_waits_for_it_to_end(
    two_client_ledger: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader process is part of the inbox's one-time set-up (forked at creation, ready for the first
    batch); closing the inbox returns once it has ended, so the next inbox of the process can fork again."""
    settings = load_settings(ROOT / "config", env={})
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    proc = InboxProcessor(two_client_ledger, settings, FixedClock(NOW), make_renderer(settings), workers=1)
    try:
        pool = proc.reader._pool
        assert pool is not None and pool._mp_context.get_start_method() == "fork"
        pids = list(pool._processes)
        assert len(pids) == 1 and _alive(pids[0])
    finally:
        proc.close()
    assert proc.reader._pool is None and not _alive(pids[0])
    assert not [t for t in threading.enumerate() if type(t).__name__ == "_ExecutorManagerThread"]
