"""Build the bytes of an outgoing message once, with the ``email`` package, refusing header injection.

Every header value is checked for CR/LF before it reaches ``email`` (the library would fold or, with some
policies, pass them through); every address is validated; the result is serialised with ``policy.SMTP``
(CRLF line ends) so that the SMTP adapter and the outbox directory store exactly the same bytes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from bot.domain.errors import FieldProblem, InputError
from bot.ports import OutgoingMail

__all__ = ["MailHeaderError", "build_mail", "make_message_id", "validate_address"]

# Deliberately narrower than RFC 5322: what real mail systems accept without quoting. No SMTPUTF8 here:
# a non-ASCII address is refused rather than sent in a form half of the servers on the way would mangle.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}|localhost"
_ADDRESS = re.compile(rf"^{_LOCAL}@(?:{_DOMAIN})$")
_DOMAIN_ONLY = re.compile(rf"^(?:{_DOMAIN})$")
_MESSAGE_ID = re.compile(r"^<[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x7e]+>$")
_CTL = re.compile(r"[\r\n\x00]")


class MailHeaderError(InputError, ValueError):
    """A header value that cannot go into a message (CR/LF, bad address, bad Message-ID)."""

    code = "mail_header_error"

    def __init__(self, header: str, message: str, value: str = "") -> None:
        self.header = header
        self.source = "outgoing mail"
        self.problems = [FieldProblem(line=0, field=header, message=message, value=value)]
        shown = f" (got {value!r})" if value else ""
        Exception.__init__(self, f"outgoing mail, header {header}: {message}{shown}")


def _check_value(header: str, value: str) -> str:
    if _CTL.search(value):
        raise MailHeaderError(header, "line breaks and NUL are not allowed in a header", value)
    return value


def validate_address(address: str, header: str = "To") -> str:
    """Return ``address`` if it is a plain ``local@domain`` address, else raise ``MailHeaderError``."""
    _check_value(header, address)
    if len(address) > 254 or not _ADDRESS.match(address):
        raise MailHeaderError(header, "not a valid email address", address)
    return address


def make_message_id(key: str, domain: str) -> str:
    """A Message-ID derived from the outbox idempotency key: the same key always gives the same id.

    The hash keeps client names and invoice numbers out of the header and makes the id safe as a file name.
    """
    _check_value("Message-ID", key)
    if not _DOMAIN_ONLY.match(domain):
        raise MailHeaderError("Message-ID", "not a valid domain", domain)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<relance.{digest}@{domain.lower()}>"


def _message_id(header: str, value: str) -> str:
    _check_value(header, value)
    if not _MESSAGE_ID.match(value):
        raise MailHeaderError(header, "not a valid Message-ID (<left@right>)", value)
    return value


def build_mail(
    *,
    sender: str,
    sender_name: str,
    to: Sequence[str],
    reply_to: str | None,
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    date: datetime,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    attachments: Sequence[tuple[str, str, bytes]] = (),
    auto_submitted: str = "auto-generated",
) -> OutgoingMail:
    """Assemble and serialise one message; the envelope sender and recipients go with the bytes.

    ``attachments`` are ``(file_name, mime_type, data)``. ``date`` must be timezone-aware. Raises
    ``MailHeaderError`` (an ``InputError`` and a ``ValueError``) for any header that could not be sent as is.
    """
    validate_address(sender, "From")
    _check_value("From", sender_name)
    if not to:
        raise MailHeaderError("To", "at least one recipient is required")
    recipients = tuple(validate_address(addr, "To") for addr in to)
    if reply_to is not None:
        validate_address(reply_to, "Reply-To")
    _check_value("Subject", subject)
    _message_id("Message-ID", message_id)
    if in_reply_to is not None:
        _message_id("In-Reply-To", in_reply_to)
    refs = [_message_id("References", ref) for ref in references]
    _check_value("Auto-Submitted", auto_submitted)
    if date.tzinfo is None or date.utcoffset() is None:
        raise MailHeaderError("Date", "must be timezone-aware", date.isoformat())

    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address(display_name=sender_name, addr_spec=sender)
    msg["To"] = ", ".join(recipients)
    if reply_to is not None:
        msg["Reply-To"] = reply_to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    if in_reply_to is not None:
        msg["In-Reply-To"] = in_reply_to
    if refs:
        msg["References"] = " ".join(refs)
    msg["Auto-Submitted"] = auto_submitted
    msg.set_content(text, subtype="plain", charset="utf-8")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8")
    for file_name, mime_type, data in attachments:
        _check_value("Content-Disposition", file_name)
        maintype, _, subtype = mime_type.partition("/")
        if not maintype or not subtype or _CTL.search(mime_type):
            raise MailHeaderError("Content-Type", "attachment type must be maintype/subtype", mime_type)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=file_name)
    return OutgoingMail(message_id=message_id, sender=sender, recipients=recipients, data=msg.as_bytes())
