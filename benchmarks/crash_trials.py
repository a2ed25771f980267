"""Crash trials for ``relance send`` (issue 9 §1): N trials, each SIGKILLing the sender K times at random.

    PYTHONPATH=. python benchmarks/crash_trials.py --trials 50 --reminders 2000 --kills 8

Prints one line per trial and a total: kills, messages received, duplicates (all must be reported as
"possibly sent twice"), lost (must be 0), and how many trials hit the accept-before-commit window.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

from tests.reliability.crash import run_trial
from tests.servers.smtp_server import SmtpTestServer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--reminders", type=int, default=2000)
    ap.add_argument("--kills", type=int, default=8)
    ap.add_argument("--max-delay", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=9)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    totals = {"kills": 0, "received": 0, "duplicates": 0, "unexplained": 0, "lost": 0, "window_hits": 0}
    for trial in range(args.trials):
        with SmtpTestServer() as server, tempfile.TemporaryDirectory() as tmp:
            r = run_trial(
                Path(tmp),
                server,
                clients=args.reminders,
                kills=args.kills,
                delay=(1.5, args.max_delay),
                rng=rng,
                max_runs=args.kills + 20,
            )
        totals["kills"] += r.kills
        totals["received"] += r.received
        totals["duplicates"] += len(r.duplicates)
        totals["unexplained"] += len(r.unexplained_duplicates)
        totals["lost"] += len(r.lost)
        totals["window_hits"] += bool(r.duplicates)
        print(
            f"trial {trial + 1}: planned={r.planned} runs={r.runs} kills={r.kills} received={r.received} "
            f"taken_over={len(r.taken_over)} duplicates={len(r.duplicates)} "
            f"unexplained={len(r.unexplained_duplicates)} lost={len(r.lost)} {r.seconds:.0f}s",
            flush=True,
        )
    print(f"total over {args.trials} trials: " + " ".join(f"{k}={v}" for k, v in totals.items()))


if __name__ == "__main__":
    main()
