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
        return self.policy.header_fetch_parse(*found[0])

    def get_all(self, name: str, failobj: Any = None) -> Any:
        found = self._header_index().get(name.lower())
        if not found:
            return failobj
        return [self.policy.header_fetch_parse(k, v) for k, v in found]

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._header_index()

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

    def replace_header(self, _name: str, _value: Any) -> None:
        super().replace_header(_name, _value)
        self._index = None  # replaced in place: same list, same length


def message_from_bytes(data: bytes) -> IndexedMessage:
    """Exactly ``email.message_from_bytes(data)`` (compat32 policy), only faster; parts are
    :class:`IndexedMessage`."""
    text = data.decode("ASCII", errors="surrogateescape")
    parser = _FeedParser(IndexedMessage, policy=compat32)
    for start in range(0, len(text), _CHUNK):
        parser.feed(text[start : start + _CHUNK])
    return cast(IndexedMessage, parser.close())
