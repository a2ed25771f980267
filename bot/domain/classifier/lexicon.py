"""Compiled form of one language's lexicon file: cue patterns, negation, conditions, typo vocabulary, and
where in a reply each cue's phrases may start. The phrase grammar is ``phrase.py``'s.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from bot.domain.classifier.phrase import (
    MAX_PREFIX,
    Phrase,
    alternation,
    compiled_phrases,
    literal_words,
    word_text,
)
from bot.domain.extraction.normalise import fold
from bot.domain.extraction.vocabulary import load_lexicons, on_lexicons_changed


def trigger_positions(lexicon: Lexicon, words_text: str) -> dict[str, list[tuple[int, int, int]]]:
    """Where the phrases of each cue family may start in ``words_text`` (" word word \\n word ..." lines).

    Values are (offset of the space before the trigger word, phrase index, line index), sorted. A phrase is
    tried only at the words that can start it instead of being searched through the whole reply: most
    phrases cannot match most replies, and a regex anchored at a known offset costs a fraction of a scan.
    Phrases whose first word cannot be told (``lexicon.always_by_cue``) are not listed here.
    """
    memo = lexicon.token_memo
    inert = lexicon.inert_tokens
    tokens = words_text.split(" ")
    present = set(tokens)
    present.discard("")
    present.discard("\n")
    disjoint = present.isdisjoint
    # Phrases each word of this reply may start, keeping those whose needed words the reply holds. Most
    # words start no phrase: a set difference in C drops those already seen, and only the others are looked
    # at, once per distinct word.
    starts: dict[str, list[tuple[str, int]] | tuple[tuple[str, int], ...]] = {}
    for token in present.difference(inert):
        triggers = memo.get(token)
        if triggers is None:
            triggers = _token_triggers(lexicon, token)
            if not triggers[0] and not triggers[1]:
                if len(inert) < 200_000:
                    inert.add(token)
                continue
            if len(memo) < 200_000:
                memo[token] = triggers
        free, needy = triggers
        if needy:
            usable = list(free)
            for key, need in needy:
                for words in need:
                    if disjoint(words):
                        break
                else:
                    usable.append(key)
            if usable:
                starts[token] = usable
        elif free:
            starts[token] = free
    found: dict[str, list[tuple[int, int, int]]] = {}
    if not starts:
        return found
    pos = 0
    line = 0
    for token in tokens:
        if token == "\n":
            line += 1
        else:
            keys = starts.get(token)
            if keys is not None:
                for cue, index in keys:
                    at = found.get(cue)
                    if at is None:
                        found[cue] = [(pos - 1, index, line)]
                    else:
                        at.append((pos - 1, index, line))
        pos += len(token) + 1
    for attempts in found.values():
        attempts.sort()
    return found


_Triggers = tuple[tuple[tuple[str, int], ...], tuple[tuple[tuple[str, int], tuple[frozenset[str], ...]], ...]]


def _token_triggers(lexicon: Lexicon, token: str) -> _Triggers:
    """(phrase keys, (phrase key, needed words)) of the phrases ``token`` may start: first those that need no
    other word, then those that do."""
    keys = list(lexicon.by_word.get(token, ()))
    if token[:1].isdigit():
        keys.extend(lexicon.by_word.get("#", ()))
    for n in range(3, min(len(token), MAX_PREFIX) + 1):
        keys.extend(lexicon.by_stem.get(token[:n], ()))
    free: list[tuple[str, int]] = []
    needy: list[tuple[tuple[str, int], tuple[frozenset[str], ...]]] = []
    for key in keys:
        # a word set holding the token itself is present wherever the token is; the smaller sets, likelier to
        # be absent, are tested first
        need = tuple(sorted((w for w in lexicon.needs.get(key, ()) if token not in w), key=len))
        if need:
            needy.append((key, need))
        else:
            free.append(key)
    return tuple(free), tuple(needy)


@dataclass(frozen=True)
class Lexicon:
    """Everything the classifier needs for one language, compiled once."""

    language: str
    stopwords: frozenset[str]
    cues: dict[str, re.Pattern[str]]
    phrases: dict[str, tuple[Phrase, ...]]
    by_word: dict[str, tuple[tuple[str, int], ...]]
    by_stem: dict[str, tuple[tuple[str, int], ...]]
    always_by_cue: dict[str, tuple[int, ...]]  # phrases without a known first word: searched
    needs: dict[tuple[str, int], tuple[frozenset[str], ...]]  # see Phrase.needs (only phrases that need a word)
    negators: frozenset[str]
    negation_idioms: re.Pattern[str]
    conditions: re.Pattern[str]
    condition_exclusions: re.Pattern[str]
    firm_deadline: re.Pattern[str]
    vocabulary: tuple[str, ...]
    # Per-lexicon memos (token → phrase keys, word → typo-corrected word): most words recur across replies.
    token_memo: dict[str, _Triggers] = field(default_factory=dict, compare=False, repr=False)
    inert_tokens: set[str] = field(default_factory=set, compare=False, repr=False)  # words that start no phrase
    corrections: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    kept_words: set[str] = field(default_factory=set, compare=False, repr=False)


def _build(language: str, data: dict[str, Any]) -> Lexicon:
    cues: dict[str, re.Pattern[str]] = {}
    compiled: dict[str, tuple[Phrase, ...]] = {}
    vocab: set[str] = set()
    for section in ("cues", "flags"):
        for key, phrases in (data.get(section) or {}).items():
            cues[key] = alternation([str(p) for p in phrases])
            compiled[key] = compiled_phrases([str(p) for p in phrases])
            vocab |= literal_words([str(p) for p in phrases])
    by_word: dict[str, list[tuple[str, int]]] = {}
    by_stem: dict[str, list[tuple[str, int]]] = {}
    always: dict[str, list[int]] = {}
    for key, items in compiled.items():
        for i, ph in enumerate(items):
            if ph.words is None:
                always.setdefault(key, []).append(i)
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
        always_by_cue={k: tuple(v) for k, v in always.items()},
        needs={(k, i): ph.needs for k, items in compiled.items() for i, ph in enumerate(items) if ph.needs},
        negators=frozenset(word_text(fold(w)) for w in data.get("negators", [])),
        negation_idioms=alternation([str(p) for p in data.get("negation_idioms", []) if "..." not in str(p)]),
        conditions=alternation([str(p) for p in data.get("conditions", [])]),
        condition_exclusions=alternation([str(p) for p in data.get("condition_exclusions", [])]),
        firm_deadline=alternation([str(p) for p in data.get("firm_deadline", [])]),
        vocabulary=tuple(sorted(vocab - stop)),
    )


@functools.cache
def get_lexicon(language: str) -> Lexicon:
    """The compiled lexicon for ``language`` (KeyError when no file exists for it)."""
    return _build(language, load_lexicons()[language])


def available_languages() -> tuple[str, ...]:
    """Languages that have a lexicon (the package's and those added by ``extend_lexicons``)."""
    return tuple(load_lexicons())


on_lexicons_changed(get_lexicon.cache_clear)
