"""Compiled form of one language's lexicon file: cue patterns, negation, conditions, typo vocabulary.

Phrase syntax (lexicon files are data; this is their grammar): words are matched on "word text" (folded, every
character other than letters, digits and currency signs turned into a space); ``*`` alone is any one word;
``~`` is a gap of up to 3 words and ``~~`` up to 10; ``stem*`` is any word starting with stem; ``(a|b)``
groups alternatives. A phrase always starts and ends on word boundaries.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from bot.domain.extraction.normalise import fold
from bot.domain.extraction.vocabulary import load_lexicons, on_lexicons_changed

_WORD_GAP = {"~": r"(?:\S+ ){0,3}", "~~": r"(?:\S+ ){0,10}"}


# bytes.translate table: letters and digits kept, "$" and the placeholders of "€" and "£" kept, any other byte
# a space. Translating bytes runs at memcpy speed where str.translate with a dict looked every character up.
_KEEP = b"abcdefghijklmnopqrstuvwxyz0123456789$\x01\x02"
_BYTES_TABLE = bytes(b if b in _KEEP else 0x20 for b in range(256))


def word_text(folded: str) -> str:
    """Folded text reduced to words separated by single spaces (apostrophes and punctuation become spaces;
    currency signs stand alone so "£416" reads "£ 416")."""
    words = " ".join(_translated(folded).split())
    if "\x01" in words:
        words = words.replace("\x01", "€")
    if "\x02" in words:
        words = words.replace("\x02", "£")
    return words


def word_list(folded: str) -> list[str]:
    """``word_text(folded).split()``, without joining the words only to split them again."""
    words = _translated(folded).split()
    if "\x01" in folded or "\x02" in folded or "€" in folded or "£" in folded:
        words = [w.replace("\x01", "€").replace("\x02", "£") for w in words]
    return words


def _translated(folded: str) -> str:
    """``folded`` with every character but letters, digits and currency signs turned into spaces (€ and £ as
    one-byte placeholders)."""
    t = folded
    if "\x01" in t or "\x02" in t:
        t = t.replace("\x01", " ").replace("\x02", " ")  # the placeholders' own bytes are separators
    if "$" in t:
        t = t.replace("$", " $ ")
    if t.isascii():
        raw = t.encode("ascii")
    else:
        # Currency signs become one-byte placeholders; any other non-ASCII character is a separator ("?").
        if "€" in t:
            t = t.replace("€", " \x01 ")
        if "£" in t:
            t = t.replace("£", " \x02 ")
        raw = t.encode("ascii", "replace")
    return raw.translate(_BYTES_TABLE).decode("ascii")


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
    # Word sets every match takes one word from ({"avoir"} for "(un|d un|de l) avoir", {"virement", "cheque"}
    # for "(virement|cheque)"): when the reply lacks one of them the phrase is not tried even where its first
    # word stands (nine tries in ten failed without this).
    needs: tuple[frozenset[str], ...] = ()


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
    for n in range(3, min(len(token), _MAX_PREFIX) + 1):
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


def _phrases(phrases: list[str]) -> tuple[Phrase, ...]:
    out = []
    for p in phrases:
        words, stems = _triggers(p)
        out.append(Phrase(re.compile(" (?:" + compile_phrase(p) + ")"), words, stems, _needed_words(p)))
    return tuple(out)


def _needed_words(phrase: str) -> tuple[frozenset[str], ...]:
    """For each mandatory top-level item of a phrase, the words one of which any match contains.

    A plain word needs itself; a group "(a b|c)" without suffix needs the first word of one of its
    alternatives when each starts with a plain word. Anything else (stems, gaps, optional parts) needs nothing.
    """
    expr = word_text_keep_syntax(phrase)
    if len(_split_top(expr, "|")) > 1:
        return ()
    out: list[frozenset[str]] = []
    for item in _split_top(expr, " "):
        if _PLAIN.fullmatch(item):
            out.append(frozenset({item}))
        elif item.startswith("(") and not item.startswith("(?") and _closing_or_none(item) == len(item) - 1:
            firsts = [_split_top(alt, " ")[0] for alt in _split_top(item[1:-1], "|")]
            if all(_PLAIN.fullmatch(w) for w in firsts):
                out.append(frozenset(firsts))
    return tuple(out)


_PLAIN = re.compile(r"[a-z0-9]+")


def _closing_or_none(item: str) -> int | None:
    try:
        return _closing(item)
    except _Irregular:
        return None


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
    """Languages that have a lexicon (the package's and those added by ``extend_lexicons``)."""
    return tuple(load_lexicons())


on_lexicons_changed(get_lexicon.cache_clear)
