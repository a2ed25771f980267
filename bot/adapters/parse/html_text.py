"""HTML → plain text for mail bodies that have no text/plain part.

Built on the stdlib ``html.parser`` (no lxml): it never raises on broken markup and runs in linear time.
Quoted
containers (``<blockquote>``, Gmail's ``gmail_quote``, Outlook's ``divRplyFwdMsg`` / ``OLK_SRC_BODY_SECTION``,
Yahoo's ``yahoo_quoted``, Thunderbird's ``moz-cite-prefix``) are rendered with a ``> `` prefix so that
:func:`bot.adapters.parse.quotes.split_reply` finds them like any plain-text quote.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

#: Input beyond this is ignored: an "HTML bomb" (megabytes of nested tags) must not cost more than a normal
#: mail.
MAX_HTML_CHARS = 2_000_000
#: Deeper nesting is flattened (tags still counted, not tracked individually).
MAX_DEPTH = 200

_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "svg", "math", "object", "xml"})
_BLOCK = frozenset(
    {
        "p", "div", "section", "article", "header", "footer", "table", "tr", "ul", "ol", "dl", "dt", "dd",
        "h1", "h2", "h3", "h4", "h5", "h6", "pre", "address", "center", "form", "fieldset", "body", "html",
    }
)  # fmt: skip
_VOID = frozenset(
    {
        "br",
        "hr",
        "img",
        "meta",
        "link",
        "input",
        "area",
        "base",
        "col",
        "embed",
        "param",
        "source",
        "track",
        "wbr",
    }
)
_QUOTE_MARKERS = ("gmail_quote", "yahoo_quoted", "divrplyfwdmsg", "olk_src_body_section", "moz-cite-prefix")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANKS = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self._limit = limit
        self._size = 0
        self._lines: list[str] = []
        self._current: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, opened a quote)
        self._skip_depth = 0
        self._quote_depth = 0
        self._pre_depth = 0
        self.truncated = False

    # -- output helpers -------------------------------------------------------------------------------------
    def _flush(self) -> None:
        text = "".join(self._current)
        self._current = []
        if self._pre_depth == 0:
            text = _SPACES.sub(" ", text).strip()
        prefix = "> " * self._quote_depth if text else ">" * self._quote_depth
        self._push(prefix + text)

    def _push(self, line: str) -> None:
        if self._size >= self._limit:
            self.truncated = True
            return
        self._size += len(line) + 1
        self._lines.append(line)

    def _newline(self) -> None:
        if self._current:
            self._flush()
        elif self._lines and self._lines[-1] != "" and self._quote_depth == 0:
            self._push("")

    # -- parser callbacks -----------------------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip_depth += 1
            return
        if tag == "br":
            self._flush()
            return
        if tag == "hr":
            self._flush()
            self._push("_" * 32)
            return
        if tag in _VOID:
            return
        is_quote = tag == "blockquote" or _has_quote_marker(attrs)
        if tag in _BLOCK or tag in {"li", "blockquote"} or is_quote:
            self._newline()
        if tag == "li":
            self._current.append("- ")
        if tag == "pre":
            self._pre_depth += 1
        if is_quote:
            self._quote_depth += 1
        if len(self._stack) < MAX_DEPTH:
            self._stack.append((tag, is_quote))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if tag in _VOID:
            return
        # Pop up to the matching open tag; unmatched end tags are ignored (broken markup is common).
        for index in range(len(self._stack) - 1, max(-1, len(self._stack) - 50), -1):
            if self._stack[index][0] == tag:
                for _, opened_quote in self._stack[index:]:
                    if opened_quote:
                        if self._current:
                            self._flush()
                        self._quote_depth = max(0, self._quote_depth - 1)
                del self._stack[index:]
                break
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        if tag in _BLOCK or tag in {"li", "blockquote", "td", "th"}:
            if tag in {"td", "th"}:
                self._current.append(" ")
            else:
                self._newline()

    def handle_data(self, data: str) -> None:
        if self._skip_depth or self._size >= self._limit:
            return
        if self._pre_depth:
            lines = data.split("\n")
            for line in lines[:-1]:
                self._current.append(line)
                self._flush()
            self._current.append(lines[-1])
        else:
            self._current.append(data)

    def text(self) -> str:
        if self._current:
            self._flush()
        out = "\n".join(line.rstrip() for line in self._lines)
        return _BLANKS.sub("\n\n", out).strip()


def _has_quote_marker(attrs: list[tuple[str, str | None]]) -> bool:
    for name, value in attrs:
        if value and name in ("class", "id"):
            lowered = value.lower()
            if any(marker in lowered for marker in _QUOTE_MARKERS):
                return True
        if name == "type" and value and value.lower() == "cite":
            return True
    return False


def html_to_text(html: str, *, max_chars: int = 200_000) -> str:
    """Render an HTML mail body as plain text (quotes prefixed with ``> ``), at most ``max_chars`` long."""
    parser = _TextExtractor(max_chars)
    try:
        parser.feed(html[:MAX_HTML_CHARS])
        parser.close()
    except (AssertionError, ValueError, IndexError):  # html.parser can still trip on pathological input
        pass
    return parser.text()[:max_chars]
