"""Hostile input: random bytes, random MIME trees, deep nesting, huge headers. Only UnreadableMessageError
escapes."""

from __future__ import annotations

import time
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.parse import parse_message
from bot.adapters.parse.html_text import html_to_text
from bot.domain.errors import UnreadableMessageError
from bot.domain.message import ParsedMessage


def _parse_or_unreadable(raw: bytes) -> ParsedMessage | None:
    try:
        return parse_message(raw)
    except UnreadableMessageError:
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_random_bytes_never_crash(raw: bytes) -> None:
    _parse_or_unreadable(raw)


_HEADER_LINES = st.sampled_from(
    [
        b"From: =?utf-8?q?broken",
        b"Subject: =?unknown-charset?b?AAAA?=",
        b"Content-Type: multipart/mixed; boundary=",
        b"Content-Type: text/plain; charset=nonsense",
        b"Content-Transfer-Encoding: base64",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x",
        b"Date: 99 Foo 2026 25:61:61 +9999",
        b"Auto-Submitted: auto-replied",
        b"Message-ID: <<<>>>",
        b"--x",
        b"Content-Type: message/delivery-status",
        b"Content-Type: message/rfc822",
        b"Final-Recipient: rfc822;",
        b"Status: 9.9.9.9",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_HEADER_LINES, st.binary(max_size=80)), max_size=40))
def test_random_header_soup_never_crashes(lines: list[bytes]) -> None:
    _parse_or_unreadable(b"\r\n".join(lines))


def _tree(draw: st.DrawFn, depth: int) -> MIMEBase:
    kind = draw(st.sampled_from(["text", "html", "binary", "multi", "message"] if depth < 4 else ["text", "binary"]))
    if kind == "text":
        latin = draw(st.booleans())
        alphabet = st.characters(max_codepoint=255 if latin else 0x10FFFF, exclude_categories=("Cs",))
        return MIMEText(draw(st.text(alphabet, max_size=200)), "plain", "iso-8859-1" if latin else "utf-8")
    if kind == "html":
        return MIMEText("<div>" + draw(st.text(max_size=200)) + "<blockquote>q</blockquote>", "html", "utf-8")
    if kind == "binary":
        part = MIMEBase("application", "octet-stream")
        part.set_payload(draw(st.binary(max_size=100)))
        part.add_header("Content-Disposition", "attachment", filename=draw(st.text(min_size=1, max_size=20)))
        return part
    if kind == "message":
        return MIMEMessage(_tree(draw, depth + 1))
    # An explicit boundary: the default one comes from the random module, which hypothesis forbids.
    multi = MIMEMultipart(
        draw(st.sampled_from(["mixed", "alternative", "report"])),
        boundary=f"b{depth}-{draw(st.integers(0, 99))}",
    )
    for _ in range(draw(st.integers(0, 3))):
        multi.attach(_tree(draw, depth + 1))
    return multi


@st.composite
def mime_trees(draw: st.DrawFn) -> bytes:
    root = _tree(draw, 0)
    root["Subject"] = draw(st.text(max_size=60)).replace("\n", " ").replace("\r", " ")
    root["From"] = "x@y.example"
    return root.as_bytes()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mime_trees())
def test_random_mime_trees_parse(raw: bytes) -> None:
    _parse_or_unreadable(raw)


def test_deep_nesting_is_bounded() -> None:
    depth = 3000
    opening = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(depth))
    raw = b"From: a@b.example\r\nSubject: deep\r\n" + opening + b"Content-Type: text/plain\r\n\r\nhello\r\n"
    start = time.perf_counter()
    _parse_or_unreadable(raw)
    assert time.perf_counter() - start < 10


def test_huge_header_is_truncated() -> None:
    raw = b"From: a@b.example\r\nSubject: " + b"x" * 2_000_000 + b"\r\n\r\nbody\r\n"
    msg = parse_message(raw)
    assert len(msg.subject) <= 8000


def test_html_bomb_is_bounded() -> None:
    bomb = "<div>" * 200_000 + "text" + "</div>" * 200_000
    start = time.process_time()  # CPU time: a loaded CI machine must not fail a bound on the work done
    text = html_to_text(bomb, max_chars=1000)
    assert len(text) <= 1000
    assert time.process_time() - start < 10
