"""Sentences and words of a reply, with typo correction against the lexicon vocabulary."""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from bot.domain.classifier.lexicon import Lexicon
from bot.domain.classifier.phrase import word_text

# A sentence ends at . ! ? ; : followed by a space, or at a line break not followed by a lower-case
# continuation. The pattern leaves out at once the marks inside numbers, dates and times ("1.234,56", "15.12",
# "10:30") and the line breaks before an ASCII lower-case letter, which the loop below would skip anyway; it
# opens on a character class so that the regex engine skips to the candidates (an alternation whose branches
# open on classes would be tried at every character).
_BOUNDARY = re.compile(r"[.!?;:\n](?:(?<=\n)(?![ \t]{0,38}[a-z])|(?<!\n)(?=\s|\Z))")
_ABBREVIATION = re.compile(r"(?:^|\W)(?:fact|no|n°|ref|inv|mr|mme|me|dr|st|cf|tel|env|p\.ex)$")


class Sentence(NamedTuple):
    """One sentence of a reply (a tuple: built several times per reply, where a frozen dataclass costs a
    ``object.__setattr__`` per field)."""

    start: int  # span in the folded text
    end: int
    words: str  # word text (refs replaced by "zref", typos corrected)
    corrected: frozenset[str]  # words that were typo-corrected


def split_sentences(folded: str) -> list[tuple[int, int]]:
    """Spans of the sentences of a folded text (empty ones skipped)."""
    spans: list[tuple[int, int]] = []
    pos = 0
    n = len(folded)
    for m in _BOUNDARY.finditer(folded):
        i = m.start()
        nxt = folded[i + 1] if i + 1 < n else " "
        if folded[i] == "\n":
            rest = folded[i + 1 : i + 40].lstrip(" \t")
            if rest[:1].islower() and not rest.startswith("\n"):
                continue  # a wrapped line: the sentence goes on
        elif not nxt.isspace() or _ABBREVIATION.search(folded[max(0, i - 6) : i]):
            continue
        if folded[pos:i].strip():
            spans.append((pos, i + 1))
        pos = i + 1
    if folded[pos:].strip():
        spans.append((pos, len(folded)))
    return spans


@functools.lru_cache(maxsize=65536)
def _correct(word: str, vocabulary: tuple[str, ...]) -> str | None:
    """The lexicon word a misspelt word stands for, or None.

    Only words of five letters or more are corrected, within one edit (two from nine letters), keeping the
    first
    letter: short words collide too easily ("said" is one edit from "paid").
    """
    limit = 2 if len(word) >= 9 else 1
    candidates = [v for v in _by_initial(vocabulary).get(word[0], ()) if abs(len(v) - len(word)) <= limit]
    if not candidates:
        return None
    best = process.extractOne(word, candidates, scorer=Levenshtein.distance, score_cutoff=limit)
    return str(best[0]) if best else None


def sentence_words(folded_sentence: str, lexicon: Lexicon, ref_spans: list[tuple[int, int]]) -> Sentence:
    """Word text of one folded sentence (offsets relative to it) with refs as "zref" and typos corrected."""
    text = folded_sentence
    if ref_spans:
        for s, e in sorted(ref_spans, reverse=True):
            text = text[:s] + " zref " + text[e:]
    joined = word_text(text)
    words = joined.split(" ")
    fixes = lexicon.corrections
    kept = lexicon.kept_words
    local: dict[str, str] = {}  # corrections that no longer fit in the lexicon's memo
    # Set operations in C decide the common case (every word already known to stand as written).
    for w in () if kept.issuperset(words) else set(words).difference(kept):
        if w in fixes:
            continue
        fixed = w
        if len(w) >= 5 and w.isalpha() and w not in lexicon.stopwords and w not in _vocab_set(lexicon.vocabulary):
            fixed = _correct(w, lexicon.vocabulary) or w
        if fixed != w:
            (fixes if len(fixes) < 100_000 else local)[w] = fixed
        elif len(kept) < 100_000:
            kept.add(w)
    if not local and fixes.keys().isdisjoint(words):
        return Sentence(0, len(folded_sentence), joined, frozenset())
    out = [local.get(w) or fixes.get(w, w) for w in words]
    corrected = frozenset(f for w, f in zip(words, out, strict=True) if f != w)
    return Sentence(0, len(folded_sentence), " ".join(out), corrected)


@functools.cache
def _by_initial(vocabulary: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """The vocabulary's words by first letter, each list in vocabulary order."""
    index: dict[str, list[str]] = {}
    for v in vocabulary:
        index.setdefault(v[0], []).append(v)
    return {k: tuple(v) for k, v in index.items()}


@functools.cache
def _vocab_set(vocabulary: tuple[str, ...]) -> frozenset[str]:
    return frozenset(vocabulary)
