"""Crash safety of sending (issue 9 §1): SIGKILL ``relance send`` mid-flight, restart, until all is sent.

Promise under test (DESIGN.md, "Reliability promises"): 0 reminders lost; a duplicate only for a row that a
restarted run took over from a dead one, and then it is reported as "possibly sent twice".
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.reliability.crash import TrialResult, run_trial
from tests.servers.smtp_server import SmtpTestServer


def check(result: TrialResult) -> None:
    assert result.planned > 0
    assert result.lost == [], f"{len(result.lost)} reminder(s) never reached the server"
    assert result.not_sent == 0
    assert result.unexplained_duplicates == [], "a duplicate that no run reported as possibly sent twice"
    assert len(result.duplicates) <= len(result.taken_over) <= result.logged_twice


# Timed kills: between 0.3 s (start-up, planning) and 3 s, against a server taking 50 ms per message, so every
# killed run leaves work for the next one (200 × 0.05 s > 3 kills × 3 s).
TIMED_DELAY, PACE = (0.3, 3.0), 0.05


def test_send_survives_sigkill(tmp_path: Path, smtp_server: SmtpTestServer) -> None:
    seed = int(os.environ.get("RELANCE_CRASH_SEED", random.randrange(1 << 30)))
    result = run_trial(
        tmp_path, smtp_server, clients=200, kills=3, rng=random.Random(seed), delay=TIMED_DELAY, pace=PACE
    )
    check(result)
    assert result.planned == 200, f"seed {seed}"
    assert result.kills == 3, f"seed {seed}: the runs finished before they could be killed"


def test_kills_inside_the_duplicate_window_are_detected(tmp_path: Path, smtp_server: SmtpTestServer) -> None:
    """Kill when the server has received N messages: the batch on the wire is accepted but not yet committed."""
    seed = int(os.environ.get("RELANCE_CRASH_SEED", random.randrange(1 << 30)))
    result = run_trial(
        tmp_path, smtp_server, clients=200, kills=3, delay=(0, 0), rng=random.Random(seed), on_count=True
    )
    check(result)
    assert result.planned == 200, f"seed {seed}"
    assert result.kills == 3, f"seed {seed}"
    # Each message is committed "sent" only after the server accepted it: a kill at a random received count
    # almost always falls between that acceptance and the commit.
    assert result.window_kills >= 1, f"seed {seed}: no kill fell between acceptance and commit"
    # Every message the server accepted but the dead run never committed was taken over and flagged.
    assert len(result.taken_over) >= result.window_rows > 0, f"seed {seed}"
    assert len(result.duplicates) >= 1, f"seed {seed}"


@pytest.mark.postgres
@pytest.mark.parametrize("on_count", [False, True], ids=["at-random-times", "with-a-batch-on-the-wire"])
def test_send_survives_sigkill_on_postgresql(
    tmp_path: Path, smtp_server: SmtpTestServer, postgres_url: str, on_count: bool
) -> None:
    """The same kills on a PostgreSQL ledger, whose claim (``FOR UPDATE SKIP LOCKED``) and commits are not
    SQLite's."""
    seed = int(os.environ.get("RELANCE_CRASH_SEED", random.randrange(1 << 30)))
    result = run_trial(
        tmp_path,
        smtp_server,
        clients=200,
        kills=2,
        rng=random.Random(seed),
        on_count=on_count,
        database_url=postgres_url,
        delay=(0.0, 0.0) if on_count else TIMED_DELAY,
        pace=0.0 if on_count else PACE,
    )
    check(result)
    assert result.planned == 200, f"seed {seed}"
    assert result.kills == 2, f"seed {seed}: the runs finished before they could be killed"


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("RELANCE_SLOW") != "1", reason="set RELANCE_SLOW=1 for the long crash trials")
def test_send_survives_many_sigkills_on_2000(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("RELANCE_CRASH_SEED", "9")))
    for trial in range(int(os.environ.get("RELANCE_CRASH_TRIALS", "5"))):
        with SmtpTestServer() as server:
            work = tmp_path / f"t{trial}"
            work.mkdir()
            on_count = trial % 2 == 1  # alternate: kills at random times, kills at random received counts
            result = run_trial(
                work,
                server,
                clients=2000,
                kills=8,
                delay=(0.0, 0.0) if on_count else (1.0, 10.0),
                pace=0.0 if on_count else PACE,
                rng=rng,
                max_runs=80,
                on_count=on_count,
            )
            check(result)
            if on_count:
                assert result.window_kills >= 1
