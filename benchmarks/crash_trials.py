"""Crash trials for ``relance send`` (issue 9 §1): N trials, each SIGKILLing the sender K times at random.

    python benchmarks/crash_trials.py --trials 50 --reminders 2000 --kills 8 [--on-count] [--postgres]

``--on-count`` kills each run as soon as the SMTP server has received a random number of its messages (so kills
land while a batch is on the wire); without it, each kill falls after a random delay. ``--max-minutes`` stops
starting new trials after that long (the totals say how many ran). ``--postgres`` keeps each trial's ledger in a
fresh database of a private PostgreSQL server (``tests/servers/postgres.py``) instead of a SQLite file.

Prints one line per trial and a total: kills, messages received, duplicates (all must be reported as
"possibly sent twice"), lost (must be 0), and how many trials hit the accept-before-commit window.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `tests.reliability` importable from anywhere

from tests.reliability.crash import run_trial  # noqa: E402
from tests.servers.postgres import Postgres  # noqa: E402
from tests.servers.smtp_server import SmtpTestServer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--reminders", type=int, default=2000)
    ap.add_argument("--kills", type=int, default=8)
    ap.add_argument("--max-delay", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--on-count", action="store_true", help="kill after N messages reached the server")
    ap.add_argument("--max-minutes", type=float, default=0.0, help="start no new trial after this long")
    ap.add_argument("--postgres", action="store_true", help="ledgers in PostgreSQL instead of SQLite files")
    args = ap.parse_args()
    postgres = Postgres() if args.postgres else None
    try:
        if postgres is not None:
            postgres.start()
        _trials(args, postgres)
    finally:
        if postgres is not None:
            postgres.destroy()


def _trials(args: argparse.Namespace, postgres: Postgres | None) -> None:
    rng = random.Random(args.seed)
    started = time.monotonic()
    totals = {
        "trials": 0,
        "kills": 0,
        "window_kills": 0,
        "received": 0,
        "duplicates": 0,
        "unexplained": 0,
        "lost": 0,
        "trials_with_duplicates": 0,
    }
    for trial in range(args.trials):
        if args.max_minutes and time.monotonic() - started > args.max_minutes * 60:
            break
        url = postgres.create_database() if postgres is not None else None
        with SmtpTestServer() as server, tempfile.TemporaryDirectory() as tmp:
            r = run_trial(
                Path(tmp),
                server,
                clients=args.reminders,
                kills=args.kills,
                delay=(1.5, args.max_delay),
                rng=rng,
                max_runs=args.kills + 20,
                on_count=args.on_count,
                database_url=url,
            )
        if postgres is not None and url is not None:
            postgres.drop_database(url)
        totals["trials"] += 1
        totals["window_kills"] += r.window_kills
        totals["kills"] += r.kills
        totals["received"] += r.received
        totals["duplicates"] += len(r.duplicates)
        totals["unexplained"] += len(r.unexplained_duplicates)
        totals["lost"] += len(r.lost)
        totals["trials_with_duplicates"] += bool(r.duplicates)
        print(
            f"trial {trial + 1}: planned={r.planned} runs={r.runs} kills={r.kills} window_kills={r.window_kills} "
            f"received={r.received} "
            f"taken_over={len(r.taken_over)} duplicates={len(r.duplicates)} "
            f"unexplained={len(r.unexplained_duplicates)} lost={len(r.lost)} {r.seconds:.0f}s",
            flush=True,
        )
    print(f"total ({time.monotonic() - started:.0f}s): " + " ".join(f"{k}={v}" for k, v in totals.items()))


if __name__ == "__main__":
    main()
