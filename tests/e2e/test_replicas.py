"""Two ``relance run`` replicas on one PostgreSQL, one Dovecot, one SMTP server; one of them is killed mid-run.

GIVEN 200 clients with a reminder due, two daemons started against the same database, IMAP inbox and SMTP
server, and 50 debtor replies (promises threaded on the reminder, "never received" written afresh)
WHEN replica A (the inbox leader, busy sending) is killed with SIGKILL while its SMTP transaction hangs
THEN replica B takes over the inbox lease (the advisory lock dies with A's connection) and the stale outbox
claims, every reminder and acknowledgement reaches the SMTP server, a second copy only for a message B logged
as "possibly sent twice", and every reply is recorded, classified and acted upon exactly once.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import make_engine, session_factory
from bot.adapters.db.models import AuditEntry, ClassificationRecord, InboundMessage, OutboxMessage, Promise
from tests.e2e.replicas import (
    Debtor,
    Replica,
    base_env,
    missing_text,
    promise_text,
    relance,
    reply,
    wait_for,
    write_ledger,
)
from tests.servers.dovecot import Dovecot
from tests.servers.postgres import Postgres
from tests.servers.smtp_server import SmtpTestServer

AS_OF = date(2026, 11, 3)  # a Tuesday, no holiday in France: reminders may leave at once
CLIENTS = 200
PROMISES = 30  # threaded on the reminder: one promise and one promise_ack each
MISSING = 20  # plain replies from the client's address: one invoice copy each
# How long a dead replica's outbox claim blocks its messages; longer than a live replica's slowest batch here.
CLAIM_SECONDS = 10
pytestmark = pytest.mark.postgres
RUN_ARGS = (
    "--no-web",
    "--as-of",
    AS_OF.isoformat(),
    "--outbox-seconds",
    "1",
    "--poll-seconds",
    "1",
    "--claim-seconds",
    str(CLAIM_SECONDS),
)


def bare(message_id: str) -> str:
    return message_id.strip().strip("<>")


def count(factory: sessionmaker[Session], model: type[object]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def outbox(factory: sessionmaker[Session]) -> list[tuple[str, str, str, str, str | None]]:
    """(message_id, kind, template, status, claimed_by) for every outbox row."""
    with factory() as session:
        rows = session.execute(
            select(
                OutboxMessage.message_id,
                OutboxMessage.kind,
                OutboxMessage.template,
                OutboxMessage.status,
                OutboxMessage.claimed_by,
            )
        ).all()
    return [(bare(m), k, t, s, c) for m, k, t, s, c in rows]


def test_replicas_starting_together_on_an_empty_database_all_come_up(postgres_url: str) -> None:
    """Every replica upgrades the schema at start; on an empty database they used to race and all but one
    crashed on "duplicate key value violates unique constraint" (the migration lock serialises them)."""
    code = "import sys; from bot.adapters.db.engine import open_database; open_database(sys.argv[1]).dispose()"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, postgres_url], stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
        )
        for _ in range(3)
    ]
    outcomes = [(proc.wait(60), proc.communicate()[1]) for proc in procs]
    assert [rc for rc, _err in outcomes] == [0, 0, 0], "\n".join(err[-1500:] for _rc, err in outcomes)
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM alembic_version")) == 1
    finally:
        engine.dispose()


@dataclass
class Run:
    """What the scenario left behind, for the tests below to judge."""

    factory: sessionmaker[Session]
    debtors: list[Debtor]
    replies: dict[str, bytes]  # Message-ID (no brackets) -> raw bytes delivered to Dovecot
    in_flight: set[str]  # outbox rows A had claimed and not recorded when it was killed
    a_sent_in_batch: int  # messages of that claim the SMTP server had accepted from A
    read_by_a: int
    accepted: Counter[str]  # Message-ID -> copies accepted by the SMTP server
    b: Replica
    b_exit: int
    seconds: float


def _a_batch_progress(factory: sessionmaker[Session], a_holder: re.Pattern[str], smtp: SmtpTestServer) -> int:
    """How many messages of A's current claim the SMTP server accepted (0 when A holds no claim).

    One replica claims one batch at a time, stamped with one ``claimed_at``: that stamp finds the batch
    whether its rows are still ``sending`` or already recorded one by one.
    """
    with factory() as session:
        stamps = {
            at
            for at, holder in session.execute(
                select(OutboxMessage.claimed_at, OutboxMessage.claimed_by).where(OutboxMessage.status == "sending")
            )
            if holder and a_holder.match(holder)
        }
        if len(stamps) != 1:
            return 0
        batch = {
            bare(m)
            for m in session.scalars(select(OutboxMessage.message_id).where(OutboxMessage.claimed_at == stamps.pop()))
        }
    return len(batch & {bare(m) for m in smtp.accepted_ids()})


@pytest.fixture(scope="module")
def killed_replica_run(
    postgres_server: Postgres, dovecot_server: Dovecot, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    """GIVEN the ledger and two replicas, WHEN A is killed mid-run, THEN B finishes: run once, judged below."""
    started = time.monotonic()
    folder = tmp_path_factory.mktemp("replicas")
    url = postgres_server.create_database()
    user = dovecot_server.add_user()
    smtp = SmtpTestServer().start()
    engine = make_engine(url)
    factory = session_factory(engine)
    a: Replica | None = None
    b: Replica | None = None
    try:
        env = base_env(
            RELANCE_DATABASE_URL=url,
            RELANCE_IMAP_HOST="127.0.0.1",
            RELANCE_IMAP_PORT=str(dovecot_server.port),
            RELANCE_IMAP_USER=user.name,
            RELANCE_IMAP_PASSWORD=user.password,
            RELANCE_IMAP_TLS="none",
            RELANCE_SMTP_HOST="127.0.0.1",
            RELANCE_SMTP_PORT=str(smtp.port),
            RELANCE_SMTP_TLS="none",
            RELANCE_MAILDIR=str(folder / "maildir"),
            RELANCE_OUTBOX_DIR=str(folder / "outbox"),
        )
        debtors = write_ledger(folder, CLIENTS, AS_OF)
        for kind in ("clients", "invoices", "payments"):
            relance(folder, env, "import", kind, f"{kind}.csv")
        # A little latency per message, as a real relay has, so the kill lands in the middle of the sending.
        smtp.slow(0.03, seconds=600)

        a = Replica("a", folder, env, *RUN_ARGS)
        wait_for(lambda: bool(a.logged("now leader")), 60, f"replica A to lead the inbox\n{a.tail()}")
        b = Replica("b", folder, env, *RUN_ARGS)
        wait_for(lambda: count(factory, OutboxMessage) == CLIENTS, 90, f"the reminders recorded\n{a.tail()}")
        with factory() as session:
            pairs = session.execute(select(OutboxMessage.client_id, OutboxMessage.message_id))
            reminder_of = {client_id: message_id for client_id, message_id in pairs}
        replies: dict[str, bytes] = {}
        for n, debtor in enumerate(debtors[:PROMISES]):
            mid, raw = reply(debtor, n, promise_text(debtor), in_reply_to=reminder_of[debtor.client_id])
            replies[mid] = raw
        for n, debtor in enumerate(debtors[PROMISES : PROMISES + MISSING], start=PROMISES):
            mid, raw = reply(debtor, n, missing_text(debtor), in_reply_to=None)
            replies[mid] = raw
        # Half the replies before the kill (promises and copies interleaved), half after.
        order = sorted(replies, key=lambda m: int(m.split("-")[1].split("@")[0]) % 2)
        first_wave, second_wave = order[: len(order) // 2], order[len(order) // 2 :]
        for mid in first_wave:
            dovecot_server.deliver(user, replies[mid])
        wait_for(
            lambda: count(factory, InboundMessage) >= 3 and len(smtp.accepted) >= 40,
            60,
            f"A to read replies and both to send\n{a.tail()}\n{b.tail()}",
        )
        assert not b.logged("now leader"), "B must stay on standby while A holds the lock"

        # Hang the SMTP transactions begun in the next moment, and kill A inside one once it is at least two
        # messages into a claimed batch: A dies after the server took messages it had not yet recorded.
        a_holder = re.compile(rf"^[^:]+:{a.pid}:")
        deadline = time.monotonic() + 60
        while True:
            smtp.clear_faults()
            smtp.slow(2.0, seconds=0.4)
            smtp.slow(0.03, seconds=600)
            time.sleep(0.3)
            progress = _a_batch_progress(factory, a_holder, smtp)
            if progress >= 2:
                a.kill()
                break
            assert time.monotonic() < deadline, f"A never got two messages into a batch\n{a.tail()}"
            time.sleep(2.0)  # let the hung transactions end before trying again
        in_flight = {m for m, _k, _t, s, c in outbox(factory) if s == "sending" and c and a_holder.match(c)}
        read_by_a = count(factory, InboundMessage)
        for mid in second_wave:
            dovecot_server.deliver(user, replies[mid])

        expected_rows = CLIENTS + PROMISES + MISSING  # reminders, promise acknowledgements, invoice copies
        wait_for(lambda: bool(b.logged("now leader")), 30, f"B to take the inbox over\n{b.tail()}")
        wait_for(
            lambda: (
                count(factory, InboundMessage) == len(replies)
                and [s for *_r, s, _c in outbox(factory)] == ["sent"] * expected_rows
            ),
            90,
            f"B to finish: read every reply and send everything\n{b.tail()}",
        )
        assert b.alive(), b.tail()
        b_exit = b.terminate()
        run = Run(
            factory=factory,
            debtors=debtors,
            replies=replies,
            in_flight=in_flight,
            a_sent_in_batch=progress,
            read_by_a=read_by_a,
            accepted=Counter(bare(m) for m in smtp.accepted_ids()),
            b=b,
            b_exit=b_exit,
            seconds=round(time.monotonic() - started, 1),
        )
        (folder / "figures.json").write_text(
            json.dumps(
                {
                    "seconds": run.seconds,
                    "in_flight_at_kill": len(in_flight),
                    "a_sent_in_batch": progress,
                    "duplicates": sum(1 for n in run.accepted.values() if n > 1),
                    "replies_read_by_a": read_by_a,
                }
            )
        )
        yield run
    finally:
        for replica in (a, b):
            if replica is not None and replica.alive():
                replica.terminate()
        smtp.stop()
        engine.dispose()
        postgres_server.drop_database(url)


@pytest.mark.servers
@pytest.mark.timeout(300)  # the first test to ask for the scenario runs it (about 70 s here)
def test_every_message_reaches_smtp_and_only_announced_takeovers_repeat(killed_replica_run: Run) -> None:
    run = killed_replica_run
    assert run.b_exit == 0, run.b.tail()
    rows = outbox(run.factory)
    assert Counter(k for _m, k, *_r in rows) == {"reminder": CLIENTS, "ack": PROMISES + MISSING}
    assert Counter(t for _m, k, t, *_r in rows if k == "ack") == {"promise_ack": PROMISES, "invoice_copy": MISSING}
    assert set(run.accepted) == {m for m, *_r in rows}, "every recorded message reached the server, nothing else"
    announced = {
        bare(found.group(1))
        for msg in run.b.logged("possibly sent twice")
        if (found := re.search(r"possibly sent twice: (\S+)", msg))
    }
    assert run.in_flight and announced == run.in_flight, "B took over exactly the claims A died with, and said so"
    duplicated = {m for m, n in run.accepted.items() if n > 1}
    assert duplicated <= announced, f"duplicates nobody was warned about: {duplicated - announced}"
    assert max(run.accepted.values()) <= 2
    assert not run.b.logged("maximum number of running instances"), "a long send batch is no warning"


@pytest.mark.servers
def test_a_killed_replica_causes_at_most_one_duplicate(killed_replica_run: Run) -> None:
    """Only the message on the wire when A died may go out twice (the server may have taken it unanswered)."""
    run = killed_replica_run
    assert run.a_sent_in_batch >= 2, "the kill must come after A sent part of a batch"
    duplicated = {m for m, n in run.accepted.items() if n > 1}
    assert len(duplicated) <= 1, f"{len(duplicated)} messages sent twice after A died"


@pytest.mark.servers
def test_every_reply_is_recorded_and_classified_once_across_the_failover(killed_replica_run: Run) -> None:
    run = killed_replica_run
    with run.factory() as session:
        inbound = session.execute(select(InboundMessage.message_id, InboundMessage.status, InboundMessage.uid)).all()
        classified = session.scalar(select(func.count()).select_from(ClassificationRecord))
    assert sorted(bare(m or "") for m, _s, _u in inbound) == sorted(run.replies)
    assert len({u for *_r, u in inbound}) == len(run.replies)
    assert {s for _m, s, _u in inbound} == {"processed"}
    assert classified == len(run.replies)
    assert 0 < run.read_by_a < len(run.replies), "A read part of the inbox, B the rest"
    assert run.b.logged("now leader"), "B took the inbox lease over from the dead replica"


@pytest.mark.servers
def test_effects_of_replies_are_never_doubled(killed_replica_run: Run) -> None:
    run = killed_replica_run
    with run.factory() as session:
        promises = session.execute(select(Promise.invoice_number, Promise.status)).all()
        audit_keys = select(AuditEntry.entity, AuditEntry.entity_id, AuditEntry.action)
        audits = Counter((e, i, act) for e, i, act in session.execute(audit_keys))
    assert sorted(n for n, _s in promises) == sorted(d.invoice for d in run.debtors[:PROMISES])
    assert {s for _n, s in promises} == {"pending"}
    doubled = {key: n for key, n in audits.items() if n > 1}
    assert not doubled, f"audit entries written twice: {doubled}"
    copies = sum(n for (entity, _i, action), n in audits.items() if (entity, action) == ("client", "invoice_copy_sent"))
    assert copies == MISSING
