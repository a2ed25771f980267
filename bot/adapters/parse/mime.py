"""Robust reading of MIME structure: headers, addresses, Message-IDs, text parts (stdlib ``email`` only).

Every helper here tolerates what real inboxes contain: unknown or lying charsets, raw 8-bit headers, malformed
encoded-words, missing boundaries, absurd nesting. Nothing raises except on programming errors.
"""

from __future__ import annotations

import codecs
import re
from datetime import UTC, datetime
from email.header import Header, decode_header
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from bot.adapters.parse.feed import IndexedMessage

#: Header values are cut to this length before any processing (a 1 MB Subject is an attack, not a subject).
MAX_HEADER_CHARS = 8_000
#: message/rfc822 and multipart nesting deeper than this is not walked.
MAX_DEPTH = 20
#: At most this many MIME parts are looked at.
MAX_PARTS = 500

_CHARSET_ALIASES = {
    "ks_c_5601-1987": "cp949",
    "x-unknown": "utf-8",
    "unknown-8bit": "cp1252",
    "ansi_x3.4-1968": "ascii",
    "iso-8859-8-i": "iso-8859-8",
    "x-user-defined": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "windows-874": "cp874",
}
_MSGID = re.compile(r"<([^<>\s]{1,500})>")
#: "Display Name <local@domain>" or "local@domain" made of plain atoms only: what ``email.utils`` returns for
#: it is known in advance (the name's words joined by one space, the address as written), so its slow
#: pure-Python tokenizer is skipped. Anything else (quotes, comments, groups, lists...) still goes through it.
_ATOM_ADDRESS = r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_PHRASE_WORD = r"[^\s()<>@,:;.\"\[\]\\]+"
_SIMPLE_ADDRESS = re.compile(
    rf"(?P<name>{_PHRASE_WORD}(?: {_PHRASE_WORD})*) ?<(?P<bracketed>{_ATOM_ADDRESS})>|(?P<bare>{_ATOM_ADDRESS})"
)
_WS = re.compile(r"\s+")


def charset_codec(charset: str | None) -> str:
    """A Python codec name for a MIME charset label, ``utf-8`` when unknown."""
    label = (charset or "").strip().strip("\"'").lower()
    if not label:
        return "utf-8"
    label = _CHARSET_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return "utf-8"


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode ``data`` with its declared charset, then utf-8, then cp1252; never raises."""
    codec = charset_codec(charset)
    for candidate in (codec, "utf-8"):
        try:
            return data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    # Mail that claims utf-8 but was written in Windows-1252 is the commonest mislabel in French mail.
    return data.decode("cp1252", "replace")


def header_text(value: object) -> str:
    """A header value as text: RFC 2047 encoded-words decoded, folding removed, raw 8-bit bytes repaired."""
    if value is None:
        return ""
    if type(value) is str and len(value) <= MAX_HEADER_CHARS and _plain(value):
        return value  # the common case: nothing below would change it
    if isinstance(value, Header):
        # compat32 wraps raw 8-bit header bytes in a Header tagged "unknown-8bit": try utf-8, then cp1252.
        try:
            chunks = decode_header(value)
        except (ValueError, LookupError, AssertionError, IndexError):
            chunks = []
        value = "".join(
            decode_bytes(chunk, None if charset in (None, "unknown-8bit") else charset)
            if isinstance(chunk, bytes)
            else chunk
            for chunk, charset in chunks
        )
    text = str(value)[:MAX_HEADER_CHARS]
    if not text.isascii() and any("\udc80" <= ch <= "\udcff" for ch in text):
        # Raw 8-bit header bytes come through as surrogate escapes: recover them as utf-8 (else cp1252).
        raw = text.encode("ascii", "surrogateescape")
        text = decode_bytes(raw, "utf-8")
    if "=?" in text:
        try:
            pieces = []
            for chunk, charset in decode_header(text):
                pieces.append(decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk)
            text = "".join(pieces)
        except (ValueError, LookupError, AssertionError, IndexError):
            pass
    return _WS.sub(" ", text).strip()


def _plain(text: str) -> bool:
    """True when :func:`header_text` would return ``text`` unchanged.

    Printable text has no whitespace but the ASCII space (every other ``\\s`` character is a control or a
    separator, which ``isprintable`` rejects) and, being printable, no surrogate escapes; with no encoded-word
    marker, no double space and no space at either end, the decoding and the whitespace collapse are no-ops.
    """
    return (
        text.isprintable()
        and "=?" not in text
        and "  " not in text
        and not text.startswith(" ")
        and not text.endswith(" ")
    )


def get_header(message: Message, name: str) -> str:
    try:
        return header_text(message.get(name))
    except (TypeError, ValueError, LookupError, AttributeError):
        return ""


def lacks_headers(message: Message, names: frozenset[str]) -> bool:
    """True when ``message`` has none of the headers ``names`` (lower-case): ``get_header`` gives "" for each."""
    if isinstance(message, IndexedMessage):
        return names.isdisjoint(message.header_names())
    return not any(name in message for name in names)


def address_list(message: Message, *names: str) -> tuple[str, ...]:
    """Bare lower-cased addresses from the named headers, in order, without duplicates."""
    values: list[str] = []
    for name in names:
        try:
            values.extend(header_text(v) for v in message.get_all(name) or [])
        except (TypeError, ValueError, LookupError, AttributeError):
            continue
    if not values:
        return ()  # no such header (Cc mostly): ``getaddresses([])`` still runs its tokenizer on ""
    simple = _simple_address(values[0]) if len(values) == 1 else None
    found: dict[str, None] = {}
    for _, address in [simple] if simple is not None else getaddresses(values):
        address = address.strip().strip("<>").lower()
        if "@" in address:
            found[address] = None
    return tuple(found)


def _simple_address(value: str) -> tuple[str, str] | None:
    """``parseaddr(value)`` for a plain "Name <a@b>" / "a@b" value, None for anything else."""
    match = _SIMPLE_ADDRESS.fullmatch(value)
    if match is None:
        return None
    return match["name"] or "", match["bracketed"] or match["bare"]


def sender_of(message: Message) -> tuple[str, str]:
    """(bare lower-cased address, display name) of From, falling back to Sender / Return-Path."""
    for name in ("From", "Sender", "Return-Path", "Reply-To"):
        value = get_header(message, name)
        if not value:
            continue
        display, address = _simple_address(value) or parseaddr(value)
        address = address.strip().strip("<>").lower()
        if "@" in address or name == "From":
            return address, display.strip().strip("\"'")
    return "", ""


def message_ids(value: str) -> tuple[str, ...]:
    """Message-IDs in a header value, without angle brackets; a bare id (no brackets) is accepted too."""
    ids = _MSGID.findall(value)
    if not ids:
        bare = value.strip()
        if bare and "@" in bare and " " not in bare:
            ids = [bare]
    return tuple(dict.fromkeys(ids))


def parse_date(value: str) -> datetime | None:
    """An aware datetime from a Date header; naive ("-0000") dates are taken as UTC; None when unparseable."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def part_text(part: Message) -> str:
    """Decoded text of a leaf part (base64 / quoted-printable / 8bit), tolerant of lying charsets."""
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, TypeError, AssertionError, LookupError):
        payload = None
    if isinstance(payload, bytes):
        return decode_bytes(payload, part.get_content_charset())
    raw = part.get_payload()
    return raw if isinstance(raw, str) else ""


def walk_limited(message: Message) -> list[tuple[Message, int, bool]]:
    """Parts of ``message`` as (part, depth, inside_attached_message), bounded in depth and count."""
    out: list[tuple[Message, int, bool]] = []
    stack: list[tuple[Message, int, bool]] = [(message, 0, False)]
    while stack and len(out) < MAX_PARTS:
        part, depth, attached = stack.pop()
        out.append((part, depth, attached))
        if depth >= MAX_DEPTH:
            continue
        try:
            children = part.get_payload() if part.is_multipart() else None
        except (TypeError, ValueError):
            children = None
        if isinstance(children, list):
            nested = attached or part.get_content_type() in ("message/rfc822", "message/global")
            for child in reversed(children):
                if isinstance(child, Message):
                    stack.append((child, depth + 1, nested))
    return out


def first_text(message: Message, subtype: str) -> str:
    """The first ``text/<subtype>`` body part that is not an attachment nor inside an attached message."""
    for part, _, attached in walk_limited(message):
        if attached or part.get_content_type() != f"text/{subtype}":
            continue
        if part.get_content_disposition() == "attachment":
            continue
        return part_text(part)
    return ""
