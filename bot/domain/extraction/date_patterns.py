"""The date phrases of every lexicon compiled to patterns, each behind a cheap gate.

Built from the ``dates`` section of each lexicon file (months, weekdays, number words, phrase lists). A gate
holds the plain words or characters a pattern cannot match without, so most patterns are never run on most
replies; ``dates.find_dates`` runs the opened ones and resolves what they find.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bot.domain.extraction.anchored import matches_at
from bot.domain.extraction.normalise import fold
from bot.domain.extraction.vocabulary import load_lexicons, on_lexicons_changed


@dataclass(frozen=True)
class Vocab:
    """Every lexicon's date words merged: month, weekday and number words (folded) and the phrase lists."""

    months: dict[str, int]
    weekdays: dict[str, int]
    numbers: dict[str, int]
    phrases: dict[str, tuple[str, ...]]
    next_words: tuple[str, ...]
    last_words: tuple[str, ...]


def _alt(words: Any) -> str:
    items = sorted({str(w) for w in words}, key=len, reverse=True)
    return "|".join(re.escape(w) for w in items) if items else "(?!x)x"


@functools.cache
def vocab() -> Vocab:
    months: dict[str, int] = {}
    weekdays: dict[str, int] = {}
    numbers: dict[str, int] = {}
    phrases: dict[str, list[str]] = {}
    next_words: list[str] = []
    last_words: list[str] = []
    for lex in load_lexicons().values():
        d = lex.get("dates", {})
        months.update({fold(k): int(v) for k, v in d.get("months", {}).items()})
        weekdays.update({fold(k): int(v) for k, v in d.get("weekdays", {}).items()})
        numbers.update({fold(k): int(v) for k, v in d.get("numbers", {}).items()})
        next_words += [fold(w) for w in d.get("next", [])]
        last_words += [fold(w) for w in d.get("last", [])]
        for kind, items in d.get("phrases", {}).items():
            phrases.setdefault(kind, []).extend(fold(p) for p in items)
    return Vocab(
        months,
        weekdays,
        numbers,
        {k: tuple(v) for k, v in phrases.items()},
        tuple(next_words),
        tuple(last_words),
    )


ALPHA_RUN = re.compile(r"[a-z][a-z]*")  # not "[a-z]+": the engine skips to a class, not to a repeat
DIGIT = re.compile(r"\d")
_DIGIT_RUN = re.compile(r"\d\d*")  # finditer: each maximal digit run (a class to skip to, see ALPHA_RUN)
#: Found wherever ``\d\d\d\d-\d`` / ``\d[/.]\d`` is, and only there (see the iso and numeric gates).
ISO_PROBE = re.compile(r"-(?<=\d\d\d\d-)\d")
NUMERIC_PROBE = re.compile(r"[/.](?<=\d[/.])\d")


@dataclass(frozen=True)
class Gate:
    """What a text must hold for a date pattern to have any chance: a cheap test run before the regex.

    Each set in ``words`` must share a word with the text's alphabetic runs (a pattern's words always stand
    whole: they start after a boundary and end before a non-letter); ``digit`` asks for a digit;
    ``literals`` are sets of strings one of which each match contains (a pattern's phrases are literal
    text: testing them with ``in`` runs at memchr speed, where the pattern itself, which starts with a
    look-behind, is tried at every character); ``probe`` is a pattern every match contains a match of,
    searched fast because it starts with a literal or a character class; ``month_text`` asks for a month
    name anywhere (it may be glued to "mi"/"fin" before it). Most sentences hold no date at all, and running
    the 23 patterns over them was most of the extraction's time.

    Once open, :meth:`matches` runs the pattern only from where a match can start: ``at_digit_runs``, every
    match starts a digit run; ``probe_leads``, every match starts with a match of ``probe``.
    """

    words: tuple[frozenset[str], ...] = ()
    digit: bool = False
    month_text: bool = False
    literals: tuple[tuple[str, ...], ...] = ()
    probe: re.Pattern[str] | None = None
    at_digit_runs: bool = False
    probe_leads: bool = False

    def opens(self, t: str, runs: frozenset[str], has_digit: bool, month_text: re.Pattern[str]) -> bool:
        if self.digit and not has_digit:
            return False
        for w in self.words:
            if runs.isdisjoint(w):
                return False
        for options in self.literals:
            for lit in options:
                if lit in t:
                    break
            else:
                return False
        if self.probe is not None and self.probe.search(t) is None:
            return False
        return not self.month_text or month_text.search(t) is not None

    def matches(self, pattern: re.Pattern[str], t: str) -> Iterator[re.Match[str]]:
        """What ``pattern.finditer(t)`` yields, the pattern being tried only where a match can start (its
        look-behind opening leaves the engine nothing to skip to: it would try every character)."""
        if self.at_digit_runs:
            return matches_at(pattern, t, [run.start() for run in _DIGIT_RUN.finditer(t)])
        if self.probe_leads and self.probe is not None:
            # No match starts before the first place the probe matches (the look-behind still sees before it).
            lead = self.probe.search(t)
            return pattern.finditer(t, lead.start()) if lead is not None else iter(())
        return pattern.finditer(t)


def _minimal(phrases: Any) -> tuple[str, ...]:
    """The phrases that contain no other phrase of the set: one of them occurs wherever any phrase does."""
    items = sorted({str(p) for p in phrases}, key=len)
    kept: list[str] = []
    for p in items:
        if not any(k in p for k in kept):
            kept.append(p)
    return tuple(kept)


def _first_runs(phrases: Any) -> frozenset[str]:
    """The first alphabetic run of each phrase ("d'ici a" → "d"); a phrase starting with no letter opens
    always ("" is put in every text's runs)."""
    out: set[str] = set()
    for p in phrases:
        m = ALPHA_RUN.match(str(p))
        out.add(m.group(0) if m else "")
    return frozenset(out)


@functools.cache
def patterns() -> list[tuple[str, re.Pattern[str], Gate]]:
    v = vocab()
    mon, wd = _alt(v.months), _alt(v.weekdays)
    nxt, lst = _alt(v.next_words), _alt(v.last_words)
    num = r"(?P<n>\d{1,3}|" + _alt(v.numbers) + ")"
    ordinal = r"(?:er|st|nd|rd|th|eme|e)?"
    # Boundaries: not inside a word, a date or a decimal number ("the 4,770.25" holds no "the 4").
    b, e = r"(?<![\w/])(?<!\d[.,])", r"(?![\w/]|[.,]\d)"

    def ph(kind: str) -> str:
        return _alt(v.phrases.get(kind, ()))

    # Order matters: earlier patterns win when spans overlap with equal length.
    table = [
        ("iso", rf"{b}(?P<y>\d{{4}})-(?P<m>\d{{1,2}})-(?P<d>\d{{1,2}}){e}"),
        ("numeric", rf"{b}(?P<a>\d{{1,2}})[/.](?P<c>\d{{1,2}})(?:[/.](?P<y>\d{{4}}|\d{{2}}))?{e}(?![.,]\d)"),
        (
            "day_month",
            rf"{b}(?:(?:{wd}),? )?(?:le )?(?P<d>\d{{1,2}}){ordinal}(?: of)? (?P<mon>{mon})\.?"
            rf"(?:,? (?P<y>\d{{4}}))?{e}",
        ),
        (
            "month_day",
            rf"{b}(?:(?:{wd}),? )?(?P<mon>{mon})\.? (?P<d>\d{{1,2}}){ordinal}(?:,? (?P<y>\d{{4}}))?{e}",
        ),
        ("mid_month", rf"{b}(?:{ph('mid')})[ -]?(?P<mon>{mon}){e}"),
        ("month_start", rf"{b}(?:{ph('start')})[ -]?(?P<mon>{mon}){e}"),
        ("named_month_end", rf"{b}(?:{ph('end_of')})[ -]?(?P<mon>{mon}){e}"),
        ("weekday_day", rf"{b}(?P<wd>{wd}) (?:the )?(?P<d>\d{{1,2}}){ordinal}{e}"),
        ("next_weekday", rf"{b}(?:(?:{nxt}) (?P<wd1>{wd})|(?P<wd2>{wd}) (?:{nxt})){e}"),
        ("last_weekday", rf"{b}(?:(?:{lst}) (?P<wd1>{wd})|(?P<wd2>{wd}) (?:{lst})){e}"),
        ("weekday", rf"{b}(?P<wd>{wd}){e}"),
        (
            "day_of_month",
            rf"{b}(?:{ph('day_of_month')}) (?P<d>\d{{1,2}}){ordinal}(?: (?:{ph('of_month')}))?{e}",
        ),
        ("within", rf"{b}(?:{ph('within')}) {num} (?:{ph('days')}){e}"),
        ("within_fixed", rf"{b}(?P<p>{ph('within_fixed')}){e}"),
        ("next_week_end", rf"{b}(?:{ph('next_week_end')}){e}"),
        ("week_end", rf"{b}(?:{ph('week_end')}){e}"),
        ("next_month_end", rf"{b}(?:{ph('next_month_end')}){e}"),
        ("month_end", rf"{b}(?:{ph('month_end')}){e}"),
        ("today", rf"{b}(?:{ph('today')}){e}"),
        ("yesterday", rf"{b}(?:{ph('yesterday')}){e}"),
        ("tomorrow", rf"{b}(?:{ph('tomorrow')}){e}"),
        ("due_date", rf"{b}(?:{ph('due_date')}){e}"),
        ("vague", rf"{b}(?:{ph('vague')}){e}"),
    ]
    months, weekdays = _first_runs(v.months), _first_runs(v.weekdays)

    def words(*kinds: str) -> frozenset[str]:
        return frozenset().union(*(_first_runs(v.phrases.get(k, ())) for k in kinds))

    number_words = _first_runs(v.numbers) | {""}  # the count may be digits

    def lits(*kinds: str) -> tuple[tuple[str, ...], ...]:
        return tuple(_minimal(v.phrases.get(k, ())) for k in kinds)

    # Probes: patterns every match contains a match of, cheap to search (they start with a class or a literal).
    gates = {
        # iso, numeric: the pattern starts on a digit after no word character, so where a digit run starts.
        # Their probes ("\d\d\d\d-\d", "\d[/.]\d") are written separator first, the digits before it checked
        # by a look-behind: the engine then skips to the separator instead of trying every digit.
        "iso": Gate(digit=True, probe=ISO_PROBE, at_digit_runs=True),
        "numeric": Gate(digit=True, probe=NUMERIC_PROBE, at_digit_runs=True),
        "day_month": Gate((months,), digit=True, probe=re.compile(rf"\d{ordinal}(?: of)? ")),
        "month_day": Gate((months,), digit=True, probe=re.compile(r" \d")),
        "mid_month": Gate(month_text=True, literals=lits("mid")),
        "month_start": Gate(month_text=True, literals=lits("start")),
        "named_month_end": Gate(month_text=True, literals=lits("end_of")),
        "weekday_day": Gate((weekdays,), digit=True, probe=re.compile(r" \d")),
        "next_weekday": Gate((weekdays, _first_runs(v.next_words))),
        "last_weekday": Gate((weekdays, _first_runs(v.last_words))),
        "weekday": Gate((weekdays,)),
        # The probe is the pattern's opening: its phrase, a space and the day's first digit.
        "day_of_month": Gate(
            (words("day_of_month"),),
            digit=True,
            probe=re.compile(rf"(?:{ph('day_of_month')}) \d"),
            probe_leads=True,
        ),
        "within": Gate((words("within"), words("days"), number_words), literals=lits("within", "days")),
    }
    return [(kind, re.compile(p), gates.get(kind, Gate((words(kind),), literals=lits(kind)))) for kind, p in table]


@functools.cache
def month_text() -> re.Pattern[str]:
    """Any month name, even inside a word ("midecembre"): one search instead of a test per name."""
    return re.compile(_alt(vocab().months))


on_lexicons_changed(vocab.cache_clear)
on_lexicons_changed(patterns.cache_clear)
on_lexicons_changed(month_text.cache_clear)
