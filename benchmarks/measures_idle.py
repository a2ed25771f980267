"""IDLE latency: a reply delivered to Dovecot → its decision committed by the real inbox listener.

relance: ``bot.app.listener.InboxListener`` (as ``relance run`` builds it: ``InboxProcessor``, ``ImapMailbox``,
``TableLease``) in its own thread against a local Dovecot and a SQLite ledger. For each delivery the latency is
the wall-clock time from the Maildir rename to the moment its ``inbound_messages`` row is visible to another
connection (polled every 2 ms: the app's clock is fixed, so ``processed_at`` cannot be used).

Baseline, same run, same messages: a raw ``imapclient`` connection in IDLE on its own mailbox; the latency is
the time from the same kind of delivery to the EXISTS response. Dovecot waits ~500 ms before it notifies IDLE
clients, so both sides carry that delay and the target is on the difference of the p95s.

Messages are delivered one at a time, each after the previous one was seen, after a random pause (seeded):
- relance: 0.05–2.05 s, so deliveries fall at every phase of the listener's 2 s IDLE slices (a message that
  lands between two slices is found by the catch-up pass or the pre-IDLE check, one that lands in IDLE waits
  for Dovecot's notification);
- raw: 0.55–0.8 s. Dovecot arms a 500 ms timer on the first inotify event and notifies when it fires; its own
  new/ → cur/ rename right after a notification arms the timer again, so a delivery within 500 ms of the last
  EXISTS would be announced early by that leftover timer. Waiting it out measures a fresh arrival.
N is the number of measured deliveries per side, spread over the repetitions (a fresh mailbox, database and
listener each); the percentiles are over all of them.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import AS_OF_DAY, REPO, build_ledger, stats  # noqa: E402
from benchmarks.measures_mail import reply_message  # noqa: E402

TIMEOUT_S = 15.0  # one message not seen by then fails the measure (something is broken, not slow)
POLL_S = 0.002
TARGET_MS = 500.0


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between closest ranks."""
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary_ms(samples_s: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples_s]
    return {
        "p50": round(statistics.median(ms), 1),
        "p95": round(percentile(ms, 95), 1),
        "max": round(max(ms), 1),
        "min": round(min(ms), 1),
        "n": len(ms),
    }


def _pause(rng: random.Random, low: float, high: float) -> None:
    time.sleep(rng.uniform(low, high))


# ---------------------------------------------------------------- baseline: raw IDLE


def _raw_idle(server: Any, user: Any, messages: list[bytes], rng: random.Random) -> list[float]:
    import imapclient

    client = imapclient.IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=30)
    latencies: list[float] = []
    try:
        client.login(user.name, user.password)
        exists = int(client.select_folder("INBOX")[b"EXISTS"])
        client.idle()
        for raw in messages:
            _pause(rng, 0.55, 0.8)
            start = time.perf_counter()
            server.deliver(user, raw)
            deadline = start + TIMEOUT_S
            seen = False
            while not seen and (left := deadline - time.perf_counter()) > 0:
                for r in client.idle_check(timeout=left):
                    if isinstance(r, tuple) and len(r) >= 2 and r[1] == b"EXISTS" and int(r[0]) > exists:
                        exists, seen = int(r[0]), True
            if not seen:
                raise RuntimeError(f"raw IDLE: no EXISTS within {TIMEOUT_S} s")
            latencies.append(time.perf_counter() - start)
        client.idle_done()
    finally:
        try:
            client.logout()
        except Exception:  # noqa: BLE001 - the measure's own error matters more than a failed LOGOUT
            pass
    return latencies


# ---------------------------------------------------------------- relance: the listener thread


def _recorded(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COUNT(*) FROM inbound_messages").fetchone()[0])


def _wait_recorded(db: sqlite3.Connection, count: int, start: float) -> float:
    deadline = start + TIMEOUT_S
    while time.perf_counter() < deadline:
        if _recorded(db) >= count:
            return time.perf_counter() - start
        time.sleep(POLL_S)
    raise RuntimeError(f"relance: message {count} not recorded within {TIMEOUT_S} s")


def _listener(
    server: Any, user: Any, messages: list[bytes], db_path: Path, rng: random.Random
) -> tuple[list[float], dict[str, int], int]:
    from bot.adapters.db.engine import open_database, session_factory
    from bot.adapters.imap import ImapConfig, ImapMailbox
    from bot.app.clock import FixedClock, noon_in
    from bot.app.daemon import INBOX_LEASE
    from bot.app.inbox import InboxProcessor
    from bot.app.lease import make_lease
    from bot.app.listener import InboxListener
    from bot.app.settings import load_settings
    from bot.app.wiring import make_renderer

    settings = load_settings(REPO / "config", env={})
    engine = open_database(f"sqlite:///{db_path}")
    factory = session_factory(engine)
    # The demo/benchmark ledger is dated 3 Nov 2026: a fixed clock keeps the promise date in the future.
    processor = InboxProcessor(factory, settings, FixedClock(noon_in(AS_OF_DAY)), make_renderer(settings, factory))
    config = ImapConfig(host="127.0.0.1", port=server.port, user=user.name, password=user.password, tls="none")
    listener = InboxListener(processor, lambda: ImapMailbox(config), make_lease(engine, factory, INBOX_LEASE, "bench"))
    db = sqlite3.connect(db_path, isolation_level=None)
    latencies: list[float] = []
    try:
        listener.start()
        deadline = time.monotonic() + TIMEOUT_S
        while listener.passes < 1:  # leader, connected, first (empty) pass done: now in IDLE
            if time.monotonic() > deadline or not listener.alive:
                raise RuntimeError(f"listener did not start: {listener.health()}")
            time.sleep(0.01)
        base = _recorded(db)
        for i, raw in enumerate(messages, 1):
            _pause(rng, 0.05, 2.05)
            start = time.perf_counter()
            server.deliver(user, raw)
            latencies.append(_wait_recorded(db, base + i, start))
        statuses = dict(db.execute("SELECT status, COUNT(*) FROM inbound_messages GROUP BY status").fetchall())
        passes = listener.passes
    finally:
        if not listener.stop(10.0):
            raise RuntimeError("listener did not stop within 10 s")
        db.close()
        engine.dispose()
    return latencies, statuses, passes


# ---------------------------------------------------------------- the measure


def measure_idle(sizes: dict[str, Any], work: Path) -> dict[str, Any]:
    from tests.servers.dovecot import Dovecot

    n, reps = sizes["idle"], sizes["reps"]
    per_rep_n = max(1, -(-n // reps))  # ceil: at least N measured deliveries per side in all
    warmup = 2  # imports, first parse, first SQL statements: a running daemon is past them
    total = per_rep_n + warmup
    base = work / "base.sqlite3"
    build_ledger(f"sqlite:///{base}", clients=total, invoices=total, all_open=True).dispose()
    messages = [reply_message(i, total) for i in range(total)]
    rng = random.Random(20261103)
    ours: list[float] = []
    raw: list[float] = []
    per_rep: list[dict[str, Any]] = []
    statuses: dict[str, int] = {}
    server = Dovecot()
    try:
        server.start()
        for rep in range(reps):
            # Alternate which side goes first, so a slow spell of the machine does not always hit the same side.
            order = ("raw", "relance") if rep % 2 == 0 else ("relance", "raw")
            got: dict[str, list[float]] = {}
            for side in order:
                user = server.add_user(f"idle-{side}-{rep}")
                if side == "raw":
                    got[side] = _raw_idle(server, user, messages, rng)[warmup:]
                else:
                    db_path = work / f"idle{rep}.sqlite3"
                    db_path.write_bytes(base.read_bytes())
                    lat, st, passes = _listener(server, user, messages, db_path, rng)
                    got[side] = lat[warmup:]
                    for k, v in st.items():
                        statuses[k] = statuses.get(k, 0) + v
                    db_path.unlink()
                    for suffix in ("-wal", "-shm"):
                        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
            raw += got["raw"]
            ours += got["relance"]
            p95_raw, p95_ours = percentile(got["raw"], 95) * 1000, percentile(got["relance"], 95) * 1000
            per_rep.append(
                {"raw_p95_ms": round(p95_raw, 1), "relance_p95_ms": round(p95_ours, 1), "diff_ms": p95_ours - p95_raw}
            )
    finally:
        server.destroy()
    s_ours, s_raw = summary_ms(ours), summary_ms(raw)
    diff = s_ours["p95"] - s_raw["p95"]
    return {
        "deliveries_per_side": len(ours),
        "deliveries_per_rep": per_rep_n,
        "warmup_per_rep": warmup,
        "relance_ms": s_ours,
        "raw_ms": s_raw,
        "p95_diff_ms": round(diff, 1),
        "p95_diff_ms_per_rep": stats([r["diff_ms"] for r in per_rep]),
        "per_rep": per_rep,
        "relance_statuses": statuses,
        "target": "p95 ≤ baseline p95 + 500 ms",
        "met": diff <= TARGET_MS,
        "absolute": (
            f"p50/p95/max {s_ours['p50']:.0f}/{s_ours['p95']:.0f}/{s_ours['max']:.0f} ms "
            f"(raw IDLE {s_raw['p50']:.0f}/{s_raw['p95']:.0f}/{s_raw['max']:.0f}); p95 +{diff:.0f} ms"
        ),
        "note": "relance = delivery → inbound_messages row committed by InboxListener (IMAP IDLE, SQLite); "
        "raw = delivery → EXISTS on an imapclient IDLE connection; percentiles pooled over all repetitions",
        "server": "Dovecot (tests/servers/dovecot.py) on 127.0.0.1, Maildir",
    }
