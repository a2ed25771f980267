"""The command-line contract of DESIGN.md, run as a user runs it: ``relance`` subprocesses on a fresh database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures"
COMMANDS = ["import", "inbox", "plan", "templates", "profiles", "send", "invoices", "review", "user", "run", "demo"]


def relance(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RELANCE_")}
    base |= {"RELANCE_DATABASE_URL": f"sqlite:///{cwd / 'r.db'}", "RELANCE_CONFIG_DIR": str(ROOT / "config"),
             "RELANCE_OUTBOX_DIR": str(cwd / "outbox"), "RELANCE_MAILDIR": str(cwd / "maildir")}
    return subprocess.run([sys.executable, "-c", "from bot.app.cli import main; main()", *args], cwd=cwd,
                          env=base | (env or {}), capture_output=True, text=True, timeout=120)


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    (tmp_path / "clients.csv").write_text(
        "client_id,name,email,language,profile\n"
        "A1,Atelier Alpha,compta@alpha.test,fr,standard\nB2,Beta Ltd,ap@beta.test,en,standard\n", encoding="utf-8")
    (tmp_path / "invoices.csv").write_text(
        "invoice_number,client_id,issue_date,due_date,amount,currency,amount_paid\n"
        "INV-1,A1,2026-10-01,2026-11-02,1200.00,EUR,0\nINV-2,A1,2026-10-01,2026-11-02,300.00,EUR,0\n"
        "INV-3,B2,2026-10-05,2026-11-02,99.90,EUR,0\n", encoding="utf-8")
    (tmp_path / "payments.csv").write_text("invoice_number,amount,paid_on,reference\nINV-2,100.00,2026-11-02,V1\n",
                                           encoding="utf-8")
    for kind in ("clients", "invoices", "payments"):
        done = relance("import", kind, str(tmp_path / f"{kind}.csv"), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    return tmp_path


def test_help_lists_every_command_of_the_contract(tmp_path: Path) -> None:
    done = relance("--help", cwd=tmp_path)
    assert done.returncode == 0
    listed = {line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ") and line.split()}
    assert set(COMMANDS) <= listed


def test_broken_csv_is_refused_with_lines_and_changes_nothing(ledger: Path) -> None:
    before = (ledger / "r.db").read_bytes()
    done = relance("import", "invoices", str(FIX / "ledger" / "invoices_bad.csv"), cwd=ledger)
    assert done.returncode == 1
    assert "line 3, field 'client_id'" in done.stderr and "nothing was changed" in done.stderr
    shown = relance("invoices", "show", "INV-1", "--json", cwd=ledger)
    assert json.loads(shown.stdout)["amount"] == "1200.00"
    assert relance("invoices", "show", "F2026-0101", cwd=ledger).returncode == 1  # the bad file's first row
    assert len(before) > 0


def test_plan_json_contract_and_send_once(ledger: Path) -> None:
    done = relance("plan", "--as-of", "2026-11-03", "--json", cwd=ledger)
    assert done.returncode == 0, done.stderr
    actions = [json.loads(line) for line in done.stdout.splitlines()]
    assert actions, "something is due the day after the due date"
    for action in actions:
        assert {"client_id", "invoice_numbers", "step", "channel", "template", "language", "send_at"} <= action.keys()
        assert action["send_at"][-6:] in ("+01:00", "+00:00")  # timezone-aware ISO
    first = relance("send", "--as-of", "2026-11-03", cwd=ledger)
    assert first.returncode == 0, first.stderr
    sent = list((ledger / "outbox").glob("*.eml"))
    assert sent
    again = relance("send", "--as-of", "2026-11-03", cwd=ledger)
    assert again.returncode == 0 and len(list((ledger / "outbox").glob("*.eml"))) == len(sent)
    stale = relance("send", "--as-of", "2026-12-20", cwd=ledger)  # last payments import long before
    assert stale.returncode == 1 and "stale" in stale.stderr


def test_inbox_classify_json_contract_has_no_side_effects(ledger: Path) -> None:
    eml = FIX / "scenarios" / "promise_fr.eml"
    done = relance("inbox", "classify", "--json", str(eml), cwd=ledger)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    for key in ("file", "intent", "secondary_intents", "needs_human", "confidence", "language", "invoice_numbers",
                "promised_date", "paid_date", "amount", "evidence", "bounce", "auto_reply", "reply_text"):
        assert key in out
    assert out["intent"] == "promise_to_pay" and out["invoice_numbers"] == ["INV-1"]
    assert out["promised_date"] == "2026-11-20" and 0 <= out["confidence"] <= 1
    shown = json.loads(relance("invoices", "show", "INV-1", "--json", cwd=ledger).stdout)
    assert shown["state"] == "open"
    assert relance("review", "list", "--json", cwd=ledger).stdout == ""


def test_inbox_fetch_from_maildir_then_review_list(ledger: Path) -> None:
    new = ledger / "maildir" / "new"
    for sub in ("new", "cur", "tmp"):
        (ledger / "maildir" / sub).mkdir(parents=True, exist_ok=True)
    for name in ("promise_fr.eml", "dispute_en.eml"):
        (new / name).write_bytes((FIX / "scenarios" / name).read_bytes())
    done = relance("inbox", "fetch", cwd=ledger)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["intents"] == {"promise_to_pay": 1, "dispute": 1}, done.stdout + done.stderr
    items = [json.loads(line) for line in relance("review", "list", "--json", cwd=ledger).stdout.splitlines()]
    assert [i["intent"] for i in items] == ["dispute"] and items[0]["invoice_numbers"] == ["INV-3"]
    shown = json.loads(relance("invoices", "show", "INV-1", "--json", cwd=ledger).stdout)
    assert shown["state"] == "promised" and any(e["kind"] == "change" for e in shown["timeline"])


def test_profiles_check_and_templates_lint(tmp_path: Path) -> None:
    assert relance("profiles", "check", cwd=tmp_path).returncode == 0
    bad = tmp_path / "profiles.yaml"
    bad.write_text((ROOT / "config" / "profiles.yaml").read_text(encoding="utf-8")
                   .replace("offset_days: 1,", "offset_days: -30,", 1), encoding="utf-8")
    done = relance("profiles", "check", str(bad), cwd=tmp_path)
    assert done.returncode == 1 and "profiles.yaml:" in done.stderr
    lint = relance("templates", "lint", cwd=tmp_path)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_user_add_from_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("correct horse battery staple\n", encoding="utf-8")
    done = relance("user", "add", "alice", "--role", "collector", "--password-file", str(secret), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    dup = relance("user", "add", "alice", "--role", "collector", "--password-file", str(secret), cwd=tmp_path)
    assert dup.returncode == 1
    assert relance("user", "add", "bob", "--role", "boss", "--password-file", str(secret), cwd=tmp_path).returncode == 1
