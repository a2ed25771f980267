"""Bounce detection: RFC 3464 reports and plain-text notices."""

from __future__ import annotations

from pathlib import Path

from bot.adapters.parse import parse_message

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mail"


def test_rfc3464_failure() -> None:
    msg = parse_message((FIXTURES / "dsn_failed.eml").read_bytes())
    assert msg.bounce is not None
    assert msg.bounce.recipient == "gone@client.example"
    assert msg.bounce.status == "5.1.1"
    assert msg.bounce.action == "failed"
    assert msg.bounce.is_permanent
    assert "Recipient address rejected" in (msg.bounce.diagnostic or "")
    assert msg.related_message_ids[0] == "relance.R1.INV-7100.202611021059@creditor.example"
    assert msg.returned_text.startswith("Payment reminder - invoice INV-7100 overdue")
    assert "INV-7100 is overdue" in msg.returned_text
    assert not msg.auto_reply


def test_delay_is_a_bounce_but_not_permanent() -> None:
    msg = parse_message((FIXTURES / "dsn_delayed.eml").read_bytes())
    assert msg.bounce is not None
    assert (msg.bounce.recipient, msg.bounce.status, msg.bounce.action) == (
        "full@client.example",
        "4.2.2",
        "delayed",
    )
    assert not msg.bounce.is_permanent
    assert msg.related_message_ids == ("relance.R2.INV-7200.202611021200@creditor.example",)
    assert msg.returned_text == "Second reminder: invoice INV-7200 remains unpaid"


def test_exim_text_bounce_infers_recipient_and_status() -> None:
    msg = parse_message((FIXTURES / "exim_text_bounce.eml").read_bytes())
    assert msg.bounce is not None
    assert msg.bounce.recipient == "full@client.example"
    assert msg.bounce.status == "5.2.2"  # "Mailbox full" with no enhanced code in the text
    assert msg.bounce.is_permanent
    assert msg.related_message_ids == ("relance.R1.INV-7300.202611030900@creditor.example",)
    assert "INV-7300" in msg.returned_text


def test_human_reply_is_not_a_bounce() -> None:
    for name in ("fr_outlook_reply.eml", "ooo_headers_en.eml", "ticket_ack.eml"):
        assert parse_message((FIXTURES / name).read_bytes()).bounce is None
