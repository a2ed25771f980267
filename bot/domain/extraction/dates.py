"""Dates in debtors' replies, resolved against the day the reply was sent.

dateparser returns nothing for most of what debtors write ("vendredi prochain", "fin du mois", "sous
huitaine",
"EOM") and costs ~0.3 ms a call, so the phrases are rules of our own, built from the ``dates`` section of each
lexicon file. Every mention keeps two readings because a bare weekday means the next one in a promise ("we pay
Friday") and the previous one in a payment claim ("posted Monday"); the caller picks by context.

Resolution rules (corpus/replies/README.md): "next Friday" = first such weekday strictly after the sent day;
"last Thursday" / a bare past weekday = most recent strictly before; "fin du mois"/"EOM" = last day of the
month;
"sous 10 jours" = sent + 10; "mi-décembre" = the 15th; "le 15/12" = day/month (month/day when ``us_dates``);
"the 30th" = that day of the current month; "end of the week" = that week's Friday; "ce matin" = the sent day;
"hier" = the day before; "début novembre", "next week" are vague (no commitment date).
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from bot.domain.extraction.normalise import fold
from bot.domain.extraction.vocabulary import load_lexicons, on_lexicons_changed


@dataclass(frozen=True)
class DateMention:
    """A date phrase found in folded text with its readings as a future and as a past date."""

    start: int
    end: int
    text: str
    kind: str
    future: date | None
    past: date | None
    vague: bool = False


@dataclass(frozen=True)
class _Vocab:
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
def _vocab() -> _Vocab:
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
    return _Vocab(
        months,
        weekdays,
        numbers,
        {k: tuple(v) for k, v in phrases.items()},
        tuple(next_words),
        tuple(last_words),
    )


_ALPHA_RUN = re.compile(r"[a-z][a-z]*")  # not "[a-z]+": the engine skips to a class, not to a repeat
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class _Gate:
    """What a text must hold for a date pattern to have any chance: a cheap test run before the regex.

    Each set in ``words`` must share a word with the text's alphabetic runs (a pattern's words always stand
    whole: they start after a boundary and end before a non-letter); ``digit`` asks for a digit;
    ``literals`` are sets of strings one of which each match contains (a pattern's phrases are literal
    text: testing them with ``in`` runs at memchr speed, where the pattern itself, which starts with a
    look-behind, is tried at every character); ``probe`` is a pattern every match contains a match of,
    searched fast because it starts with a literal or a character class; ``month_text`` asks for a month
    name anywhere (it may be glued to "mi"/"fin" before it). Most sentences hold no date at all, and running
    the 23 patterns over them was most of the extraction's time.
    """

    words: tuple[frozenset[str], ...] = ()
    digit: bool = False
    month_text: bool = False
    literals: tuple[tuple[str, ...], ...] = ()
    probe: re.Pattern[str] | None = None

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
        m = _ALPHA_RUN.match(str(p))
        out.add(m.group(0) if m else "")
    return frozenset(out)


@functools.cache
def _patterns() -> list[tuple[str, re.Pattern[str], _Gate]]:
    v = _vocab()
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
        "iso": _Gate(digit=True, probe=re.compile(r"\d\d\d\d-\d")),
        "numeric": _Gate(digit=True, probe=re.compile(r"\d[/.]\d")),
        "day_month": _Gate((months,), digit=True, probe=re.compile(rf"\d{ordinal}(?: of)? ")),
        "month_day": _Gate((months,), digit=True, probe=re.compile(r" \d")),
        "mid_month": _Gate(month_text=True, literals=lits("mid")),
        "month_start": _Gate(month_text=True, literals=lits("start")),
        "named_month_end": _Gate(month_text=True, literals=lits("end_of")),
        "weekday_day": _Gate((weekdays,), digit=True, probe=re.compile(r" \d")),
        "next_weekday": _Gate((weekdays, _first_runs(v.next_words))),
        "last_weekday": _Gate((weekdays, _first_runs(v.last_words))),
        "weekday": _Gate((weekdays,)),
        "day_of_month": _Gate((words("day_of_month"),), digit=True, probe=re.compile(rf"(?:{ph('day_of_month')}) \d")),
        "within": _Gate((words("within"), words("days"), number_words), literals=lits("within", "days")),
    }
    return [(kind, re.compile(p), gates.get(kind, _Gate((words(kind),), literals=lits(kind)))) for kind, p in table]


@functools.cache
def _month_text() -> re.Pattern[str]:
    """Any month name, even inside a word ("midecembre"): one search instead of a test per name."""
    return re.compile(_alt(_vocab().months))


on_lexicons_changed(_vocab.cache_clear)
on_lexicons_changed(_patterns.cache_clear)
on_lexicons_changed(_month_text.cache_clear)


def _safe_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _near_year(m: int, d: int, sent: date) -> date | None:
    """The (month, day) closest to the sent day: December written in January is last year, and vice versa."""
    best: date | None = None
    for y in (sent.year - 1, sent.year, sent.year + 1):
        cand = _safe_date(y, m, d)
        if cand and (best is None or abs((cand - sent).days) < abs((best - sent).days)):
            best = cand
    return best


def _month_end(y: int, m: int) -> date:
    return date(y, m, calendar.monthrange(y, m)[1])


def _next_weekday(sent: date, wd: int) -> date:
    return sent + timedelta(days=(wd - sent.weekday() - 1) % 7 + 1)


def _last_weekday(sent: date, wd: int) -> date:
    return sent - timedelta(days=(sent.weekday() - wd - 1) % 7 + 1)


def _resolve(kind: str, m: re.Match[str], sent: date, us_dates: bool) -> tuple[date | None, date | None, bool]:
    """(future reading, past reading, vague) for one match."""
    v = _vocab()
    g = m.groupdict()
    if kind == "iso":
        d0 = _safe_date(int(g["y"]), int(g["m"]), int(g["d"]))
        return d0, d0, False
    if kind == "numeric":
        a, c = int(g["a"]), int(g["c"])
        day, month = (c, a) if us_dates else (a, c)
        year = g.get("y")
        if year:
            yy = int(year) + (2000 if len(year) == 2 else 0)
            d0 = _safe_date(yy, month, day)
            return d0, d0, False
        d0 = _near_year(month, day, sent)
        future = d0
        if not us_dates and a <= 12 and (d0 is None or d0 < sent):
            # "10/9" promised on 2 October cannot mean 10 September: an American writer meant 9 October.
            alt = _near_year(a, c, sent)
            if alt is not None and alt >= sent:
                future = alt
        return future, d0, False
    if kind in ("day_month", "month_day"):
        month = v.months[g["mon"]]
        if g.get("y"):
            d0 = _safe_date(int(g["y"]), month, int(g["d"]))
            return d0, d0, False
        d0 = _near_year(month, int(g["d"]), sent)
        return d0, d0, False
    if kind in ("mid_month", "month_start", "named_month_end"):
        month = v.months[g["mon"]]
        first = _near_year(month, 1, sent) or sent
        if kind == "mid_month":
            return first.replace(day=15), None, False
        if kind == "month_start":
            return first, None, True
        return _month_end(first.year, month), None, False
    if kind == "weekday_day" or kind == "day_of_month":
        day = int(g["d"])
        this = _safe_date(sent.year, sent.month, day)
        nm = _month_end(sent.year, sent.month) + timedelta(days=1)
        future = this if this and this >= sent else _safe_date(nm.year, nm.month, day)
        prev = sent.replace(day=1) - timedelta(days=1)
        past = this if this and this <= sent else _safe_date(prev.year, prev.month, day)
        return future, past, False
    if kind in ("next_weekday", "last_weekday", "weekday"):
        wd = v.weekdays[g.get("wd") or g.get("wd1") or g.get("wd2") or ""]
        if kind == "next_weekday":
            return _next_weekday(sent, wd), None, False
        if kind == "last_weekday":
            return None, _last_weekday(sent, wd), False
        return _next_weekday(sent, wd), _last_weekday(sent, wd), False
    if kind == "within":
        n = g["n"]
        days = int(n) if n.isdigit() else v.numbers[n]
        return sent + timedelta(days=days), None, False
    if kind == "within_fixed":
        return sent + timedelta(days=v.numbers.get(g["p"], 8)), None, False
    if kind in ("week_end", "next_week_end"):
        friday = sent + timedelta(days=(4 - sent.weekday()) % 7)
        if kind == "next_week_end":
            friday = sent + timedelta(days=7 - sent.weekday() + 4)
        return friday, None, False
    if kind == "month_end":
        return _month_end(sent.year, sent.month), None, False
    if kind == "next_month_end":
        nm = _month_end(sent.year, sent.month) + timedelta(days=1)
        return _month_end(nm.year, nm.month), None, False
    if kind == "today":
        return sent, sent, False
    if kind == "yesterday":
        return None, sent - timedelta(days=1), False
    if kind == "tomorrow":
        return sent + timedelta(days=1), None, False
    return None, None, True  # due_date (needs the ledger) and vague phrases


def find_dates(text: str, sent: date, *, us_dates: bool = False, folded: bool = False) -> list[DateMention]:
    """Every date phrase in ``text``, longest match first on overlaps, in order of appearance."""
    t = text if folded else fold(text)
    candidates: list[tuple[int, int, int, str, re.Match[str]]] = []
    runs = frozenset(_ALPHA_RUN.findall(t)) | {""}
    has_digit = _DIGIT.search(t) is not None
    month_text = _month_text()
    for prio, (kind, pattern, gate) in enumerate(_patterns()):
        if not gate.opens(t, runs, has_digit, month_text):
            continue
        for m in pattern.finditer(t):
            candidates.append((m.start(), m.end(), prio, kind, m))
    candidates.sort(key=lambda c: (-(c[1] - c[0]), c[2]))
    taken: list[tuple[int, int]] = []
    mentions: list[DateMention] = []
    for start, end, _prio, kind, m in candidates:
        if any(start < te and ts < end for ts, te in taken):
            continue
        try:
            future, past, vague = _resolve(kind, m, sent, us_dates)
        except (KeyError, ValueError, OverflowError):
            continue
        if future is None and past is None and kind not in ("due_date", "vague"):
            continue
        taken.append((start, end))
        mentions.append(DateMention(start, end, m.group(0), kind, future, past, vague))
    mentions.sort(key=lambda d: d.start)
    return mentions
