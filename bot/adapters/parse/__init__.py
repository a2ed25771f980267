"""Parse raw inbound mail into a :class:`bot.domain.message.ParsedMessage`.

The stdlib ``email`` parser (the same parse mail-parser runs inside) builds the MIME tree and the text comes
from its parts, tolerant of lying charsets; mail-parser is called only when it can add something (uuencoded
attachments, text the MIME tree does not show), which keeps parsing faster than raw mail-parser alone.
Everything after this adapter reads only the value object. Only :class:`UnreadableMessageError` ever escapes.
"""

from __future__ import annotations

import logging
import re
from email.message import Message

import mailparser

from bot.adapters.parse.autoreply import detect_auto_reply
from bot.adapters.parse.bounce import detect_bounce
from bot.adapters.parse.feed import message_from_bytes
from bot.adapters.parse.html_text import html_to_text
from bot.adapters.parse.language import detect_language
from bot.adapters.parse.mime import (
    address_list,
    first_text,
    get_header,
    header_text,
    message_ids,
    parse_date,
    part_text,
    sender_of,
    walk_limited,
)
from bot.adapters.parse.quotes import split_reply
from bot.domain.errors import UnreadableMessageError
from bot.domain.message import Attachment, ParsedMessage

__all__ = ["parse_message", "split_reply", "html_to_text"]

logger = logging.getLogger(__name__)
# mail-parser logs a WARNING for every MIME subtype it does not render (images, reports...): noise, not news.
logging.getLogger("mailparser").setLevel(logging.ERROR)

_MAX_RAW_BYTES = 50_000_000
#: A uuencoded file in the body ("begin 644 name"): only mail-parser lists those as attachments.
_UUENCODED = re.compile(rb"^begin [0-7]{3} \S", re.MULTILINE)


def parse_message(raw: bytes, *, max_text_chars: int = 200_000) -> ParsedMessage:
    """Decode ``raw`` (an RFC 5322 message) into a :class:`ParsedMessage`.

    Raises :class:`UnreadableMessageError` when the bytes are not a message at all (empty, no headers and no
    text) or when both mail-parser and the stdlib fail on them; never anything else.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise UnreadableMessageError(f"expected bytes, got {type(raw).__name__}")
    data = bytes(raw[:_MAX_RAW_BYTES])
    try:
        return _parse(data, max_text_chars)
    except UnreadableMessageError:
        raise
    except (RecursionError, MemoryError) as exc:
        raise UnreadableMessageError(f"message too deeply nested or too large: {exc.__class__.__name__}") from exc
    except Exception as exc:  # noqa: BLE001 - the inbox loop must never stop on bad input: quarantine it
        logger.warning("unreadable message: %s: %s", exc.__class__.__name__, exc)
        raise UnreadableMessageError(f"cannot parse message: {exc.__class__.__name__}: {exc}") from exc


def _parse(data: bytes, max_text_chars: int) -> ParsedMessage:
    if not data.strip():
        raise UnreadableMessageError("empty message")
    if b"\n" not in data[:8192] and b"\r" in data:
        data = data.replace(b"\r", b"\n")  # classic Mac OS line ends: no parser splits headers on a bare CR
    # The stdlib parse is the one mail-parser itself runs; mail-parser's extra work (Received hops, address
    # tables, every part decoded) is paid only when it can add something: uuencoded attachments, or text
    # the MIME tree does not show. Half the parse time was that extra work (issue 5 throughput target).
    message = message_from_bytes(data)
    if len(message) == 0 and not message.get_payload():
        raise UnreadableMessageError("no headers and no body")
    plain: str | None = first_text(message, "plain")
    html: str | None = None
    attachments_raw: list[dict[str, object]] | None = None
    if not (plain or "").strip():
        html = first_text(message, "html")
    # The pattern needs the literal "begin ": a substring test spares a regex scan of every byte.
    if (b"begin " in data and _UUENCODED.search(data)) or not ((plain or "").strip() or (html or "").strip()):
        mp_plain, mp_html, attachments_raw, _ = _with_mailparser(data)
        if not (plain or "").strip() and not (html or "").strip():
            plain, html = mp_plain, mp_html
    plain = plain or ""
    if not plain.strip():
        if html is None:
            html = first_text(message, "html")
        plain = html_to_text(html, max_chars=max_text_chars) if html else ""
    if not plain.strip() and message.get_content_maintype() == "multipart" and not message.is_multipart():
        # The declared boundary never occurs (seen in real bounces): the whole body is one unsplit text.
        plain = part_text(message)
    body = plain.replace("\r\n", "\n").replace("\r", "\n")[:max_text_chars]

    subject = get_header(message, "Subject")
    sender, sender_name = sender_of(message)
    date = parse_date(get_header(message, "Date"))
    in_reply_to = next(iter(message_ids(get_header(message, "In-Reply-To"))), None)
    references = message_ids(get_header(message, "References"))

    parts = walk_limited(message)
    bounce = detect_bounce(message, sender, sender_name, subject, body, parts)
    if bounce is not None:
        reply_text, quoted_text = body.strip(), ""
    else:
        reply_text, quoted_text = split_reply(body, sender, sender_name)
    verdict = (
        None if bounce is not None else detect_auto_reply(message, subject, reply_text, date.date() if date else None)
    )

    related = list(bounce.related_message_ids if bounce else ())
    related.extend(i for i in ((in_reply_to,) if in_reply_to else ()) + references if i not in related)
    return ParsedMessage(
        message_id=next(iter(message_ids(get_header(message, "Message-ID"))), None),
        in_reply_to=in_reply_to,
        references=references,
        sender=sender,
        sender_name=sender_name,
        to=address_list(message, "To"),
        cc=address_list(message, "Cc"),
        subject=subject,
        date=date,
        body_text=body,
        reply_text=reply_text,
        quoted_text=quoted_text,
        attachments=_attachments(parts, attachments_raw),
        language=detect_language(reply_text, quoted_text, subject),
        auto_reply=bool(verdict and verdict.is_auto),
        auto_reply_reason=verdict.reason if verdict else None,
        return_date=verdict.return_date if verdict else None,
        bounce=bounce.info if bounce else None,
        related_message_ids=tuple(related),
        returned_text=bounce.returned_text if bounce else "",
    )


def _with_mailparser(
    data: bytes,
) -> tuple[str | None, str | None, list[dict[str, object]] | None, Message | None]:
    """mail-parser's view of the message; Nones where it failed (the stdlib fills in)."""
    try:
        parsed = mailparser.parse_from_bytes(data)
    except Exception as exc:  # noqa: BLE001 - mail-parser raises AttributeError/TypeError on some bounces
        logger.debug("mail-parser failed (%s), falling back to the stdlib", exc.__class__.__name__)
        return None, None, None, None
    message = parsed.message if isinstance(parsed.message, Message) else None
    plain = parsed.text_plain[0] if parsed.text_plain else None
    html = parsed.text_html[0] if parsed.text_html else None
    return plain, html, list(parsed.attachments), message


def _attachments(parts: list[tuple[Message, int, bool]], raw: list[dict[str, object]] | None) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    for part, _, _ in parts:
        if part.is_multipart():
            continue
        if part.get("Content-Disposition") is None and "name" not in str(part.get("Content-Type", "")).lower():
            continue  # no filename parameter can exist and the disposition is not "attachment"
        filename = part.get_filename()
        if not filename and part.get_content_disposition() != "attachment":
            continue
        try:
            payload = part.get_payload(decode=True)
        except (ValueError, TypeError, AssertionError):
            payload = None
        size = len(payload) if isinstance(payload, bytes) else 0
        found.append(Attachment(header_text(filename or "")[:255], part.get_content_type(), size))
    if not found and raw:
        # mail-parser also finds uuencoded attachments the MIME tree does not show.
        for item in raw:
            found.append(Attachment(str(item.get("filename") or "")[:255], str(item.get("mail_content_type") or ""), 0))
    return tuple(found)
