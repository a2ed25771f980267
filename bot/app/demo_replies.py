"""The demo's debtors: who answers which reminder, with what, and whether they then pay.

The behaviours are data (``resources/demo/debtors.csv``), the wording is hand-written ``.eml`` templates
(``resources/demo/replies/``) with ``$placeholders``; this module turns one into the bytes a debtor's mail
client would have sent: threaded on our reminder (In-Reply-To / References), quoting it, dated in the
simulated day.
"""

from __future__ import annotations

import csv
import email
import email.policy
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from string import Template

RESOURCES = Path(__file__).resolve().parents[1] / "resources" / "demo"
REPLIES = RESOURCES / "replies"

_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}


@dataclass(frozen=True)
class Debtor:
    client_id: str
    contact_name: str
    reply_to_reminder: int | None  # answer the n-th reminder e-mail (1-based); None: never answers
    template: str | None
    delay_days: int
    promise_in_days: int | None
    pays: str  # never | on_promise | after_reply


def load_debtors(path: Path = RESOURCES / "debtors.csv") -> dict[str, Debtor]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {
        r["client_id"]: Debtor(
            client_id=r["client_id"],
            contact_name=r["contact_name"],
            reply_to_reminder=int(r["reply_to_reminder"]) if r["reply_to_reminder"] else None,
            template=r["template"] or None,
            delay_days=int(r["delay_days"] or 0),
            promise_in_days=int(r["promise_in_days"]) if r["promise_in_days"] else None,
            pays=r["pays"],
        )
        for r in rows
    }


def format_day(day: date, language: str) -> str:
    return (
        day.strftime("%d/%m/%Y") if language == "fr" else f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"
    )


def format_amount(amount: Decimal, currency: str, language: str) -> str:
    symbol = _SYMBOLS.get(currency, currency)
    if language == "fr":
        whole, _, cents = f"{amount:,.2f}".partition(".")
        return f"{whole.replace(',', ' ')},{cents} {symbol}"
    return f"{symbol}{amount:,.2f}"


@dataclass(frozen=True)
class ReminderSent:
    """What a debtor sees of one of our reminders."""

    message_id: str
    recipient: str
    subject: str
    raw: bytes
    sent_at: datetime
    client_id: str
    client_name: str
    language: str
    invoice_numbers: tuple[str, ...]
    balance: Decimal
    currency: str


def _quote(reminder: ReminderSent, language: str, at: datetime) -> str:
    """The reminder's text, quoted the way mail clients do, under an attribution line."""
    message = email.message_from_bytes(reminder.raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("plain",))
    text = part.get_content() if part is not None else ""
    lines = [line.rstrip() for line in str(text).splitlines()][:14]
    when = format_day(reminder.sent_at.date(), language)
    intro = (
        f"Le {when}, Service recouvrement <{reminder_sender(message)}> a écrit :"
        if language == "fr"
        else f"On {when}, Credit control <{reminder_sender(message)}> wrote:"
    )
    return "\n".join([intro, *("> " + line if line else ">" for line in lines)])


def reminder_sender(message: EmailMessage) -> str:
    return str(message.get("From", "")).rpartition("<")[2].rstrip(">") or str(message.get("From", ""))


def build_reply(
    debtor: Debtor,
    reminder: ReminderSent,
    *,
    at: datetime,
    serial: int,
    creditor_address: str,
    creditor_name: str,
) -> tuple[bytes, date | None, date | None]:
    """The reply's bytes, plus the promised date and the claimed payment date it states (if any)."""
    assert debtor.template is not None
    language = reminder.language
    domain = reminder.recipient.rpartition("@")[2]
    day = at.date()
    promised = day + timedelta(days=debtor.promise_in_days) if debtor.promise_in_days else None
    paid = day - timedelta(days=1)
    values = {
        "contact_name": debtor.contact_name,
        "company": reminder.client_name,
        "creditor": creditor_name,
        "invoice": reminder.invoice_numbers[0],
        "amount": format_amount(reminder.balance, reminder.currency, language),
        "promise_date": format_day(promised, language) if promised else "",
        "paid_date": format_day(paid, language),
        "return_date": format_day(day + timedelta(days=7), language),
        "new_contact": f"{'comptabilite' if language == 'fr' else 'payables'}@{domain}",
        "quote": _quote(reminder, language, at),
        "contact": reminder.recipient,
        "domain": domain,
        "reminder_message_id": reminder.message_id.strip("<>"),
        "creditor_address": creditor_address,
        "reminder_date": format_datetime(reminder.sent_at),
        "date_rfc": format_datetime(at),
        "message_id": f"demo-{serial}-{reminder.client_id.lower()}@{domain}",
    }
    source = Template((REPLIES / f"{debtor.template}.eml").read_text(encoding="utf-8")).safe_substitute(
        values
    )
    head, _, body = source.partition("\n\n")
    if "multipart/report" in head:
        # A delivery report is written whole by the template (an MTA, not a person, sends it).
        return source.replace("\n", "\r\n").encode("utf-8"), None, None
    message = EmailMessage()
    message["From"] = formataddr((debtor.contact_name, reminder.recipient))
    message["To"] = creditor_address
    message["Subject"] = (
        reminder.subject if reminder.subject.lower().startswith("re:") else f"Re: {reminder.subject}"
    )
    message["Date"] = format_datetime(at)
    message["Message-ID"] = f"<{values['message_id']}>"
    auto = "auto-replied" in head
    if not auto:
        message["In-Reply-To"] = f"<{values['reminder_message_id']}>"
        message["References"] = f"<{values['reminder_message_id']}>"
    for line in head.splitlines():
        name, _, value = line.partition(":")
        if name.lower() not in ("content-type", "") and value.strip():
            message[name.strip()] = value.strip()
    message.set_content(body, charset="utf-8")
    stated_paid = paid if "already_paid" in debtor.template else None
    return message.as_bytes(policy=email.policy.SMTP), promised, stated_paid
