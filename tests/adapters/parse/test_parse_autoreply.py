"""Auto-reply detection and return dates."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.adapters.parse import parse_message
from bot.adapters.parse.return_date import find_return_date

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mail"


@pytest.mark.parametrize("name", ["ooo_headers_en.eml", "ooo_no_headers_fr.eml", "ticket_ack.eml"])
def test_auto_replies_are_flagged(name: str) -> None:
    msg = parse_message((FIXTURES / name).read_bytes())
    assert msg.auto_reply
    assert msg.auto_reply_reason


@pytest.mark.parametrize(
    "name", ["human_with_suppress_header.eml", "fr_outlook_reply.eml", "en_gmail_reply.eml", "dsn_failed.eml"]
)
def test_humans_and_bounces_are_not_auto_replies(name: str) -> None:
    assert not parse_message((FIXTURES / name).read_bytes()).auto_reply


def test_french_return_date_from_body() -> None:
    msg = parse_message((FIXTURES / "ooo_no_headers_fr.eml").read_bytes())
    assert msg.return_date == date(2026, 12, 7)


@pytest.mark.parametrize(
    ("text", "sent", "expected"),
    [
        ("Je serai de retour le 7 décembre.", date(2026, 12, 1), date(2026, 12, 7)),
        ("I will be back on Monday 7 December.", date(2026, 12, 1), date(2026, 12, 7)),
        ("Absent jusqu'au 04/12/2026.", date(2026, 11, 20), date(2026, 12, 4)),
        ("Absente jusqu'au lundi 12 octobre inclus.", date(2026, 10, 5), date(2026, 10, 13)),
        ("Je suis absente du 26 octobre au 6 novembre inclus.", date(2026, 10, 26), date(2026, 11, 7)),
        ("Back on 5 January.", date(2026, 12, 20), date(2027, 1, 5)),
        ("Out of office until 23 Nov.", date(2026, 11, 10), date(2026, 11, 23)),
        ("Out of office, no date given.", date(2026, 11, 10), None),
        ("Back on 5 January.", None, None),
    ],
)
def test_find_return_date(text: str, sent: date | None, expected: date | None) -> None:
    assert find_return_date(text, sent) == expected
