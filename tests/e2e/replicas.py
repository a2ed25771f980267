"""Helpers for the several-replicas test: a generated ledger, debtor replies, ``relance run`` as a subprocess.

Everything goes through the real command line (``relance import``, ``relance run``) with the settings in
environment variables, as an operator running two replicas would do it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

CLI = "from bot.app import cli_run; from bot.app.cli import main; main()"


@dataclass(frozen=True)
class Debtor:
    client_id: str
    email: str
    invoice: str
    amount: str


def write_ledger(folder: Path, count: int, as_of: date) -> list[Debtor]:
    """``count`` French clients of the standard profile, each with one invoice two days overdue on ``as_of``.

    Two days after the due date the latest step due is ``reminder_1``: one reminder per client.
    """
    debtors = [
        Debtor(f"R{n:03d}", f"compta@client-{n:03d}.test", f"F-R{n:04d}", f"{1000 + n}.00") for n in range(1, count + 1)
    ]
    issued, due = as_of - timedelta(days=32), as_of - timedelta(days=2)
    (folder / "clients.csv").write_text(
        "client_id,name,email,language,profile\n"
        + "".join(f"{d.client_id},Client {d.client_id} SARL,{d.email},fr,standard\n" for d in debtors),
        encoding="utf-8",
    )
    (folder / "invoices.csv").write_text(
        "invoice_number,client_id,issue_date,due_date,amount,currency,amount_paid\n"
        + "".join(f"{d.invoice},{d.client_id},{issued},{due},{d.amount},EUR,0\n" for d in debtors),
        encoding="utf-8",
    )
    (folder / "payments.csv").write_text("invoice_number,amount,paid_on,reference\n", encoding="utf-8")
    return debtors


def relance(folder: Path, env: dict[str, str], *args: str, timeout: float = 60) -> str:
    """Run one ``relance`` command to completion; returns its stdout (fails the test on a non-zero exit)."""
    done = subprocess.run(
        [sys.executable, "-c", CLI, *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"relance {' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout


def reply(debtor: Debtor, n: int, body: str, *, in_reply_to: str | None) -> tuple[str, bytes]:
    """A debtor's reply from their registered address: (Message-ID without brackets, raw bytes)."""
    message_id = f"reply-{n}@client-{debtor.client_id.lower()}.test"
    thread = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else ""
    raw = (
        f"From: Comptabilite {debtor.client_id} <{debtor.email}>\r\nTo: relance@relance.test\r\n"
        f"Subject: Re: Relance facture {debtor.invoice}\r\nDate: Tue, 03 Nov 2026 14:00:00 +0100\r\n"
        f"Message-ID: <{message_id}>\r\n{thread}MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"Bonjour,\r\n\r\n{body}\r\n\r\nCordialement,\r\nService comptable {debtor.client_id}\r\n"
    ).encode()
    return message_id, raw


def promise_text(debtor: Debtor) -> str:
    return f"Nous réglerons la facture {debtor.invoice} le 20/11/2026 par virement."


def missing_text(debtor: Debtor) -> str:
    return f"Nous n'avons jamais reçu la facture {debtor.invoice}, merci de nous la renvoyer."


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


class Replica:
    """``relance run`` in a subprocess, its JSON log in ``<folder>/<name>.log``."""

    def __init__(self, name: str, folder: Path, env: dict[str, str], *args: str) -> None:
        self.name = name
        self.log_path = folder / f"{name}.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CLI, "run", *args],
            cwd=folder,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:  # a line being written right now
                    continue
        return out

    def logged(self, fragment: str) -> list[str]:
        return [line["msg"] for line in self.lines() if fragment in line.get("msg", "")]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, chars: int = 3000) -> str:
        return f"--- {self.name} ---\n" + self.log_path.read_text(errors="replace")[-chars:]

    def kill(self) -> None:
        """SIGKILL: no handler runs, connections die with the process (what a crash or an OOM kill does)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def terminate(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return int(self.proc.returncode)


def base_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELANCE_")}
    return env | {"RELANCE_LOG_LEVEL": "INFO", "RELANCE_SECRET_KEY": "replicas-test-secret-key-0123456789"} | settings
