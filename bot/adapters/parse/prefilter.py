"""Exact keyword pre-checks that let a case-insensitive regex be skipped when it cannot match.

Python's ``re`` cannot skip ahead on an ``IGNORECASE`` pattern (it has no literal prefix to look for), so a long
alternation costs about a microsecond per character of text even when nothing matches — which is the usual
case for the auto-reply phrases on a human reply. Every alternative of such a pattern contains one of a few
literal words; when the lower-cased text contains none of them, the pattern cannot match and is not run.

The check is exact, not a heuristic: ``str.lower`` agrees with ``re.IGNORECASE`` on every character except
the three listed in :data:`_UNUSUAL_FOLDS` (``re`` equates "ı", "İ" with "i" and "ſ" with "s"; ``str.lower``
does not), and a text containing one of those always runs the pattern.
"""

from __future__ import annotations

#: Characters that ``re.IGNORECASE`` matches against a keyword letter although ``str.lower`` does not map
#: them onto it (checked over every code point by the tests).
_UNUSUAL_FOLDS = ("İ", "ı", "ſ")


def may_contain(text: str, keywords: tuple[str, ...]) -> bool:
    """False only when ``text`` contains none of ``keywords`` (lower-case) ignoring case as ``re`` does."""
    low = text.lower()
    for keyword in keywords:
        if keyword in low:
            return True
    return not text.isascii() and any(char in text for char in _UNUSUAL_FOLDS)


def may_contain_each(text: str, *groups: tuple[str, ...]) -> list[bool]:
    """``may_contain(text, group)`` for each group, the text lower-cased once."""
    if not text.isascii() and any(char in text for char in _UNUSUAL_FOLDS):
        return [True] * len(groups)
    low = text.lower()
    found: list[bool] = []
    for group in groups:
        for keyword in group:
            if keyword in low:
                found.append(True)
                break
        else:
            found.append(False)
    return found
