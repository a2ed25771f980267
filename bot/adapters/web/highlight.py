"""Evidence highlighting: wrap the words a classifier rule matched in ``<mark>``, escaping everything else."""

from __future__ import annotations

import re
from collections.abc import Iterable

from markupsafe import Markup, escape


def _pattern(phrase: str) -> re.Pattern[str] | None:
    words = phrase.split()
    if not words or len(phrase) > 500:
        return None
    # Evidence is stored with whitespace collapsed; the reply may wrap lines anywhere between the words.
    return re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)


def evidence_spans(text: str, phrases: Iterable[str]) -> list[tuple[int, int]]:
    """Merged (start, end) spans of every occurrence of every phrase in ``text``."""
    spans: list[tuple[int, int]] = []
    for phrase in phrases:
        pattern = _pattern(phrase)
        if pattern is None:
            continue
        spans.extend(m.span() for m in pattern.finditer(text) if m.end() > m.start())
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def highlight(text: str, phrases: Iterable[str]) -> Markup:
    """``text`` escaped, with each evidence phrase wrapped in ``<mark>`` (the phrase itself escaped too)."""
    out: list[str] = []
    pos = 0
    for start, end in evidence_spans(text, phrases):
        out.append(str(escape(text[pos:start])))
        out.append(f"<mark>{escape(text[start:end])}</mark>")
        pos = end
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))
