"""One benchmark command: relance against its raw baseline, measured in the same run on this machine.

    python benchmarks/run.py [--quick] [--json OUT] [--only import,plan,outbox,classifier,inbox,idle]

Each measure runs independently (a failure is recorded in the JSON and the others go on); every server is local
(127.0.0.1) and stopped at the end. See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `tests.servers` and `benchmarks` importable

from benchmarks.common import REPO, stats, versions  # noqa: E402
from benchmarks.measures_db import measure_import, measure_plan  # noqa: E402
from benchmarks.measures_idle import measure_idle  # noqa: E402
from benchmarks.measures_mail import measure_classifier, measure_inbox, measure_outbox  # noqa: E402

SIZES = {
    "full": {"reps": 5, "import": 100_000, "plan": (1_000_000, 50_000), "outbox": 5_000, "inbox": 10_000, "idle": 100},
    "quick": {"reps": 3, "import": 20_000, "plan": (100_000, 5_000), "outbox": 1_000, "inbox": 1_000, "idle": 30},
}

MEASURES: dict[str, Callable[[dict[str, Any], Path], dict[str, Any]]] = {
    "import": measure_import,
    "plan": measure_plan,
    "classifier": measure_classifier,
    "outbox": measure_outbox,
    "inbox": measure_inbox,
    "idle": measure_idle,
}


def _row(name: str, result: dict[str, Any]) -> list[str]:
    if "error" in result:
        return [name, "ERROR", "", "", result["error"].splitlines()[-1][:60]]
    if "skipped" in result:
        return [name, "skipped", "", "", result["skipped"][:60]]
    ratio = result.get("ratio")
    r = f"{ratio['median']:.2f}× [{ratio['min']:.2f}–{ratio['max']:.2f}]" if ratio else ""
    return [name, r, result.get("target", ""), _verdict(result), result.get("absolute", "")]


def _verdict(result: dict[str, Any]) -> str:
    ok = result.get("met")
    return "" if ok is None else ("met" if ok else "MISSED")


def print_table(results: dict[str, dict[str, Any]]) -> None:
    rows = [["measure", "ratio median [min–max]", "target", "", "absolute"]]
    for name, result in results.items():
        if "sub" in result:
            for sub, r in result["sub"].items():
                rows.append(_row(f"{name} {sub}", r))
        else:
            rows.append(_row(name, result))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes, 3 repetitions (< 10 minutes)")
    ap.add_argument("--json", type=Path, default=None, help="write the results here (default: print only)")
    ap.add_argument("--only", default="", help="comma-separated subset of: " + ",".join(MEASURES))
    ap.add_argument("--reps", type=int, default=0, help="override the number of repetitions")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every size (smoke tests: 0.01)")
    args = ap.parse_args()
    mode = "quick" if args.quick else "full"
    sizes = dict(SIZES[mode])
    if args.reps:
        sizes["reps"] = args.reps
    if args.scale != 1.0:
        for key, value in list(sizes.items()):
            if key == "plan":
                sizes[key] = tuple(max(10, int(v * args.scale)) for v in value)
            elif key != "reps":
                sizes[key] = max(10, int(value * args.scale))
    chosen = [m for m in args.only.split(",") if m] or list(MEASURES)
    results: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="relance-bench-") as tmp:
        for name in chosen:
            print(f"== {name} ...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            workdir = Path(tmp) / name
            workdir.mkdir()
            try:
                results[name] = MEASURES[name](sizes, workdir)
            except BaseException as exc:  # noqa: BLE001 - pytest.skip from server helpers is a BaseException
                if isinstance(exc, KeyboardInterrupt):
                    raise
                results[name] = {"error": "".join(traceback.format_exception_only(exc)).strip()}
                results[name]["traceback"] = traceback.format_exc()
            results[name]["seconds"] = round(time.perf_counter() - t0, 1)
            print(f"   {name}: {results[name]['seconds']} s", file=sys.stderr, flush=True)
            if args.json:  # partial results survive an interrupted run
                _write(args.json, mode, sizes, results, started)
    print_table(results)
    print(f"total {time.perf_counter() - started:.1f} s ({mode})")
    if args.json:
        _write(args.json, mode, sizes, results, started)
        print(f"wrote {args.json}")
    return 0


def _write(path: Path, mode: str, sizes: dict[str, Any], results: dict[str, Any], started: float) -> None:
    report = {
        "mode": mode,
        "sizes": sizes,
        "versions": versions(),
        "total_seconds": round(time.perf_counter() - started, 1),
        "results": results,
        "repo": str(REPO),
    }
    path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")


__all__ = ["main", "stats"]

if __name__ == "__main__":
    raise SystemExit(main())
