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


def _bounce(name: str) -> tuple[str | None, str | None, str | None]:
    bounce = parse_message((FIXTURES / name).read_bytes()).bounce
    assert bounce is not None, name
    return bounce.recipient, bounce.status, bounce.action


def test_amazon_ses_notification_json_is_read() -> None:
    assert _bounce("ses_sns_bounce.eml") == ("left@client.example", "5.1.1", "failed")


def test_report_with_broken_boundary_still_gives_its_fields() -> None:
    # Status 5.0.0 is generic: the diagnostic's innermost code (the remote server's answer) is kept.
    assert _bounce("dsn_broken_boundary.eml") == ("moved@client.example", "5.7.1", "failed")


def test_classic_mac_line_endings_are_parsed() -> None:
    msg = parse_message((FIXTURES / "cr_only_bounce.eml").read_bytes())
    assert msg.subject == "Undelivered Mail Returned to Sender"
    assert msg.bounce is not None
    assert (msg.bounce.recipient, msg.bounce.status) == ("nobody@client.example", "5.1.1")


def test_qmail_notice_with_a_from_line_is_not_cut_before_the_code() -> None:
    msg = parse_message((FIXTURES / "qmail_rcpt_bounce.eml").read_bytes())
    assert msg.bounce is not None
    assert (msg.bounce.recipient, msg.bounce.status) == ("nobody@client.example", "5.1.1")
    assert msg.related_message_ids == ("relance.R1.INV-7400.202611041000@creditor.example",)


def test_bare_smtp_reply_code_maps_to_enhanced_status() -> None:
    assert _bounce("plain_552_bounce.eml") == ("hoarder@client.example", "5.2.2", "failed")
