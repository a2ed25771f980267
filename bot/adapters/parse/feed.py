"""``email.message_from_bytes`` (compat32) without its per-multipart regex compilation.

The stdlib feed parser compiles one regular expression per multipart boundary it meets
(``(?P<sep>--<boundary>)(?P<end>--)?(?P<ws>[ \\t]*)(?P<linesep>\\r\\n|\\r|\\n)?$``). Boundaries are unique per
message, so ``re``'s cache never hits: the compilation (~250 µs) cost more than the whole parse of a simple
reply, and most real replies are multipart/alternative. Here the very same stdlib ``_parsegen`` code runs,
with one change: the boundary pattern is matched as "the line starts with the separator" followed by one
shared pre-compiled tail pattern — the same match, the same groups the parser reads (``end``, ``linesep``).
Nothing is patched globally: mail-parser and every other user of ``email`` keep the stdlib as it is.
"""

from __future__ import annotations

import re
import types
from collections.abc import KeysView
from email import feedparser
from email.message import Message
from email.policy import compat32
from typing import Any, cast

#: What follows the separator in the stdlib boundary pattern, compiled once.
_BOUNDARY_TAIL = re.compile(r"(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$")
#: The exact head of the stdlib pattern: ``'(?P<sep>' + re.escape(separator) + _STDLIB_TAIL``.
_STDLIB_HEAD = "(?P<sep>"
_STDLIB_TAIL = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
#: The stdlib reads its input in chunks of this size (``email.parser.Parser.parse``); fed the same way.
_CHUNK = 8192


class _BoundaryMatcher:
    """Stands for the compiled boundary pattern: ``match`` returns a match object with the same groups."""

    __slots__ = ("_separator",)

    def __init__(self, separator: str) -> None:
        self._separator = separator

    def match(self, line: str) -> re.Match[str] | None:
        if not line.startswith(self._separator):
            return None
        # The separator is a literal: after it, the tail must match exactly as it does in the full pattern
        # ("$" still means the end of ``line``).
        return _BOUNDARY_TAIL.match(line, len(self._separator))


class _ReForFeedParser:
    """The ``re`` module as ``_parsegen`` sees it: boundary patterns become :class:`_BoundaryMatcher`."""

    @staticmethod
    def compile(pattern: str, flags: int = 0) -> Any:
        if not flags and pattern.startswith(_STDLIB_HEAD) and pattern.endswith(_STDLIB_TAIL):
            escaped = pattern[len(_STDLIB_HEAD) : -len(_STDLIB_TAIL)]
            separator = _unescape(escaped)
            if separator is not None and re.escape(separator) == escaped:
                return _BoundaryMatcher(separator)
        return re.compile(pattern, flags)

    escape = staticmethod(re.escape)


def _unescape(escaped: str) -> str | None:
    """Invert ``re.escape`` (a backslash before every escaped character); None when it is not its output."""
    out: list[str] = []
    index = 0
    while index < len(escaped):
        char = escaped[index]
        if char == "\\":
            index += 1
            if index >= len(escaped):
                return None
            char = escaped[index]
        out.append(char)
        index += 1
    return "".join(out)


_GLOBALS = dict(vars(feedparser))
_GLOBALS["re"] = _ReForFeedParser
_STDLIB_PARSEGEN = feedparser.FeedParser._parsegen  # type: ignore[attr-defined]
_PARSEGEN = types.FunctionType(
    _STDLIB_PARSEGEN.__code__,
    _GLOBALS,
    _STDLIB_PARSEGEN.__name__,
    _STDLIB_PARSEGEN.__defaults__,
    _STDLIB_PARSEGEN.__closure__,
)


class _FeedParser(feedparser.FeedParser):
    _parsegen = _PARSEGEN


#: A Content-Type value with one parameter, a plain charset: its type holds no ";", quote, backslash nor "=".
_SIMPLE_CHARSET = re.compile(r'[^;"\\=]*;[ \t]*charset=([a-z0-9_.:+-]+)[ \t]*', re.ASCII | re.IGNORECASE)


class IndexedMessage(Message):
    """A compat32 :class:`Message` whose header look-ups go through a name index instead of a scan.

    ``Message.get`` lower-cases every header name on every call, and a parse asks for headers dozens of
    times (ours and the stdlib's own ``get_content_type``/``get_param``...). The index is built on first use
    and rebuilt whenever the header list changes (another list, another length, or ``replace_header``);
    values go through the policy exactly as in ``Message.get``.
    """

    _index: dict[str, list[tuple[str, Any]]] | None = None
    _index_of: list[tuple[str, Any]] | None = None
    _index_len = -1
    _content_type: tuple[object, str, str] | None = None

    def _header_index(self) -> dict[str, list[tuple[str, Any]]]:
        headers: list[tuple[str, Any]] = self._headers  # type: ignore[attr-defined]
        index = self._index
        if index is None or self._index_of is not headers or self._index_len != len(headers):
            index = {}
            for name, value in headers:
                index.setdefault(name.lower(), []).append((name, value))
            self._index, self._index_of, self._index_len = index, headers, len(headers)
        return index

    def get(self, name: str, failobj: Any = None) -> Any:
        found = self._header_index().get(name.lower())
        if not found:
            return failobj
        value = found[0][1]
        if type(value) is str and value.isascii() and self.policy is compat32:
            return value  # compat32.header_fetch_parse returns text without surrogate escapes as it is
        return self.policy.header_fetch_parse(*found[0])

    def get_all(self, name: str, failobj: Any = None) -> Any:
        found = self._header_index().get(name.lower())
        if not found:
            return failobj
        return [self.policy.header_fetch_parse(k, v) for k, v in found]

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._header_index()

    def header_names(self) -> KeysView[str]:
        """The names of the headers present, lower-cased."""
        return self._header_index().keys()

    def get_content_type(self) -> str:
        # Asked for several times per part (ours, get_content_maintype, the stdlib's own get_payload...);
        # it depends only on the headers (the index stands for them) and the default type.
        index, default = self._header_index(), self.get_default_type()
        cached = self._content_type
        if cached is not None and cached[0] is index and cached[1] == default:
            return cached[2]
        content_type = super().get_content_type()
        self._content_type = (index, default, content_type)
        return content_type

    def get_content_charset(self, failobj: Any = None) -> Any:
        # "text/plain; charset=utf-8", the commonest Content-Type, read without the stdlib's parameter parser
        # (a dozen calls): one parameter, unquoted, a plain token, nothing RFC 2231 — the stdlib lower-cases it.
        value = self.get("content-type")
        if type(value) is str:
            simple = _SIMPLE_CHARSET.fullmatch(value)
            if simple is not None:
                return simple[1].lower()
        return super().get_content_charset(failobj)

    def replace_header(self, _name: str, _value: Any) -> None:
        super().replace_header(_name, _value)
        self._index = None  # replaced in place: same list, same length


def message_from_bytes(data: bytes) -> IndexedMessage:
    """Exactly ``email.message_from_bytes(data)`` (compat32 policy), only faster; parts are
    :class:`IndexedMessage`."""
    text = data.decode("ASCII", errors="surrogateescape")
    simple = single_part(data, text)
    if simple is not None:
        return simple
    return _feed_parse(text)


def _feed_parse(text: str) -> IndexedMessage:
    """The stdlib feed parser's way (with the boundary patterns above)."""
    parser = _FeedParser(IndexedMessage, policy=compat32)
    for start in range(0, len(text), _CHUNK):
        parser.feed(text[start : start + _CHUNK])
    return cast(IndexedMessage, parser.close())


#: Content types whose body the feed parser splits further (parts, an attached message, delivery reports).
_NESTED_MAINTYPES = frozenset(("multipart", "message"))
#: A Content-Type line declaring a multipart or message/* type: an early way out only (the type is decided
#: after the scan, exactly as the parser does, whatever this says).
_NESTED_TYPE = re.compile(r"content-type:[ \t]*\"?(?:multipart|message)/", re.IGNORECASE)


def single_part(data: bytes, text: str) -> IndexedMessage | None:
    """What the feed parser makes of ``text`` (``data`` decoded as ASCII with surrogate escapes: the same
    characters at the same offsets) when it is a plain single-part message; None for anything else.

    Most replies are one text part: the headers, a blank line, the body. For them the feed parser's work (a
    line buffer, a generator resumed per line, a throw-away message built to probe the factory) comes down to
    this: the header lines (``headerRE``) up to the first blank line, each header's lines stored as
    ``compat32.header_source_parse`` does, and the rest of the text as the payload. Whatever takes another
    turn in ``_parsegen``/``_parse_headers`` — a missing blank line, a continuation line first, an envelope
    "From " line, a line opening on a colon, a multipart or message/* type — returns None: the caller runs
    the feed parser itself.
    """
    header_re = feedparser.headerRE  # type: ignore[attr-defined]
    headers: list[list[str]] = []
    pos, size = 0, len(text)
    body_start = size
    cr = data.find(b"\r")
    while pos < size:
        # The end of the line as the parser's buffer cuts it ("\r\n", "\r" or "\n"); two memchr-speed
        # finds in the bytes (the text is wide as soon as one byte is not ASCII), where a regex search for the
        # three line ends costs ~80 instructions a character.
        lf = data.find(b"\n", pos)
        if 0 <= cr < pos:
            cr = data.find(b"\r", pos)
        if cr < 0 or (0 <= lf < cr):
            stop = lf  # the line ends at the "\n", or at the end of the text when -1
            end = size if lf < 0 else lf + 1
        else:
            stop = cr
            end = cr + 2 if lf == cr + 1 else cr + 1
        line = text[pos:end]
        if not header_re.match(line):
            if stop != pos:
                return None  # no blank line between headers and body: the parser records a defect
            body_start = end
            break
        first = line[0]
        if first == " " or first == "\t":
            if not headers:
                return None  # a continuation line first: a defect
            headers[-1].append(line)
        elif first == ":" or line.startswith("From "):
            return None  # a nameless header (defect) or an envelope line
        else:
            if (first == "C" or first == "c") and _NESTED_TYPE.match(line):
                return None  # multipart or message/*: known early, before the scan of the remaining headers
            headers.append([line])
        pos = end
    message = IndexedMessage(policy=compat32)
    raw: list[tuple[str, Any]] = message._headers  # type: ignore[attr-defined]
    for lines in headers:
        # compat32.header_source_parse, inlined
        name, value = lines[0].split(":", 1)
        value = value.lstrip(" \t") + "".join(lines[1:]) if len(lines) > 1 else value.lstrip(" \t")
        raw.append((name, value.rstrip("\r\n")))
    if message.get_content_type() == "message/delivery-status" or message.get_content_maintype() in (_NESTED_MAINTYPES):
        return None
    message.set_payload(text[body_start:])
    return message
