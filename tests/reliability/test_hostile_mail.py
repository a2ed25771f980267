"""Hostile and broken mail through the whole inbox pipeline (issue 9 §3).

Every message goes through ``InboxProcessor.process`` on a real SQLite ledger: no exception may escape, and every
message must end up recorded in ``inbound_messages`` as processed, review, quarantined or duplicate. Peak RSS is
printed (``-s``) so the figure can go in docs/reliability.md.
"""

from __future__ import annotations

import json
import resource
from datetime import UTC, datetime
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import open_database, session_factory
from bot.adapters.db.models import InboundMessage
from bot.app.client_import import import_clients
from bot.app.clock import FixedClock
from bot.app.inbound import InboxReport
from bot.app.inbox import InboxProcessor
from bot.app.invoice_import import import_invoices
from bot.app.settings import load_settings
from bot.app.wiring import make_renderer
from bot.ports import InboundMail

ROOT = Path(__file__).resolve().parents[2]
CORPORA = ROOT.parent / "shared" / "corpora"
NOW = datetime(2026, 11, 3, 11, 0, tzinfo=UTC)
ENDINGS = {"processed", "review", "quarantined", "duplicate"}


class Pipeline:
    """One ledger and one processor; ``feed`` pushes a raw message through it with a fresh UID."""

    def __init__(self, folder: Path) -> None:
        self.factory: sessionmaker[Session] = session_factory(open_database(f"sqlite:///{folder / 'r.db'}"))
        (folder / "c.csv").write_text(
            "client_id,name,email,language,profile\n"
            "A1,Atelier Alpha,compta@alpha.test,fr,standard\nB2,Beta Ltd,ap@beta.test,en,standard\n",
            encoding="utf-8",
        )
        (folder / "i.csv").write_text(
            "invoice_number,client_id,issue_date,due_date,amount,currency,amount_paid\n"
            "INV-1,A1,2026-10-01,2026-11-02,1200.00,EUR,0\nINV-3,B2,2026-10-05,2026-11-02,99.90,EUR,0\n",
            encoding="utf-8",
        )
        import_clients(self.factory, folder / "c.csv", now=NOW, profiles={"standard"})
        import_invoices(self.factory, folder / "i.csv", now=NOW)
        cfg = load_settings(ROOT / "config", env={})
        self.processor = InboxProcessor(self.factory, cfg, FixedClock(NOW), make_renderer(cfg))
        self.report = InboxReport()
        self.uid = 0

    def feed(self, raw: bytes) -> str:
        self.uid += 1
        self.processor.process(InboundMail("hostile:INBOX", 1, self.uid, raw), self.report)  # must not raise
        with self.factory() as s:
            status = s.scalar(select(InboundMessage.status).where(InboundMessage.uid == self.uid))
        assert status in ENDINGS, f"uid {self.uid}: ended as {status!r}"
        return status


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reply(body: str, **headers: str) -> MIMEText:
    msg = MIMEText(body, "plain", "utf-8")
    msg["From"] = headers.get("From", "compta@alpha.test")
    msg["To"] = "collections@relance.test"
    msg["Subject"] = headers.get("Subject", "Re: INV-1")
    return msg


def test_the_peer_corpora(tmp_path: Path) -> None:
    labels = CORPORA / "labels.jsonl"
    if not labels.exists():
        pytest.skip(f"{CORPORA} is absent (the shared peer corpora sit beside the repository)")
    pipe = Pipeline(tmp_path)
    counts: dict[str, int] = {}
    for line in labels.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        status = pipe.feed((CORPORA / row["path"]).read_bytes())
        counts[status] = counts.get(status, 0) + 1
    print(f"\ncorpora: {sum(counts.values())} files {counts}; peak RSS {peak_rss_mb():.0f} MB")
    assert sum(counts.values()) > 1000


def bombs() -> list[tuple[str, bytes]]:
    big = reply("Please find the remittance attached, INV-1 paid.")
    outer = MIMEMultipart()
    for k in ("From", "To", "Subject"):
        outer[k] = big[k]
    outer.attach(MIMEText("Paid INV-1, remittance attached.", "plain", "utf-8"))
    outer.attach(MIMEApplication(b"\0" * (25 * 1024 * 1024), Name="remittance.pdf"))
    html = "<div>" * 100_000 + "INV-1 déjà payée" + "</div>" * 100_000
    html_bomb = MIMEText(html, "html", "utf-8")
    html_bomb["From"], html_bomb["Subject"] = "compta@alpha.test", "Re: INV-1"
    # Built by hand: the standard library's own generator recurses once per level and cannot write it.
    deep = b"From: compta@alpha.test\r\nSubject: Re: INV-1\r\n"
    for level in range(300):
        deep += f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'.encode()
    deep += b"Content-Type: text/plain\r\n\r\ndeep down: paid\r\n"
    header = b"From: compta@alpha.test\r\nSubject: Re: " + b"INV-1 " * 200_000 + b"\r\n"
    header += b"X-Junk: " + b"a" * 1_000_000 + b"\r\n\r\nPaid yesterday.\r\n"
    charset = (
        b"From: ap@beta.test\r\nSubject: =?x-unknown-42?B?SU5WLTM=?=\r\n"
        b'Content-Type: text/plain; charset="utf-99"\r\nContent-Transfer-Encoding: base64\r\n\r\n!!notbase64@@\r\n'
    )
    return [
        ("25 MB attachment", outer.as_bytes()),
        ("HTML bomb", html_bomb.as_bytes()),
        ("300-deep multipart", deep),
        ("2 MB of headers", header),
        ("unknown charsets", charset),
        ("empty", b""),
        ("binary noise", bytes(range(256)) * 64),
    ]


def test_bombs_are_recorded_and_memory_stays_bounded(tmp_path: Path) -> None:
    pipe = Pipeline(tmp_path)
    seen = {name: pipe.feed(raw) for name, raw in bombs()}
    peak = peak_rss_mb()
    print(f"\nbombs: {seen}; peak RSS {peak:.0f} MB")
    assert peak < 2048, f"peak RSS {peak:.0f} MB"


CHARSETS = st.sampled_from(["utf-8", "latin-1", "x-bogus", "utf-16", "ascii", "", "iso-2022-jp", "utf-7"])
TEXT = st.text(max_size=300)


def _leaf(draw: st.DrawFn) -> bytes:
    ctype = draw(st.sampled_from(["text/plain", "text/html", "application/pdf", "message/rfc822", "text/x-?"]))
    cte = draw(st.sampled_from(["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "bogus"]))
    charset = draw(CHARSETS)
    body = draw(st.binary(max_size=400)) if draw(st.booleans()) else draw(TEXT).encode("utf-8", "replace")
    head = f'Content-Type: {ctype}; charset="{charset}"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n'
    return head.encode() + body


@st.composite
def mime_trees(draw: st.DrawFn, depth: int = 0) -> bytes:
    if depth > 4 or draw(st.integers(0, 2)) == 0:
        return _leaf(draw)
    boundary = draw(st.sampled_from(["b1", "==x==", "", "a" * 80, "b1"]))
    parts = [draw(mime_trees(depth + 1)) for _ in range(draw(st.integers(0, 4)))]
    sub = draw(st.sampled_from(["mixed", "alternative", "related", "report", "signed"]))
    out = f'Content-Type: multipart/{sub}; boundary="{boundary}"\r\n\r\n'.encode()
    for part in parts:
        out += f"--{boundary}\r\n".encode() + part + b"\r\n"
    if draw(st.booleans()):
        out += f"--{boundary}--\r\n".encode()
    return out


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    sender = draw(
        st.sampled_from(["compta@alpha.test", "ap@beta.test", "x@alpha-test.com", "<>", "", "=?utf-8?q?=ff?="])
    )
    subject = draw(st.text(max_size=200)).replace("\r", " ").replace("\n", " ")
    head = f"From: {sender}\r\nSubject: {subject}\r\n"
    if draw(st.booleans()):
        head += (
            f"In-Reply-To: <{draw(st.text(max_size=40))}@relance.test>\r\n".replace("\n", "").replace("\r", "") + "\r\n"
        )
    return head.encode("utf-8", "replace") + draw(mime_trees())


@pytest.fixture(scope="module")
def module_pipe(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return Pipeline(tmp_path_factory.mktemp("hyp"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=messages())
def test_generated_mime_never_escapes(module_pipe: Pipeline, raw: bytes) -> None:
    module_pipe.feed(raw)
