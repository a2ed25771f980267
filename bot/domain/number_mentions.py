"""Whether a ledger invoice number is written in a text, the way people write it, whatever the numbering scheme.

"Written" means: the number's letter and digit runs in order, letters in any case, each digit run with or without
its leading zeros, at most one separator (space, ``-``, ``_``, ``/``, ``.``) between two runs, not glued to a
letter or digit before it nor to a digit after it. That is exactly the regular expression
:func:`mention_pattern` builds; compiling one per invoice number cost about 250 µs, more than the rest of the
reply's matching, and a backlog meets each number once. :class:`MentionText` answers the same question with
plain string search over the text prepared once, and falls back to the regular expression for the few inputs
where plain search could differ (four non-ASCII characters that case-insensitive matching equates with ASCII
letters, and digit runs made only of zeros). A property test checks both agree.
"""

from __future__ import annotations

import re
from functools import lru_cache

_RUNS = re.compile(r"[A-Za-z]+|\d+")
#: ``İ``, ``ı``, ``ſ`` and the Kelvin sign match ASCII letters under ``re.IGNORECASE``: plain search would not.
_CASE_FOLDING_LOOKALIKES = ("\u0130", "\u0131", "\u017f", "\u212a")
_SEPARATOR = re.compile(r"[\s\-_/.]")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_DIGITS = frozenset("0123456789")


def mention_pattern(number: str) -> str:
    """The regular expression that defines a mention of ``number`` (use with ``re.IGNORECASE``)."""
    runs = _RUNS.findall(number)
    parts = [re.escape(r) if not r.isdigit() else "0*" + str(int(r)) for r in runs]
    return r"(?<![A-Za-z0-9])" + r"[\s\-_/.]?".join(parts) + r"(?![0-9])"


@lru_cache(maxsize=4_096)
def _compiled(number: str) -> re.Pattern[str]:
    return re.compile(mention_pattern(number), re.IGNORECASE)


@lru_cache(maxsize=65_536)
def _plan(number: str) -> tuple[tuple[bool, str], ...] | None:
    """The number's runs as (is_digits, text to find): upper-cased letters, digits without leading zeros.

    None when plain search cannot decide (no run at all, or a run of zeros only, where the pattern's
    backtracking between two ``0*`` matters).
    """
    runs = _RUNS.findall(number)
    if not runs:
        return None
    plan: list[tuple[bool, str]] = []
    for run in runs:
        if run.isdigit():
            if not run.isascii() or int(run) == 0:
                return None
            plan.append((True, str(int(run))))
        else:
            plan.append((False, run.upper()))
    return tuple(plan)


class MentionText:
    """A text prepared once to be searched for many ledger numbers (one reply, all its client's invoices)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.upper = text.translate(_ASCII_UPPER)  # same length as the text, positions line up
        self.plain = not any(c in text for c in _CASE_FOLDING_LOOKALIKES)

    def mentions(self, number: str) -> bool:
        """True when ``number`` is written in the text (see the module docstring)."""
        plan = _plan(number) if self.plain else None
        if plan is None:
            return _compiled(number).search(self.text) is not None
        first_digits, first = plan[0]
        text, upper = self.text, self.upper
        # Each run must be in the text somewhere for the number to be written there: a client's other numbers
        # (same prefix, other digits) are ruled out without walking every place the prefix is written.
        for _, wanted in plan[1:]:
            if wanted not in upper:
                return False
        index = upper.find(first)
        while index >= 0:
            start = index
            if first_digits:
                while start > 0 and text[start - 1] == "0":
                    start -= 1
            if (start == 0 or text[start - 1] not in _ALNUM) and self._rest_matches(plan, index + len(first)):
                return True
            index = upper.find(first, index + 1)
        return False

    def _rest_matches(self, plan: tuple[tuple[bool, str], ...], position: int) -> bool:
        text, upper, end = self.text, self.upper, len(self.text)
        for digits, wanted in plan[1:]:
            # An optional separator: taking it is the only way on, as no run can start with one.
            if position < end and _SEPARATOR.match(text, position):
                position += 1
            if digits:
                while position < end and text[position] == "0":
                    position += 1
            if not upper.startswith(wanted, position):
                return False
            position += len(wanted)
        return position >= end or text[position] not in _DIGITS
