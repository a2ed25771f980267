"""Matching a pattern only at the offsets where one of its matches can start.

The extractors' patterns open on a look-behind ("not inside a word or a number"): the regex engine then has no
literal or character class to skip to, and tries the whole pattern at every character of the text. Finding the
few possible starts first (digit runs, currency signs, keywords — with a pattern that does start on a class or
a literal, or with ``str`` methods) and trying the pattern there only gives the same matches for a fraction of
the cost.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator


def matches_at(pattern: re.Pattern[str], text: str, starts: Iterable[int]) -> Iterator[re.Match[str]]:
    """What ``pattern.finditer(text)`` yields, provided every match starts at one of ``starts`` (ascending).

    The pattern is tried at each start in order, skipping those a previous match covers — the leftmost,
    non-overlapping matches ``finditer`` reports. The pattern must not match the empty string.
    """
    pos = 0
    for start in starts:
        if start < pos:
            continue
        found = pattern.match(text, start)
        if found is not None:
            yield found
            pos = found.end()
