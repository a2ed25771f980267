"""Bounce details that are not in a well-formed ``message/delivery-status`` part.

* Amazon SES notifications relayed by SNS: a JSON document (``"notificationType":"Bounce"``) in a plain mail.
* RFC 3464 fields pasted as text: reports whose multipart boundary is broken (the header names one boundary,
  the body uses another) or that were forwarded inline still carry "Final-Recipient: … / Status: …" lines.
* Plain SMTP reply codes without an enhanced status: mapped to the RFC 3463 class they imply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.parser import HeaderParser

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d]|\.\d)")
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+")
_SCAN_CHARS = 60_000

_SES_TYPE = re.compile(r'"notificationType"\s*:\s*"Bounce"')
_SES_RECIPIENTS = re.compile(r'"bouncedRecipients"\s*:\s*\[(.{0,4000}?)\]', re.DOTALL)
_SES_FIELD = re.compile(r'"(emailAddress|status|action|diagnosticCode)"\s*:\s*"((?:[^"\\]|\\.){0,1000})"')
_SES_KIND = re.compile(r'"bounceType"\s*:\s*"(\w+)"')

#: A block of RFC 3464 per-recipient fields at the start of a line (possibly quoted with "> ").
_DSN_FIELD = re.compile(r"^(?:> ?)?(?:Final-Recipient|Original-Recipient)\s*:", re.IGNORECASE | re.MULTILINE)
_HEADERS_ONLY = HeaderParser()

#: SMTP reply codes (RFC 5321) whose meaning is one enhanced status (RFC 3463) when the text gives none.
#: Statuses that only say "gave up" (time expired) or nothing: the diagnostic usually holds the real cause.
WRAPPER_STATUSES = frozenset({"4.4.7", "5.4.7"})
_REPLY_CODE_STATUS = {"552": "5.2.2", "551": "5.1.6", "553": "5.1.3", "421": "4.0.0", "452": "4.2.2"}


@dataclass(frozen=True)
class TextBounce:
    recipient: str | None
    status: str | None
    action: str | None
    diagnostic: str | None


def ses_notification(body: str) -> TextBounce | None:
    """The first bounced recipient of an Amazon SES bounce notification (JSON sent through SNS)."""
    text = body[:_SCAN_CHARS]
    if not _SES_TYPE.search(text):
        return None
    # SNS wraps long lines; a newline plus one space is a soft break inside the JSON.
    text = text.replace("\n ", "").replace("\r", "")
    recipients = _SES_RECIPIENTS.search(text)
    if recipients is None:
        return None
    fields = dict(_SES_FIELD.findall(recipients.group(1).split("}", 1)[0]))
    status_match = _STATUS.search(fields.get("status", ""))
    status = ".".join(status_match.groups()) if status_match else None
    diagnostic = fields.get("diagnosticCode") or None
    if status is None and diagnostic:
        status = status_from_text(diagnostic)
    kind = _SES_KIND.search(text)
    action = fields.get("action") or ("delayed" if kind and kind.group(1) == "Transient" else "failed")
    address = _EMAIL.search(fields.get("emailAddress", ""))
    return TextBounce(address.group(0).lower() if address else None, status, action, diagnostic)


def dsn_fields_in_text(body: str) -> TextBounce | None:
    """RFC 3464 per-recipient fields written as plain text (broken multipart, inline forward)."""
    text = body[:_SCAN_CHARS]
    start = _DSN_FIELD.search(text)
    if start is None:
        return None
    lines = []
    for line in text[start.start() :].split("\n"):
        line = line.rstrip("\r")
        if line.startswith(">"):
            line = line[1:].removeprefix(" ")
        if not line.strip():
            break
        lines.append(line)
    block = _HEADERS_ONLY.parsestr("\n".join(lines))
    recipient_field = str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
    address = _EMAIL.search(recipient_field.split(";", 1)[-1])
    status = status_from_text(str(block.get("Status") or ""))
    diagnostic = " ".join(str(block.get("Diagnostic-Code") or "").split()).split(";", 1)[-1].strip() or None
    if status is None or status.endswith(".0.0") or status in WRAPPER_STATUSES:
        status = innermost_status(diagnostic or "") or status
    action_field = str(block.get("Action") or "").strip().lower()
    return TextBounce(
        address.group(0).lower() if address else None,
        status,
        action_field.split()[0] if action_field else None,
        diagnostic[:500] if diagnostic else None,
    )


def status_from_text(text: str) -> str | None:
    """The first RFC 3463 enhanced status code in ``text``."""
    match = _STATUS.search(text[:_SCAN_CHARS])
    return ".".join(match.groups()) if match else None


def innermost_status(text: str) -> str | None:
    """The last specific (not ``x.0.0``) enhanced code in a diagnostic: the remote server's own answer.

    "554 4.4.7 Message expired … <421 4.4.2 Connection timed out>" is 4.4.2; "5.1.0 - Unknown address error
    550-'5.7.1 …" is 5.7.1.
    """
    codes = [".".join(m.groups()) for m in _STATUS.finditer(text[:_SCAN_CHARS])]
    specific = [code for code in codes if not code.endswith(".0.0")]
    chosen = specific or codes
    return chosen[-1] if chosen else None


def status_from_reply_code(code: str) -> str:
    """The enhanced status an SMTP reply code implies on its own (``5.0.0`` / ``4.0.0`` when it is generic)."""
    return _REPLY_CODE_STATUS.get(code, f"{code[0]}.0.0")
