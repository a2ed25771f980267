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
import re
from dataclasses import dataclass
from datetime import date, timedelta

from bot.domain.extraction.date_patterns import ALPHA_RUN, DIGIT, month_text, patterns, vocab
from bot.domain.extraction.normalise import fold


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
    v = vocab()
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
    runs = frozenset(ALPHA_RUN.findall(t)) | {""}
    has_digit = DIGIT.search(t) is not None
    months = month_text()
    for prio, (kind, pattern, gate) in enumerate(patterns()):
        if not gate.opens(t, runs, has_digit, months):
            continue
        for m in gate.matches(pattern, t):
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
