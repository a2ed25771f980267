"""One inbound message before it is recorded: its row, the remittance hint, the report's counts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from bot.app.inbound import InboxReport, has_remittance, inbound_row
from bot.domain.message import Attachment, ParsedMessage
from bot.ports import InboundMail

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


def parsed(subject: str = "Re: facture F-1", date: datetime | None = None, *attachments: Attachment) -> ParsedMessage:
    return ParsedMessage(
        message_id="<r1@client.test>",
        in_reply_to=None,
        references=(),
        sender="ap@client.test",
        sender_name="AP",
        to=("collections@relance.test",),
        cc=(),
        subject=subject,
        date=date,
        body_text="ok",
        reply_text="ok",
        quoted_text="",
        attachments=tuple(attachments),
    )


def test_the_row_keeps_the_raw_bytes_and_coordinates_and_falls_back_to_now() -> None:
    mail = InboundMail("maildir:/x", 7, 42, b"raw bytes")
    row = inbound_row(mail, parsed("S" * 2500), NOW)
    assert (row.mailbox, row.uidvalidity, row.uid, row.raw) == ("maildir:/x", 7, 42, b"raw bytes")
    assert row.message_id == "<r1@client.test>" and row.sender == "ap@client.test"
    assert len(row.subject) == 2000  # a header can be longer than the column
    assert row.received_at == NOW and row.processed_at == NOW  # no Date header: the time it was read
    sent = datetime(2026, 11, 30, 17, tzinfo=UTC)
    assert inbound_row(mail, parsed(date=sent), NOW).received_at == sent


def test_a_remittance_is_a_pdf_named_like_one() -> None:
    assert has_remittance(parsed("x", None, Attachment("Avis de virement 1201.PDF", "application/pdf", 1)))
    assert not has_remittance(parsed("x", None, Attachment("virement.png", "image/png", 1)))
    assert not has_remittance(parsed("x", None, Attachment("facture F-1.pdf", "application/pdf", 1)))
    assert not has_remittance(parsed())


def test_reports_add_up() -> None:
    total = InboxReport(processed=1, intents=Counter({"dispute": 1}))
    total += InboxReport(
        processed=2, review=1, quarantined=1, duplicates=3, intents=Counter({"dispute": 1, "other": 2})
    )
    assert total.as_dict() == {
        "processed": 3,
        "review": 1,
        "quarantined": 1,
        "duplicates": 3,
        "intents": {"dispute": 2, "other": 2},
    }
