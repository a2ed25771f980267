"""Invoice references as debtors write them, whatever the ledger's numbering scheme.

Three shapes, all scheme-agnostic:

* an identifier with a letter prefix: "F2026-00101", "INV-12345", "FA-000123", "FAC2026/0042", "F 2026 129";
* a number led by an invoice word of a lexicon (``references.keywords``: "facture", "inv", "invoice no."),
  then the numbers joined by "et"/"and"/","/"&": "facture 2026/0042", "invoices 312 and 918", "inv #610";
* a short number after an article ("la 728", "the 312") or a zero-padded sequence ("00326").

This module only finds what was written; :mod:`bot.domain.matching` decides which ledger invoice it means
(and the application also looks for the client's own ledger numbers in the text). Other documents — credit
notes, purchase orders, quotes (``references.other_documents``: "AV…", "BC…", "PO…") — units and currencies
("kg250", "EUR 300") and phone numbers are not invoice references. A bare "2026/0042" with no invoice word
before it stays unread: request and order numbers look the same.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bot.domain.extraction.normalise import fold
from bot.domain.extraction.vocabulary import load_lexicons, on_lexicons_changed

# Letters that glue to a number without making it an invoice identifier, in every language.
_UNITS = frozenset(
    "k m g h j l t x cm mm km kg mg ml cl kw kwh eur euro euros usd gbp chf ht ttc tva vat h24 p pp".split()
)
_CURRENCY_AFTER = r"(?:€|eur\b|euros?\b|£|gbp\b|usd\b|\$|k\b|ht\b|ttc\b|%)"
# A number: digits, optionally in groups joined by - / . _ ("2026-00101", "2026/0042").
_BODY = r"\d+(?:[-/]\d+)*"


@dataclass(frozen=True)
class InvoiceRef:
    """One reference as written: ``written`` is the text, ``start``/``end`` its span in the folded text."""

    written: str
    start: int
    end: int
    full: bool  # True when an identifier with its letter prefix was written ("INV-12345"), False for "728"


@dataclass(frozen=True)
class _Patterns:
    prefixed: re.Pattern[str]
    keyword: re.Pattern[str]
    article: re.Pattern[str]
    padded: re.Pattern[str]
    not_prefixes: frozenset[str]
    keywords: frozenset[str]
    article_reach: int  # longest article + its space: how far before the number an article match starts
    weak_keywords: frozenset[str]  # "ref": leads our invoice number or the payer's own reference
    other_context: re.Pattern[str]
    counted: re.Pattern[str]


def _alt(words: Any) -> str:
    items = sorted({fold(str(w)) for w in words if str(w).strip()}, key=len, reverse=True)
    return "|".join(re.escape(w).replace(r"\ ", " ") for w in items) if items else "(?!x)x"


@functools.cache
def _patterns() -> _Patterns:
    keywords: list[str] = []
    markers: list[str] = []
    articles: list[str] = []
    joiners: list[str] = []
    others: list[str] = []
    context: list[str] = []
    weak: list[str] = []
    calendar: set[str] = set()
    stop: set[str] = set()
    for lex in load_lexicons().values():
        refs = lex.get("references", {}) or {}
        keywords += refs.get("keywords", [])
        markers += refs.get("number_markers", [])
        articles += refs.get("articles", [])
        joiners += refs.get("joiners", [])
        others += refs.get("other_documents", [])
        context += refs.get("other_context", [])
        weak += refs.get("other_keywords", [])
        dates = lex.get("dates", {}) or {}
        calendar |= {fold(str(w)) for w in (*dates.get("months", {}), *dates.get("weekdays", {}))}
        stop |= {fold(str(w)) for w in lex.get("stopwords", [])}
    # A letter prefix and a year-sequence ("F2026-00101", "F 2026 129", "FAC2026/0042"), or a prefix glued or
    # joined by - _ / . # to any number ("INV-12345", "FA-000123").
    prefixed = re.compile(
        r"(?<![a-z0-9-])(?P<prefix>[a-z]{1,5})(?:"
        r"(?P<ysep> ?[-_]? ?)(?P<year>20\d\d) ?[-/._]? ?(?P<seq>\d{2,6})"
        rf"|(?P<sep>[-_/.#]?)(?P<body>{_BODY}))(?!\d)(?![-/]\d)"
    )
    one = rf"(?:[a-z]{{1,5}}[-_/.]?)?{_BODY}"
    join = rf"(?: ?, ?| ?& ?| (?:{_alt(joiners)}) )"
    keyword = re.compile(
        rf"(?<![a-z0-9])(?P<kw>{_alt(keywords + weak)})\.?(?: ?(?:{_alt(markers)})\.?)?[ :#-]{{0,3}}"
        rf"(?P<nums>{one}(?:{join}#?{one})*)(?![\d/,.-]\d|\d| ?{_CURRENCY_AFTER})"
    )
    # "la 728", "the 312": a bare sequence after an article. "les 120 portes" counts things instead.
    article = re.compile(
        rf"(?<![a-z0-9])(?:{_alt(articles)}) (?P<num>\d{{3,6}})(?![\d,./-]\d|\d| ?{_CURRENCY_AFTER})"
        r"(?! ?(?:m|mm|cm|m2|kg)\b)"
    )
    # A zero-padded sequence ("we'll clear 00326") is how identifiers are shortened; a phone number is longer.
    padded = re.compile(r"(?<![\w./-])(00\d{3,4})(?![\w/-]|[.,]\d)")
    # A plural noun of five letters or more after the number counts things ("120 portes", "300 units").
    counted = re.compile(r" ([a-z]{3,}[sx])\b")
    return _Patterns(
        prefixed,
        keyword,
        article,
        padded,
        frozenset(fold(str(o)) for o in others) | _UNITS | stop | calendar,
        frozenset(fold(str(k)) for k in keywords + weak),
        max((len(fold(str(a))) + 1 for a in articles), default=0),
        frozenset(fold(str(k)) for k in weak),
        # the last words before an identifier name another kind of number ("ticket", "transfer, reference")
        re.compile(
            rf"(?<![a-z0-9])(?:{_alt(context)})(?![a-z0-9])"
            rf"(?:\W+(?:{_alt(weak + markers)}))?\W*$"
        ),
        counted,
    )


on_lexicons_changed(_patterns.cache_clear)


_DIGIT_RUN = re.compile(r"\d+")


def _near_digits(pattern: re.Pattern[str], t: str, reach: int) -> Iterator[re.Match[str]]:
    """``pattern.finditer(t)`` for a pattern whose matches hold a digit at most ``reach`` characters after
    their start: only the few offsets before each run of digits are tried instead of every character (the
    patterns start with a look-behind, which the regex engine cannot skip through quickly)."""
    pos = 0
    n = len(t)
    while pos < n:
        run = _DIGIT_RUN.search(t, pos)
        if run is None:
            return
        found = None
        for start in range(max(pos, run.start() - reach), run.start() + 1):
            found = pattern.match(t, start)
            if found is not None:
                break
        if found is None:
            pos = run.end()
            continue
        yield found
        pos = found.end()


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


_DATE_LIKE = re.compile(r"\d{1,2}[/.]\d{1,2}(?:[/.]\d{2,4})?|20\d\d-\d\d-\d\d")


def _other_number(p: _Patterns, t: str, start: int) -> bool:
    """Whether the words just before ``start`` (same sentence) name a ticket, transfer, order... number."""
    before = t[max(0, start - 48) : start]
    cut = max(before.rfind(". "), before.rfind("\n"), before.rfind("!"), before.rfind("?"))
    return p.other_context.search(before[cut + 1 :]) is not None


def find_invoice_refs(text: str, *, folded: bool = False) -> list[InvoiceRef]:
    """All invoice references in ``text`` in order of appearance, each once."""
    t = text if folded else fold(text)
    refs: list[InvoiceRef] = []
    if not any(ch in t for ch in "0123456789"):
        return refs  # every reference has a digit; most sentences have none
    p = _patterns()
    spans: list[tuple[int, int]] = []

    def add(written: str, start: int, end: int, full: bool) -> None:
        if any(start < e and s < end for s, e in spans):
            return
        spans.append((start, end))
        refs.append(InvoiceRef(written, start, end, full))

    for m in _near_digits(p.prefixed, t, 8):
        prefix = m.group("prefix")
        if prefix in p.not_prefixes or _other_number(p, t, m.start()):
            continue
        if m.group("year"):
            if " " in m.group("ysep") and prefix in p.keywords:
                continue  # "fact 2026 0042": the keyword pass reads it
            add(f"{prefix.upper()}{m.group('year')}-{m.group('seq')}", m.start(), m.end(), True)
        elif _digits(m.group("body")) >= 3 and not _DATE_LIKE.fullmatch(m.group("body")):
            add(f"{prefix.upper()}{m.group('sep')}{m.group('body')}", m.start(), m.end(), True)
    for m in p.keyword.finditer(t):
        if m.group("kw") in p.weak_keywords and _other_number(p, t, m.start("nums")):
            continue
        nums = m.group("nums")
        for n in re.finditer(rf"(?:(?P<prefix>[a-z]{{1,5}})(?P<sep>[-_/.]?))?(?P<body>{_BODY})", nums):
            start = m.start("nums") + n.start()
            prefix, body = n.group("prefix") or "", n.group("body")
            if prefix in p.not_prefixes or _digits(body) < 3 or _DATE_LIKE.fullmatch(body):
                continue
            written = f"{prefix.upper()}{n.group('sep')}{body}" if prefix else body
            add(written, start, start + len(n.group(0)), bool(prefix))
    for m in _near_digits(p.article, t, p.article_reach):
        after = p.counted.match(t, m.end())
        if after and len(after.group(1)) >= 5 and after.group(1) not in p.not_prefixes:
            continue
        add(m.group("num"), m.start("num"), m.end("num"), False)
    for m in _near_digits(p.padded, t, 0):
        add(m.group(1), m.start(), m.end(), False)
    refs.sort(key=lambda r: r.start)
    seen: set[str] = set()
    unique: list[InvoiceRef] = []
    for r in refs:
        if r.written not in seen:
            seen.add(r.written)
            unique.append(r)
    return unique
