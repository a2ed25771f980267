"""Compiled form of one language's lexicon file: cue patterns, negation, conditions, typo vocabulary.

Phrase syntax (lexicon files are data; this is their grammar): words are matched on "word text" (folded, every
character other than letters, digits and currency signs turned into a space); ``*`` alone is any one word;
``~`` is a gap of up to 3 words and ``~~`` up to 10; ``stem*`` is any word starting with stem; ``(a|b)``
groups alternatives. A phrase always starts and ends on word boundaries.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from bot.domain.extraction.normalise import fold
from bot.domain.extraction.vocabulary import load_lexicons

_WORD_GAP = {"~": r"(?:\S+ ){0,3}", "~~": r"(?:\S+ ){0,10}"}


class _NonWord(dict[int, str]):
    """str.translate table: letters, digits and currency signs kept, everything else a space (C speed)."""

    def __missing__(self, key: int) -> str:
        ch = chr(key)
        value = ch if ("a" <= ch <= "z" or "0" <= ch <= "9") else (f" {ch} " if ch in "€£$" else " ")
        self[key] = value
        return value


_NON_WORD = _NonWord()


def word_text(folded: str) -> str:
    """Folded text reduced to words separated by single spaces (apostrophes and punctuation become spaces;
    currency signs stand alone so "£416" reads "£ 416")."""
    return " ".join(folded.translate(_NON_WORD).split())


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
    body = body.replace(r"{0,3} ", "{0,3}").replace(r"{0,10} ", "{0,10}")
    return rf"{body}(?![a-z0-9])"


def word_text_keep_syntax(phrase: str) -> str:
    """Fold a phrase but keep the pattern syntax characters."""
    folded = fold(phrase).replace("'", " ").replace("-", " ")
    return re.sub(r"\s+", " ", folded).strip()


def _alternation(phrases: list[str]) -> re.Pattern[str]:
    """One pattern for a cue family, matched on " word word \n word ..." text.

    Every phrase starts after a space, and the space is the pattern's literal prefix: the regex engine then
    jumps from space to space instead of trying every character (10x faster than a look-behind).
    Gaps only cross spaces, never the newline between sentences. The match includes the leading space.
    """
    if not phrases:
        return re.compile(r"(?!x)x")
    return re.compile(" (?:" + "|".join(f"(?:{compile_phrase(p)})" for p in phrases) + ")")


@dataclass(frozen=True)
class Phrase:
    """One compiled phrase and the words that can start it (None: cannot tell, always try it).

    Trying a phrase only when one of its first words occurs in the reply keeps the classifier above a few
    thousand messages a second: most phrases of a cue family cannot match most replies.
    """

    pattern: re.Pattern[str]
    words: frozenset[str] | None
    stems: tuple[str, ...]


def _split_top(expr: str, sep: str) -> list[str]:
    """Split at ``sep`` outside parentheses."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in expr:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


class _Irregular(Exception):
    """A phrase whose first words cannot be listed: it is always tried."""


def _first(expr: str) -> tuple[set[str], bool]:
    """(first words/stems, can be empty) of a phrase expression. Stems end with "*", digits are "#"."""
    expr = re.sub(r"^\(\?<!.*?\)", "", expr.strip())
    while expr.startswith("(?<!"):
        expr = re.sub(r"^\(\?<![^)]*\)", "", expr)
    alternatives = _split_top(expr, "|")
    if len(alternatives) > 1:
        out: set[str] = set()
        nullable = False
        for alt in alternatives:
            words, null = _first(alt)
            out |= words
            nullable |= null
        return out, nullable
    out = set()
    for item in (i for i in _split_top(expr, " ") if i):
        if item in ("~", "~~"):
            raise _Irregular
        optional = False
        if item.startswith("("):
            close = _closing(item)
            words, null = _first(item[1:close])
            suffix = item[close + 1 :]
            if suffix.startswith("?"):
                suffix, null = suffix[1:], True
            if null and suffix:
                more, null = _first(suffix)
                words = words | more
            optional = null
        elif item.startswith("\\d"):
            words = {"#"}
        elif item in ("€", "£", "$", "\\$"):
            words = {item.replace("\\", "")}
        else:
            m = re.match(r"[a-z0-9]+", item)
            if not m:
                raise _Irregular
            lit = m.group(0)
            rest = item[len(lit) :]
            if not rest:
                words = {lit}
            else:
                stem = lit[:-1] if rest[:1] in "?*+{" and rest[:1] != "*" else lit
                if len(stem) < 3:
                    raise _Irregular
                words = {stem[:_MAX_PREFIX] + "*"}
        out |= words
        if not optional:
            return out, False
    return out, True


def _closing(item: str) -> int:
    depth = 0
    for i, ch in enumerate(item):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return i
    raise _Irregular


def _triggers(phrase: str) -> tuple[frozenset[str] | None, tuple[str, ...]]:
    """Words and stems one of which must start any match of ``phrase`` (None when too irregular to tell)."""
    try:
        first, nullable = _first(word_text_keep_syntax(phrase))
    except (_Irregular, ValueError):
        return None, ()
    if nullable or not first:
        return None, ()
    words = frozenset(w for w in first if not w.endswith("*"))
    stems = tuple(w[:-1] for w in first if w.endswith("*"))
    return words, stems


_MAX_PREFIX = 10


def triggered(lexicon: Lexicon, words_text: str) -> dict[str, list[Phrase]]:
    """The phrases, by cue family, that may match a reply: those whose first word or stem occurs in it."""
    found: set[tuple[str, int]] = set(lexicon.always)
    memo = _token_memo(lexicon.language)
    tokens = set(words_text.split())
    if any(t[:1].isdigit() for t in tokens):
        tokens.add("#")
    for t in tokens:
        keys = memo.get(t)
        if keys is None:
            keys = _token_triggers(lexicon, t)
            if len(memo) < 200_000:
                memo[t] = keys
        if keys:
            found.update(keys)
    out: dict[str, list[Phrase]] = {}
    for cue, i in sorted(found):
        out.setdefault(cue, []).append(lexicon.phrases[cue][i])
    return out


@functools.cache
def _token_memo(language: str) -> dict[str, tuple[tuple[str, int], ...]]:
    return {}


def _token_triggers(lexicon: Lexicon, token: str) -> tuple[tuple[str, int], ...]:
    keys = list(lexicon.by_word.get(token, ()))
    for n in range(3, min(len(token), _MAX_PREFIX) + 1):
        keys.extend(lexicon.by_stem.get(token[:n], ()))
    return tuple(keys)


def _phrases(phrases: list[str]) -> tuple[Phrase, ...]:
    out = []
    for p in phrases:
        words, stems = _triggers(p)
        out.append(Phrase(re.compile(" (?:" + compile_phrase(p) + ")"), words, stems))
    return tuple(out)


@dataclass(frozen=True)
class Lexicon:
    """Everything the classifier needs for one language, compiled once."""

    language: str
    stopwords: frozenset[str]
    cues: dict[str, re.Pattern[str]]
    phrases: dict[str, tuple[Phrase, ...]]
    by_word: dict[str, tuple[tuple[str, int], ...]]
    by_stem: dict[str, tuple[tuple[str, int], ...]]
    always: tuple[tuple[str, int], ...]
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
    compiled: dict[str, tuple[Phrase, ...]] = {}
    vocab: set[str] = set()
    for section in ("cues", "flags"):
        for key, phrases in (data.get(section) or {}).items():
            cues[key] = _alternation([str(p) for p in phrases])
            compiled[key] = _phrases([str(p) for p in phrases])
            vocab |= _literal_words([str(p) for p in phrases])
    by_word: dict[str, list[tuple[str, int]]] = {}
    by_stem: dict[str, list[tuple[str, int]]] = {}
    always: list[tuple[str, int]] = []
    for key, items in compiled.items():
        for i, ph in enumerate(items):
            if ph.words is None:
                always.append((key, i))
                continue
            for w in ph.words:
                by_word.setdefault(w, []).append((key, i))
            for st in ph.stems:
                by_stem.setdefault(st, []).append((key, i))
    stop = frozenset(word_text(fold(w)) for w in data.get("stopwords", []))
    return Lexicon(
        language=language,
        stopwords=stop,
        cues=cues,
        phrases=compiled,
        by_word={k: tuple(v) for k, v in by_word.items()},
        by_stem={k: tuple(v) for k, v in by_stem.items()},
        always=tuple(always),
        negators=frozenset(word_text(fold(w)) for w in data.get("negators", [])),
        negation_idioms=_alternation(
            [str(p) for p in data.get("negation_idioms", []) if "..." not in str(p)]
        ),
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
