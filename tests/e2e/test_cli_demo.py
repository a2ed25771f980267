"""``relance demo`` as a new user runs it: a subprocess in an empty folder, no configuration at all."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.servers import free_port

# Until the lead registers ``cli_run`` in ``bot.app.cli._register``, import it before ``main``; harmless after.
CLI = "from bot.app import cli_run; from bot.app.cli import main; main()"


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("RELANCE_")}


def test_demo_no_serve_json_summary(tmp_path: Path) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", CLI, "demo", "--no-serve", "--json", "--dir", "work"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert took < 90, f"the demo took {took:.0f} s"
    assert sum(summary["reminders"].values()) >= 20 and "courtesy" in summary["reminders"]
    replies = summary["replies"]
    assert replies.get("promise_to_pay", 0) >= 1 and replies.get("dispute", 0) >= 1
    assert replies.get("bounce", 0) >= 1 and replies.get("auto_reply", 0) >= 1
    assert any(key.endswith(":dispute") for key in summary["review_items"])
    assert summary["contacts_bouncing"]
    assert summary["invoices"].get("paid", 0) >= 1  # payments imported mid-way
    assert set(summary["users"]) == {"admin", "collector", "author", "viewer"}
    work = tmp_path / "work"
    assert (work / "relance.sqlite3").exists() and list((work / "outbox").glob("*.eml"))
    assert list((work / "maildir").glob(".relance.*/cur/*"))  # replies filed after processing


def test_demo_serves_the_web_ui_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "demo", "--dir", "work", "--port", str(port), "--days", "10"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Web UI on" in line:
                break
        output = "".join(lines)
        assert f"http://127.0.0.1:{port}" in output, output + (proc.stderr.read() if proc.poll() is not None else "")
        assert re.search(r"^\s+admin\s+\S{12,}$", output, re.M)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=10) as response:
            assert response.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            assert json.loads(response.read())["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(15)
    assert code == 0
