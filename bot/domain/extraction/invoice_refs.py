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

from bot.domain.extraction.anchored import matches_at
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
    articles: frozenset[str]  # the articles as the article pattern reads them
    article_lengths: tuple[int, ...]  # their lengths, longest first
    weak_keywords: frozenset[str]  # "ref": leads our invoice number or the payer's own reference
    other_context: re.Pattern[str]
    counted: re.Pattern[str]
    keyword_starts: re.Pattern[str] | None  # literals every keyword starts with (None: search the pattern)


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
    article_words = {fold(str(a)) for a in articles if str(a).strip()}
    # "la 728", "the 312": a bare sequence after an article. "les 120 portes" counts things instead.
    article = re.compile(
        rf"(?<![a-z0-9])(?:{_alt(articles)}) (?P<num>\d{{3,6}})(?![\d,./-]\d|\d| ?{_CURRENCY_AFTER})"
        r"(?! ?(?:m|mm|cm|m2|kg)\b)"
    )
    # A zero-padded sequence ("we'll clear 00326") is how identifiers are shortened; a phone number is longer.
    padded = re.compile(r"(?<![\w./-])(00\d{3,4})(?![\w/-]|[.,]\d)")
    # A plural noun of five letters or more after the number counts things ("120 portes", "300 units").
    counted = re.compile(r" ([a-z]{3,}[sx])\b")
    # Every keyword match starts with one of these literals, found at memchr-like speed where the keyword
    # pattern (which opens on a look-behind) is tried at every character. The scan does not report a literal
    # overlapping an earlier one; that one would follow a letter or digit, where no keyword match starts — true
    # only of literals made of [a-z0-9], so other ones fall back to the pattern's own search.
    starts = _shortest_prefixes(fold(str(k)) for k in keywords + weak if str(k).strip())
    keyword_starts = re.compile(_alt(starts)) if all(_ALNUM.fullmatch(w) for w in starts) else None
    return _Patterns(
        prefixed,
        keyword,
        article,
        padded,
        frozenset(fold(str(o)) for o in others) | _UNITS | stop | calendar,
        frozenset(fold(str(k)) for k in keywords + weak),
        frozenset(article_words),
        tuple(sorted({len(a) for a in article_words}, reverse=True)),
        frozenset(fold(str(k)) for k in weak),
        # the last words before an identifier name another kind of number ("ticket", "transfer, reference")
        re.compile(
            rf"(?<![a-z0-9])(?:{_alt(context)})(?![a-z0-9])"
            rf"(?:\W+(?:{_alt(weak + markers)}))?\W*$"
        ),
        counted,
        keyword_starts,
    )


_ALNUM = re.compile(r"[a-z0-9]+")


def _shortest_prefixes(words: Iterator[str]) -> list[str]:
    """The words of which no other word is a prefix: any word starts with one of them."""
    kept: list[str] = []
    for w in sorted(set(words), key=len):
        if not any(w.startswith(k) for k in kept):
            kept.append(w)
    return kept


on_lexicons_changed(_patterns.cache_clear)


_ZEROS = re.compile("00")
_SPACED_NUMBER = re.compile(r" \d{3,6}(?!\d)")
# On the reversed text: a digit run's first digit, up to three separators, then a whole word of one to five
# letters not glued to a digit or a hyphen — the only place a prefixed identifier ("INV-12345", "F 2026 129")
# can start (see _prefixed_starts).
_PREFIX_BEFORE_DIGITS = re.compile(r"\d[ \-_/.#]{0,3}[a-z]{1,5}(?![a-z0-9-])")


def _prefixed_starts(t: str) -> list[int]:
    """Where a prefixed identifier may start: a word of one to five letters, preceded by neither a letter, a
    digit nor a hyphen, and followed by at most three of " -_/.#" then a digit (what the ``prefixed`` pattern
    requires). Searched on the reversed text, where the digit comes first and the scan jumps from digit to
    digit."""
    n = len(t)
    return sorted(n - m.end() for m in _PREFIX_BEFORE_DIGITS.finditer(t[::-1]))


def _keyword_matches(p: _Patterns, t: str) -> Iterator[re.Match[str]]:
    """``p.keyword.finditer(t)``, tried only where a keyword's first letters stand."""
    if p.keyword_starts is None:
        return p.keyword.finditer(t)
    return matches_at(p.keyword, t, [k.start() for k in p.keyword_starts.finditer(t)])


def _article_starts(p: _Patterns, t: str) -> list[int]:
    """Where "la 728" / "the 312" may start: an article, one space, then a run of three to six digits."""
    starts: list[int] = []
    for run in _SPACED_NUMBER.finditer(t):
        end = run.start()  # the space before the digits
        for length in p.article_lengths:
            if end >= length and t[end - length : end] in p.articles:
                starts.append(end - length)
    return starts


def _digits(body: str) -> int:
    """Digits in a number matched by ``_BODY`` (digits joined by "-" and "/")."""
    return len(body) - body.count("-") - body.count("/")


_ONE_NUMBER = re.compile(rf"(?:(?P<prefix>[a-z]{{1,5}})(?P<sep>[-_/.]?))?(?P<body>{_BODY})")
_DATE_LIKE = re.compile(r"\d{1,2}[/.]\d{1,2}(?:[/.]\d{2,4})?|20\d\d-\d\d-\d\d")


def _other_number(p: _Patterns, t: str, start: int) -> bool:
    """Whether the words just before ``start`` (same sentence) name a ticket, transfer, order... number."""
    before = t[max(0, start - 48) : start]
    cut = max(before.rfind(". "), before.rfind("\n"), before.rfind("!"), before.rfind("?"))
    return p.other_context.search(before[cut + 1 :]) is not None


#: The last text searched and what was found in it. A reply's new text is searched twice in a row: by the
#: classifier (folded) and by the reply matcher (as parsed, folded here to the same string), a tenth of reading
#: a reply. One entry only: nothing accumulates, and a tuple swapped whole is safe between threads.
_last: tuple[str, tuple[InvoiceRef, ...]] = ("", ())


def _forget_last() -> None:
    global _last
    _last = ("", ())


on_lexicons_changed(_forget_last)


def find_invoice_refs(text: str, *, folded: bool = False) -> list[InvoiceRef]:
    """All invoice references in ``text`` in order of appearance, each once."""
    global _last
    t = text if folded else fold(text)
    if not any(ch in t for ch in "0123456789"):
        return []  # every reference has a digit; most sentences have none
    last_text, last_refs = _last
    if t == last_text:
        return list(last_refs)
    found = _find(t)
    _last = (t, tuple(found))
    return found


def _find(t: str) -> list[InvoiceRef]:
    refs: list[InvoiceRef] = []
    p = _patterns()
    spans: list[tuple[int, int]] = []

    def add(written: str, start: int, end: int, full: bool) -> None:
        if any(start < e and s < end for s, e in spans):
            return
        spans.append((start, end))
        refs.append(InvoiceRef(written, start, end, full))

    for m in matches_at(p.prefixed, t, _prefixed_starts(t)):
        prefix = m.group("prefix")
        if prefix in p.not_prefixes or _other_number(p, t, m.start()):
            continue
        if m.group("year"):
            if " " in m.group("ysep") and prefix in p.keywords:
                continue  # "fact 2026 0042": the keyword pass reads it
            add(f"{prefix.upper()}{m.group('year')}-{m.group('seq')}", m.start(), m.end(), True)
        elif _digits(m.group("body")) >= 3 and not _DATE_LIKE.fullmatch(m.group("body")):
            add(f"{prefix.upper()}{m.group('sep')}{m.group('body')}", m.start(), m.end(), True)
    for m in _keyword_matches(p, t):
        if m.group("kw") in p.weak_keywords and _other_number(p, t, m.start("nums")):
            continue
        nums = m.group("nums")
        for n in _ONE_NUMBER.finditer(nums):
            start = m.start("nums") + n.start()
            prefix, body = n.group("prefix") or "", n.group("body")
            if prefix in p.not_prefixes or _digits(body) < 3 or _DATE_LIKE.fullmatch(body):
                continue
            written = f"{prefix.upper()}{n.group('sep')}{body}" if prefix else body
            add(written, start, start + len(n.group(0)), bool(prefix))
    for m in matches_at(p.article, t, _article_starts(p, t)):
        after = p.counted.match(t, m.end())
        if after and len(after.group(1)) >= 5 and after.group(1) not in p.not_prefixes:
            continue
        add(m.group("num"), m.start("num"), m.end("num"), False)
    if "00" in t:
        # "00326": a zero-padded sequence starts a digit run with "00" (never inside another "00" match)
        for m in matches_at(p.padded, t, [z.start() for z in _ZEROS.finditer(t)]):
            add(m.group(1), m.start(), m.end(), False)
    refs.sort(key=lambda r: r.start)
    seen: set[str] = set()
    unique: list[InvoiceRef] = []
    for r in refs:
        if r.written not in seen:
            seen.add(r.written)
            unique.append(r)
    return unique
