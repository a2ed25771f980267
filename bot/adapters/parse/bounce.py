"""Recognise delivery failures: RFC 3464 reports and text notices of Exchange, Postfix, qmail, Exim, Domino.

A standard report is read field by field (Final-Recipient, Action, Status, Diagnostic-Code); the returned
message (``message/rfc822`` or ``text/rfc822-headers``) gives the Message-IDs and text we sent, so the
caller can tie the bounce to our outbox. Non-standard notices are recognised by sender/subject, and the
recipient and status are inferred from the notice text (the part above the copy of the original message).
Delays are bounces too; whether one is final is :attr:`BounceInfo.is_permanent`'s business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser

from bot.adapters.parse.bounce_text import (
    WRAPPER_STATUSES,
    TextBounce,
    dsn_fields_in_text,
    innermost_status,
    ses_notification,
    status_from_reply_code,
)
from bot.adapters.parse.mime import get_header, header_text, message_ids, part_text, walk_limited
from bot.adapters.parse.prefilter import may_contain
from bot.domain.message import BounceInfo

_NOTICE_CHARS = 20_000
_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d]|\.\d)")
_SMTP_CODE = re.compile(r"(?<!\d)([45]\d\d)[ -](?=\D)")
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+")
_DAEMON = re.compile(
    r"mailer-daemon|postmaster|mail delivery|mail administrator|mdaemon|mailer daemon|^bounces?@", re.I
)
#: Each :data:`_DAEMON` alternative contains one of these: without any, the search is skipped.
_DAEMON_KEYWORDS = ("daemon", "postmaster", "mail ", "bounce")
_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status notification"
    r"|failure|failed|report|has failed|problem|notification)"
    r"|mail delivery failed|failure notice|returned mail|returned to sender|non remis|non distribu|non-remise"
    r"|rapport d'erreur de remise|unzustellbar|nicht zustellbar"
    r"|delayed mail|delivery delayed|warning: could not send"
    r"|mail could not be delivered|message not delivered|could not be delivered|rejected|unable to deliver"
    r"|delivery notification|mail system error"
    r"|échec de (?:la )?remise|echec de (?:la )?remise|nondeliverable"
    r"|error sending your (?:mail|message)|could not send your|配信できません|配送できません|送信できません"
    r"|配信エラー|配送エラー",
    re.IGNORECASE,
)
_DELAY = re.compile(
    r"\bdelayed\b|has not yet been delivered|will (?:continue|keep) (?:to )?try|still trying|will be retried"
    r"|not been delivered yet|temporarily|remise diff[ée]r[ée]e|retard de remise|pas encore [ée]t[ée] remis",
    re.IGNORECASE,
)
#: (pattern, status) used when a text notice gives no enhanced status code.
_REASONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"mailbox (?:is )?full|over ?quota|quota exceeded"
        r"|insufficient (?:storage|space)|bo[îi]te (?:aux lettres )?pleine", re.I), "5.2.2"),
    (re.compile(r"user unknown|unknown user|no such user|does not exist|doesn't exist|not found"
        r"|invalid recipient|no mailbox|n'est pas r[ée]pertori|inconnu"
        r"|unknown (?:local part|recipient|address)"
        r"|recipient address rejected|mailbox unavailable|not listed", re.I), "5.1.1"),
    (re.compile(r"host (?:or domain name )?not found|domain not found"
        r"|no such domain|nxdomain|unrouteable|no mx", re.I), "5.1.2"),
    (re.compile(r"disabled|suspended|deactivated|inactive", re.I), "5.2.1"),
    (re.compile(r"too large|message size|size limit", re.I), "5.3.4"),
    (re.compile(r"spam|blocked|blacklist|denied|policy|rejected", re.I), "5.7.1"),
)  # fmt: skip
_COPY_MARKERS = re.compile(
    r"^[ \t-]*(?:this is a copy of|a copy of the original"
    r"|below this line is a copy|original message|message original"
    r"|---+ ?original|the original message|undelivered message"
    r"|returned message|message d'origine|copie du message"
    r"|\S+ ?headers of the original|end of message)",
    re.IGNORECASE | re.MULTILINE,
)
#: Returned headers and pasted originals only need their header block parsed (the body stays a string).
_HEADERS_ONLY = HeaderParser()
#: A pasted header block: two header lines in a row (a lone "From: <postmaster@…> RCPT: …" is notice text).
_EMBEDDED_HEADERS = re.compile(
    r"^(?:Return-Path|Received|Message-ID|From): [^\n]*\n(?:[ \t]+[^\n]*\n)*[\w-]{2,40}: ",
    re.MULTILINE | re.IGNORECASE,
)


@dataclass(frozen=True)
class BounceVerdict:
    info: BounceInfo
    related_message_ids: tuple[str, ...]
    returned_text: str


def detect_bounce(
    message: Message,
    sender: str,
    sender_name: str,
    subject: str,
    body: str,
    parts: list[tuple[Message, int, bool]] | None = None,
) -> BounceVerdict | None:
    """A :class:`BounceVerdict` when ``message`` is a delivery failure/delay notice, else None.

    ``parts`` is ``walk_limited(message)`` when the caller already has it.
    """
    parts = walk_limited(message) if parts is None else parts
    status_parts = [
        p for p, _, _ in parts if p.get_content_type() in ("message/delivery-status", "message/global-delivery-status")
    ]
    report_type = (
        str(message.get_param("report-type") or "").lower() if message.get_content_type() == "multipart/report" else ""
    )
    if report_type and report_type != "delivery-status" and not status_parts:
        return None  # feedback reports / read receipts are not delivery failures
    failed_header = get_header(message, "X-Failed-Recipients")
    if status_parts:
        info = _from_delivery_status(status_parts[0], body)
        if info is not None:
            if info.recipient is None and failed_header:
                info = BounceInfo(_first_email(failed_header), info.status, info.action, info.diagnostic)
            return BounceVerdict(info, *_returned_message(parts, body))
    ses = ses_notification(body)
    if ses is not None:
        return BounceVerdict(_info(ses), (), "")
    looks_daemon = _is_daemon(sender) or _is_daemon(sender_name)
    if not (failed_header or (looks_daemon and _SUBJECT.search(subject)) or (report_type == "delivery-status")):
        return None
    if (
        get_header(message, "Auto-Submitted").lower().startswith("auto-replied")
        and not failed_header
        and not _SUBJECT.search(subject)
    ):
        return None
    notice = _notice_part(body)
    fields = dsn_fields_in_text(body)
    if fields is not None and fields.status is not None:
        # An RFC 3464 report whose MIME structure is broken (or forwarded inline): its fields still rule.
        if fields.recipient is None and failed_header:
            fields = TextBounce(_first_email(failed_header), fields.status, fields.action, fields.diagnostic)
        return BounceVerdict(_info(fields), *_returned_message(parts, body))
    recipient = _first_email(failed_header) if failed_header else _recipient_from_text(notice, sender)
    status = _status_from_text(notice)
    delayed = _DELAY.search(notice) is not None or _DELAY.search(subject) is not None
    if status is None:
        status = _reason_status(notice, delayed)
    action = "delayed" if delayed and (status is None or status.startswith("4")) else "failed"
    return BounceVerdict(BounceInfo(recipient, status, action, _diagnostic(notice)), *_returned_message(parts, body))


def _info(found: TextBounce) -> BounceInfo:
    return BounceInfo(found.recipient, found.status, found.action, found.diagnostic)


def _from_delivery_status(part: Message, body: str) -> BounceInfo | None:
    blocks = [b for b in (part.get_payload() if part.is_multipart() else []) if isinstance(b, Message)]
    if not blocks:
        text = part_text(part)
        blocks = [
            _HEADERS_ONLY.parsestr(chunk) for chunk in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if chunk.strip()
        ]
    recipients = [b for b in blocks if b.get("Final-Recipient") or b.get("Original-Recipient")]
    if not recipients:
        recipients = [b for b in blocks if b.get("Action") or b.get("Status")]
    if not recipients:
        return None
    chosen = next((b for b in recipients if header_text(b.get("Action")).lower().startswith("failed")), recipients[0])
    recipient_field = header_text(chosen.get("Final-Recipient")) or header_text(chosen.get("Original-Recipient"))
    recipient = _first_email(recipient_field.split(";", 1)[-1]) or _first_email(recipient_field)
    diagnostic = header_text(chosen.get("Diagnostic-Code")).split(";", 1)[-1].strip() or None
    status_match = _STATUS.search(header_text(chosen.get("Status")))
    status = ".".join(status_match.groups()) if status_match else None
    if status is None or status.endswith(".0.0") or status in WRAPPER_STATUSES:
        # A generic or "expired" Status wraps the remote server's own answer: the diagnostic's innermost
        # (last) code says why ("554 4.4.7 Message expired … <421 4.4.2 Connection timed out>" is 4.4.2).
        better = innermost_status(diagnostic or "")
        status = better or status or _status_from_text(_notice_part(body))
    action = header_text(chosen.get("Action")).lower().split()[0] if chosen.get("Action") else None
    return BounceInfo(recipient, status, action, diagnostic[:500] if diagnostic else None)


def _returned_message(parts: list[tuple[Message, int, bool]], body: str) -> tuple[tuple[str, ...], str]:
    for part, _, _ in parts:
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            original = inner[0] if isinstance(inner, list) and inner and isinstance(inner[0], Message) else None
            if original is not None:
                return _ids_and_text(original, _inner_text(original))
        if ctype == "text/rfc822-headers":
            original = _HEADERS_ONLY.parsestr(part_text(part)[:_NOTICE_CHARS])
            return _ids_and_text(original, "")
    # Text notices paste the original below a marker line: read its headers and body from there.
    at = _copy_start(body)
    if at is None:
        return (), ""
    pasted = body[at:].split("\n", 1)[-1].lstrip("\n")
    original = _HEADERS_ONLY.parsestr(pasted[:_NOTICE_CHARS])
    return _ids_and_text(original, original.get_payload())


def _inner_text(original: Message) -> str:
    for part, _, _ in walk_limited(original):
        if part.get_content_type() == "text/plain":
            return part_text(part)
    return ""


def _ids_and_text(original: Message, text: object) -> tuple[tuple[str, ...], str]:
    ids: list[str] = []
    for name in ("Message-ID", "In-Reply-To", "References"):
        ids.extend(message_ids(get_header(original, name)))
    subject = get_header(original, "Subject")
    body = text if isinstance(text, str) else ""
    return tuple(dict.fromkeys(ids)), f"{subject}\n\n{body[:_NOTICE_CHARS]}".strip()


def _copy_start(body: str) -> int | None:
    marker = _COPY_MARKERS.search(body[:_NOTICE_CHARS])
    headers = _EMBEDDED_HEADERS.search(body[:_NOTICE_CHARS])
    if marker is not None:
        return marker.start()
    if headers is not None:
        return max(0, headers.start() - 1)
    return None


def _notice_part(body: str) -> str:
    at = _copy_start(body)
    return body[: at if at else _NOTICE_CHARS]


def _is_daemon(text: str) -> bool:
    return may_contain(text, _DAEMON_KEYWORDS) and _DAEMON.search(text) is not None


def _first_email(text: str) -> str | None:
    match = _EMAIL.search(text)
    return match.group(0).lower().strip(".") if match else None


def _recipient_from_text(notice: str, sender: str) -> str | None:
    # Postfix/qmail put the failed address at the start of a line: "<user@host>: reason" or "  user@host".
    for line in notice.split("\n"):
        stripped = line.strip().lstrip("<")
        match = _EMAIL.match(stripped)
        if match and not _DAEMON.search(match.group(0)):
            return match.group(0).lower()
    for match in _EMAIL.finditer(notice):
        address = match.group(0).lower()
        if address != sender and not _DAEMON.search(address):
            return address
    return None


def _status_from_text(text: str) -> str | None:
    match = _STATUS.search(text[:_NOTICE_CHARS])
    return ".".join(match.groups()) if match else None


def _reason_status(notice: str, delayed: bool) -> str | None:
    for pattern, status in _REASONS:
        if pattern.search(notice):
            return ("4" + status[1:]) if delayed else status
    code = _SMTP_CODE.search(notice)
    if code:
        return status_from_reply_code(code.group(1))
    return "4.0.0" if delayed else None


def _diagnostic(notice: str) -> str | None:
    for line in notice.split("\n"):
        if _STATUS.search(line) or _SMTP_CODE.search(line):
            return line.strip()[:500]
    return None
