"""Compiled form of one language's lexicon file: cue patterns, negation, conditions, typo vocabulary.

Phrase syntax (lexicon files are data; this is their grammar): words are matched on "word text" (folded, every
character other than letters, digits and currency signs turned into a space); ``*`` alone is any one word;
``~`` is a gap of up to 3 words and ``~~`` up to 8; ``stem*`` is any word starting with stem; ``(a|b)``
groups alternatives. A phrase always starts and ends on word boundaries.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from bot.domain.extraction.normalise import fold
from bot.domain.extraction.vocabulary import load_lexicons

_WORD_GAP = {"~": r"(?:\S+ ){0,3}", "~~": r"(?:\S+ ){0,8}"}
_NON_WORD = re.compile(r"[^a-z0-9€£$]+")


def word_text(folded: str) -> str:
    """Folded text reduced to words separated by single spaces (apostrophes and punctuation become spaces)."""
    return _NON_WORD.sub(" ", folded).strip()


def compile_phrase(phrase: str) -> str:
    """Translate one lexicon phrase into a regular expression over word text."""
    phrase = word_text_keep_syntax(phrase)
    parts: list[str] = []
    for token in phrase.split(" "):
        if not token:
            continue
        if token in _WORD_GAP:
            parts.append(_WORD_GAP[token])
            continue
        if token == "*":
            parts.append(r"\S+ ")
            continue
        token = re.sub(r"(?<=[a-z0-9])\*", r"\\w*", token)
        parts.append(token + " ")
    body = "".join(parts).rstrip(" ")
    # gaps already end with a space; avoid doubled spaces after them
    body = body.replace(r"{0,3} ", "{0,3}").replace(r"{0,8} ", "{0,8}")
    return rf"(?<![a-z0-9]){body}(?![a-z0-9])"


def word_text_keep_syntax(phrase: str) -> str:
    """Fold a phrase but keep the pattern syntax characters."""
    folded = fold(phrase).replace("'", " ").replace("-", " ")
    return re.sub(r"\s+", " ", folded).strip()


def _alternation(phrases: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{compile_phrase(p)})" for p in phrases)) if phrases else re.compile(r"(?!x)x")


@dataclass(frozen=True)
class Lexicon:
    """Everything the classifier needs for one language, compiled once."""

    language: str
    stopwords: frozenset[str]
    cues: dict[str, re.Pattern[str]]
    negators: frozenset[str]
    negation_idioms: re.Pattern[str]
    conditions: re.Pattern[str]
    condition_exclusions: re.Pattern[str]
    firm_deadline: re.Pattern[str]
    vocabulary: tuple[str, ...]


def _literal_words(phrases: list[str]) -> set[str]:
    words: set[str] = set()
    for p in phrases:
        for w in re.findall(r"[a-z]+(?![a-z]*\*)", word_text_keep_syntax(p)):
            if len(w) >= 5:
                words.add(w)
    return words


def _build(language: str, data: dict[str, Any]) -> Lexicon:
    cues: dict[str, re.Pattern[str]] = {}
    vocab: set[str] = set()
    for section in ("cues", "flags"):
        for key, phrases in (data.get(section) or {}).items():
            cues[key] = _alternation([str(p) for p in phrases])
            vocab |= _literal_words([str(p) for p in phrases])
    stop = frozenset(word_text(fold(w)) for w in data.get("stopwords", []))
    return Lexicon(
        language=language,
        stopwords=stop,
        cues=cues,
        negators=frozenset(word_text(fold(w)) for w in data.get("negators", [])),
        negation_idioms=_alternation([str(p) for p in data.get("negation_idioms", []) if "..." not in str(p)]),
        conditions=_alternation([str(p) for p in data.get("conditions", [])]),
        condition_exclusions=_alternation([str(p) for p in data.get("condition_exclusions", [])]),
        firm_deadline=_alternation([str(p) for p in data.get("firm_deadline", [])]),
        vocabulary=tuple(sorted(vocab - stop)),
    )


@functools.cache
def get_lexicon(language: str) -> Lexicon:
    """The compiled lexicon for ``language`` (KeyError when no file exists for it)."""
    return _build(language, load_lexicons()[language])


def available_languages() -> tuple[str, ...]:
    return tuple(load_lexicons())
