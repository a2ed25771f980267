"""Database measures: CSV import vs Core executemany, daily plan vs the raw indexed query (SQLite, PostgreSQL).

The plan is measured in a child process per repetition so that its peak RSS is the plan's alone (not the
data generation's): ``python benchmarks/measures_db.py --child URL plan|raw``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402

from benchmarks.common import (  # noqa: E402
    AS_OF_DAY,
    IMPORTED_AT,
    PROFILES,
    REPO,
    build_ledger,
    chunks,
    clients_csv,
    invoice_rows,
    invoices_csv,
    stats,
    timed,
)

IMPORT_CLIENTS = 1_000
# The columns the plan reads (bot.app.plan_snapshots.OPEN_COLUMNS), in the same order.
RAW_PLAN_SQL = (
    "SELECT client_id, number, due_date, amount, amount_paid, paused_until, promise_date, last_step, "
    "last_step_on, cycle FROM invoices WHERE state = 'open' ORDER BY client_id"
)


# ---------------------------------------------------------------- import


def measure_import(sizes: dict[str, Any], work: Path) -> dict[str, Any]:
    from bot.adapters.db.engine import open_database, session_factory
    from bot.adapters.db.models import Invoice
    from bot.app.client_import import import_clients
    from bot.app.invoice_import import import_invoices

    n, reps = sizes["import"], sizes["reps"]
    ccsv = clients_csv(work / "clients.csv", IMPORT_CLIENTS)
    icsv = invoices_csv(work / "invoices.csv", n, IMPORT_CLIENTS)
    rows = list(invoice_rows(n, IMPORT_CLIENTS, varied=False))
    ours: list[float] = []
    raw: list[float] = []
    for rep in range(reps):
        for kind in ("raw", "relance"):
            engine = open_database(f"sqlite:///{work / f'{kind}{rep}.sqlite3'}")
            factory = session_factory(engine)
            import_clients(factory, ccsv, now=IMPORTED_AT, profiles=PROFILES)
            if kind == "relance":
                seconds, result = timed(lambda f=factory: import_invoices(f, icsv, now=IMPORTED_AT))
                assert result.created == n, result
                ours.append(seconds)
            else:

                def raw_insert(e: Any = engine) -> None:
                    with e.begin() as conn:
                        for batch in chunks(iter(rows), 5_000):
                            conn.execute(insert(Invoice), batch)

                raw.append(timed(raw_insert)[0])
            engine.dispose()
    ratios = [o / r for o, r in zip(ours, raw, strict=True)]
    ratio = stats(ratios)
    return {
        "invoices": n,
        "relance_s": stats(ours),
        "raw_s": stats(raw),
        "ratio": ratio,
        "ratio_meaning": "relance time / raw time (lower is better)",
        "target": "≤ 3×",
        "met": ratio["median"] <= 3,
        "relance_rows_per_s": round(n / stats(ours)["median"]),
        "raw_rows_per_s": round(n / stats(raw)["median"]),
        "absolute": f"{round(n / stats(ours)['median']):,} rows/s (raw {round(n / stats(raw)['median']):,})",
        "note": "relance parses and validates the CSV and writes one audit entry per invoice; raw inserts "
        "pre-built rows",
    }


# ---------------------------------------------------------------- daily plan


def _child(url: str, mode: str) -> None:
    from bot.adapters.db.engine import make_engine
    from bot.app.clock import noon_in
    from bot.app.dunning import plan_actions
    from bot.app.settings import load_settings

    engine = make_engine(url)
    if mode == "raw":
        start, cpu_start = time.perf_counter(), time.process_time()
        conn = engine.raw_connection()
        try:
            cur = conn.cursor()
            cur.execute(RAW_PLAN_SQL)
            count = 0
            while batch := cur.fetchmany(5000):
                count += len(batch)
        finally:
            conn.close()
    else:
        import importlib

        from sqlalchemy.orm import Session

        # Module imports stay outside the timed section on both sides (the raw side imports nothing while
        # timed). plan_actions imports these lazily on first use; ``holidays.countries`` alone loads ~500
        # modules (0.1-0.3 s) the first time a calendar is computed, which is start-up, not planning.
        for module in ("bot.adapters.profiles_yaml", "bot.adapters.holiday_calendar", "holidays.countries"):
            importlib.import_module(module)
        settings = load_settings(REPO / "config", env={})
        start, cpu_start = time.perf_counter(), time.process_time()
        with Session(engine) as session:
            actions, _planner = plan_actions(session, settings, noon_in(AS_OF_DAY))
            count = len(actions)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(json.dumps({"seconds": seconds, "cpu_s": cpu, "rss_mb": _peak_rss_mb(), "count": count}))


def _peak_rss_mb() -> float:
    """This process's peak RSS. ``ru_maxrss`` survives execve (it would report the parent's size at fork),
    so prefer VmHWM, which belongs to the new address space."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _run_child(url: str, mode: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", url, mode],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"plan child ({mode}) failed: {proc.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _plan_on(url: str, reps: int) -> dict[str, Any]:
    ours: list[dict[str, Any]] = []
    raw: list[dict[str, Any]] = []
    for _ in range(reps):
        raw.append(_run_child(url, "raw"))
        ours.append(_run_child(url, "plan"))
    ratio = stats([o["seconds"] / r["seconds"] for o, r in zip(ours, raw, strict=True)])
    peak = max(o["rss_mb"] for o in ours)
    return {
        "relance_s": stats([o["seconds"] for o in ours]),
        "raw_s": stats([r["seconds"] for r in raw]),
        # This process's CPU only (on PostgreSQL most of the raw query's work is the server's): a steadier
        # view of relance's own cost than wall time when other jobs share the machine.
        "relance_cpu_s": stats([o["cpu_s"] for o in ours]),
        "raw_cpu_s": stats([r["cpu_s"] for r in raw]),
        "ratio": ratio,
        "ratio_meaning": "plan_actions time / raw indexed query time (lower is better)",
        "planned_actions": ours[0]["count"],
        "open_rows": raw[0]["count"],
        "peak_rss_mb": round(peak, 1),
        "raw_peak_rss_mb": round(max(r["rss_mb"] for r in raw), 1),
        "target": "≤ 2×, RSS ≤ 300 MB",
        "met": ratio["median"] <= 2 and peak <= 300,
        "absolute": f"plan {stats([o['seconds'] for o in ours])['median']:.2f} s, peak RSS {peak:.0f} MB",
    }


def measure_plan(sizes: dict[str, Any], work: Path) -> dict[str, Any]:
    invoices, clients = sizes["plan"]
    reps = sizes["reps"]
    sub: dict[str, dict[str, Any]] = {}
    url = f"sqlite:///{work / 'plan.sqlite3'}"
    seconds, engine = timed(lambda: build_ledger(url, clients=clients, invoices=invoices))
    engine.dispose()
    try:
        sub["sqlite"] = _plan_on(url, reps) | {"build_s": round(seconds, 1)}
    except Exception as exc:  # noqa: BLE001 - recorded, PostgreSQL still measured
        sub["sqlite"] = {"error": repr(exc)}
    sub["postgresql"] = _plan_postgres(invoices, clients, reps)
    return {"invoices": invoices, "clients": clients, "sub": sub}


def _plan_postgres(invoices: int, clients: int, reps: int) -> dict[str, Any]:
    try:
        from tests.servers.postgres import Postgres, postgres_bin_dir
    except Exception as exc:  # noqa: BLE001
        return {"skipped": f"tests.servers.postgres unavailable: {exc!r}"}
    if postgres_bin_dir() is None:
        return {"skipped": "PostgreSQL binaries (initdb/pg_ctl) not found"}
    server = None
    try:
        server = Postgres()
        server.start()
        url = server.create_database()
        seconds, engine = timed(lambda: build_ledger(url, clients=clients, invoices=invoices))
        engine.dispose()
        _analyze(url)
        return _plan_on(url, reps) | {"build_s": round(seconds, 1)}
    except BaseException as exc:  # noqa: BLE001 - pytest.skip from the helper is a BaseException
        if isinstance(exc, KeyboardInterrupt):
            raise
        return {"error": repr(exc)}
    finally:
        if server is not None:
            server.destroy()


def _analyze(url: str) -> None:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE invoices")


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "--child":
    _child(sys.argv[2], sys.argv[3])
