"""parse_message on hand-written fixtures: every field of the value object."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.adapters.parse import parse_message
from bot.domain.errors import UnreadableMessageError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mail"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_french_outlook_reply_fields() -> None:
    msg = parse_message(load("fr_outlook_reply.eml"))
    assert msg.sender == "v.morin@atelier-morin.example"
    assert msg.sender_name == "Valérie Morin"
    assert msg.to == ("relance@creancier.example",)
    assert msg.cc == ("compta@atelier-morin.example",)
    assert msg.subject == "RE : Relance - facture FA-2031 échue"
    assert msg.date == datetime(2026, 10, 14, 16, 5, tzinfo=timezone(timedelta(hours=2)))
    assert msg.message_id == "abc123.20261014@atelier-morin.example"
    assert msg.in_reply_to == "relance.R1.FA-2031.202610120900@creancier.example"
    assert msg.references == (
        "relance.C.FA-2031.202609280900@creancier.example",
        "relance.R1.FA-2031.202610120900@creancier.example",
    )
    assert "1 250,00 € partira vendredi prochain" in msg.reply_text
    assert "Si vous avez déjà réglé" not in msg.reply_text
    assert "Si vous avez déjà réglé" in msg.quoted_text
    assert "01 23 45 67 89" not in msg.reply_text  # signature contact block removed
    assert msg.language == "fr"
    assert not msg.auto_reply and msg.bounce is None
    assert set(msg.related_message_ids) == set(msg.references)


def test_gmail_reply_with_mobile_footer_and_multiline_attribution() -> None:
    msg = parse_message(load("en_gmail_reply.eml"))
    assert msg.reply_text == "Hi,\n\nWe paid this yesterday by bank transfer, reference QJ-5521."
    assert "If you have already paid" in msg.quoted_text
    assert msg.sender_name == "Peter Quill"
    assert msg.language == "en"


def test_html_only_body_is_converted_and_quote_removed() -> None:
    msg = parse_message(load("html_only.eml"))
    assert "alert" not in msg.body_text and "color" not in msg.body_text
    assert msg.reply_text == "Bonjour,\n\nNous avons bien reçu la facture ; le paiement est prévu le 15/11."
    assert "Si vous avez déjà réglé" in msg.quoted_text


def test_mislabelled_charset_and_raw_8bit_header_and_bad_date() -> None:
    msg = parse_message(load("mislabelled_charset.eml"))
    assert msg.reply_text == "La facture a été réglée hier par chèque."
    assert msg.subject == "Facture réglée"
    assert msg.sender_name == "François Béranger"
    assert msg.date is None
    assert msg.message_id is None


def test_attachments_are_listed_with_size() -> None:
    msg = parse_message(load("with_attachment.eml"))
    assert [(a.filename, a.content_type) for a in msg.attachments] == [("avis_de_virement.pdf", "application/pdf")]
    assert msg.attachments[0].size > 0
    assert msg.reply_text == "Veuillez trouver ci-joint notre avis de virement."


def test_naive_date_is_made_aware() -> None:
    raw = b"From: a@b.example\nDate: Mon, 2 Nov 2026 10:00:00 -0000\nSubject: x\n\nhello there\n"
    msg = parse_message(raw)
    assert msg.date == datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def test_missing_headers_give_empty_values() -> None:
    msg = parse_message(b"\n\njust a body line\n")
    assert msg.sender == "" and msg.subject == "" and msg.date is None and msg.to == ()
    assert msg.reply_text == "just a body line"


def test_max_text_chars_bounds_the_body() -> None:
    raw = b"From: a@b.example\nSubject: big\n\n" + b"word " * 100_000
    msg = parse_message(raw, max_text_chars=1000)
    assert len(msg.body_text) <= 1000


@pytest.mark.parametrize("raw", [b"", b"   \r\n  "])
def test_empty_input_is_unreadable(raw: bytes) -> None:
    with pytest.raises(UnreadableMessageError):
        parse_message(raw)


def test_return_date_is_a_date() -> None:
    msg = parse_message(load("ooo_headers_en.eml"))
    assert msg.return_date == date(2026, 12, 7)
