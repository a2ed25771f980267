"""The message builder: every header and part parses back with the ``email`` package; injection is refused."""

from __future__ import annotations

import email
import hashlib
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage

import pytest

from bot.adapters.mail_build import MailHeaderError, build_mail, make_message_id, validate_address
from bot.domain.errors import InputError

WHEN = datetime(2026, 11, 16, 9, 30, tzinfo=timezone(timedelta(hours=1)))
TEXT = "Bonjour,\n\nLa facture FA-1001 de 1\u202f234,56\xa0€ est échue.\n.\nFrom the desk\n\t tab\n" + "é" * 120 + "\n"
SUBJECT = "Deuxième relance : 3\u202f234,56\xa0€ en retard de 47 jours – règlement attendu avant le 9 décembre"
HTML = "<p>Bonjour,</p>\n<p>Facture <strong>FA-1001</strong> : 1\u202f234,56\xa0€ =?utf-8?q?x?= --=_alt_</p>\n"


def build(**overrides: object) -> bytes:
    args: dict[str, object] = {
        "sender": "recouvrement@eclat.example",
        "sender_name": "Éclat Services – Recouvrement",
        "to": ["compta@client.example", "dg@client.example"],
        "reply_to": "replies@eclat.example",
        "subject": SUBJECT,
        "text": TEXT,
        "html": HTML,
        "message_id": make_message_id("CL-7|FA-1001,FA-1017|reminder_2|1", "eclat.example"),
        "date": WHEN,
    }
    args.update(overrides)
    return build_mail(**args).data  # type: ignore[arg-type]


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    assert not msg.defects and not [part.defects for part in msg.walk() if part.defects]
    return msg


def test_headers_and_parts_round_trip() -> None:
    msg = parse(build(in_reply_to="<abc@client.example>", references=["<x@y.example>", "<abc@client.example>"]))
    assert msg["Subject"] == SUBJECT
    assert msg["From"].addresses[0].display_name == "Éclat Services – Recouvrement"
    assert msg["From"].addresses[0].addr_spec == "recouvrement@eclat.example"
    assert [a.addr_spec for a in msg["To"].addresses] == ["compta@client.example", "dg@client.example"]
    assert msg["Reply-To"] == "replies@eclat.example"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["In-Reply-To"] == "<abc@client.example>"
    assert msg["References"] == "<x@y.example> <abc@client.example>"
    assert msg["Date"].datetime == WHEN
    assert msg["Message-ID"].startswith("<relance.") and msg["Message-ID"].endswith("@eclat.example>")
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content().replace("\r\n", "\n") == TEXT
    assert html.get_content().replace("\r\n", "\n") == HTML


def test_wire_format_is_7bit_crlf_with_short_lines() -> None:
    data = build()
    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 78


def test_attachments_and_text_only() -> None:
    pdf = bytes(range(256)) * 10
    msg = parse(build(html=None, attachments=[("facture FA-1001 é.pdf", "application/pdf", pdf)]))
    assert msg.get_content_type() == "multipart/mixed"
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "facture FA-1001 é.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == pdf
    only_text = parse(build(html=None))
    assert only_text.get_content_type() == "text/plain"


def test_same_inputs_same_bytes_and_stable_message_id() -> None:
    assert build() == build()
    assert make_message_id("k1", "eclat.example") == make_message_id("k1", "eclat.example")
    assert make_message_id("k1", "eclat.example") != make_message_id("k2", "eclat.example")
    digest = hashlib.sha256(b"CL-7|FA-1001|reminder_1|1").hexdigest()[:32]
    assert make_message_id("CL-7|FA-1001|reminder_1|1", "Eclat.Example") == f"<relance.{digest}@eclat.example>"


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "Hello\r\nBcc: victim@evil.example"},
        {"subject": "Hello\nX-Injected: 1"},
        {"sender_name": "Éclat\r\nBcc: x@evil.example"},
        {"to": ["a@client.example\r\nBcc: x@evil.example"]},
        {"to": ["a@client.example, x@evil.example"]},
        {"to": ["Robert <a@client.example>"]},
        {"to": ["no-at-sign.example"]},
        {"to": ["tést@client.example"]},
        {"to": []},
        {"reply_to": "r@eclat.example\nBcc: x@evil.example"},
        {"message_id": "<a@b>\r\nBcc: x@evil.example"},
        {"message_id": "not-a-message-id"},
        {"in_reply_to": "<a@b>\nX: y"},
        {"references": ["<a@b> <c@d>"]},
        {"auto_submitted": "auto-generated\r\nBcc: x@evil.example"},
        {"attachments": [("a.pdf\r\nX: y", "application/pdf", b"x")]},
        {"attachments": [("a.pdf", "application/pdf\r\nX: y", b"x")]},
        {"date": datetime(2026, 11, 16, 9, 30)},
    ],
)
def test_header_injection_and_bad_values_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(MailHeaderError) as info:
        build(**overrides)
    assert isinstance(info.value, InputError) and isinstance(info.value, ValueError)
    assert info.value.header


def test_validate_address() -> None:
    assert validate_address("first.last+tag@sub.client.example") == "first.last+tag@sub.client.example"
    for bad in ["a@b", "a@@b.example", ".a@b.example", "a b@c.example", "a@-b.example", ""]:
        with pytest.raises(MailHeaderError):
            validate_address(bad)
    with pytest.raises(MailHeaderError):
        make_message_id("k", "not a domain")


def test_utc_date_and_localhost() -> None:
    msg = parse(build(date=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), to=["root@localhost"]))
    assert msg["Date"] == "Fri, 02 Jan 2026 03:04:05 +0000"


def test_encoded_words_never_split_a_character_and_keep_the_text() -> None:
    import base64

    from bot.adapters.mail_build import _encoded_words

    for value in ("é" * 80, "a€𝄞b" * 30, "Relance : facture échue — dernier rappel avant mise en demeure", ""):
        for first in (0, 12, 33, 42, 45):  # what _fold passes: at most 45 bytes on the first line
            words = _encoded_words(value, first)
            decoded = [base64.b64decode(w[len("=?utf-8?b?") : -2]) for w in words]
            assert "".join(d.decode("utf-8") for d in decoded) == value  # each word is whole UTF-8
            assert all(len(w) <= 75 for w in words)
            assert all(len(d) <= 45 for d in decoded[1:])
            # greedy: a word could not have taken the next character
            for d, nxt in zip(decoded, decoded[1:], strict=False):
                nxt_char = nxt.decode("utf-8")[0].encode("utf-8")
                assert len(d) + len(nxt_char) > (max(first, 12) if d is decoded[0] else 45)


def test_address_checks_are_remembered_but_refusals_still_explain_themselves() -> None:
    """Valid addresses are matched once per process; a refusal is never remembered as a success, and a
    trailing line feed (which ``$`` in a pattern would let through) is refused even after the bare address."""
    for _ in range(2):
        assert validate_address("ap@client.example") == "ap@client.example"
        with pytest.raises(MailHeaderError, match="line breaks"):
            validate_address("ap@client.example\n", "Reply-To")
        with pytest.raises(MailHeaderError, match="not a valid email address") as info:
            validate_address("ap@@client.example", "From")
        assert info.value.header == "From"


def test_bodies_encoded_line_by_line_are_the_whole_body_encoded() -> None:
    """Each body line is quoted-printable encoded once and remembered: the bytes must be those of encoding
    the whole body at once (long lines, trailing blanks, lone dots, '=', controls, CR, non-ASCII)."""
    import binascii
    import random

    from bot.adapters import mail_build

    def whole(text: str) -> bytes:
        data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
        data += b"" if data.endswith(b"\n") else b"\n"
        return binascii.b2a_qp(data, quotetabs=False, istext=True, header=False).replace(b"\n", b"\r\n")

    pieces = ["a", "b ", " ", "\t", ".", "=", "\n", "\r\n", "\r", "\x00", "\x7f", "é", "€", "😀", "x" * 70, "é" * 30]
    rnd = random.Random(7)
    texts = ["", "\n", ".", ".\n", " \n", "x" * 200, "a\r", TEXT, HTML]
    texts += ["".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 25))) for _ in range(3000)]
    for i, text in enumerate(texts):
        if i % 500 == 0:
            mail_build._QP_LINES.clear()
        head = b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
        assert mail_build._text_part("plain", text) == head + whole(text), repr(text)
