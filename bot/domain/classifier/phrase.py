"""Lexicon phrase syntax: folding text to "word text", compiling phrases to patterns, and the words that can
start or must occur in a match of a phrase.

Phrase syntax (lexicon files are data; this is their grammar): words are matched on "word text" (folded, every
character other than letters, digits and currency signs turned into a space); ``*`` alone is any one word;
``~`` is a gap of up to 3 words and ``~~`` up to 10; ``stem*`` is any word starting with stem; ``(a|b)``
groups alternatives. A phrase always starts and ends on word boundaries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain.extraction.normalise import fold

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


def alternation(phrases: list[str]) -> re.Pattern[str]:
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
                words = {stem[:MAX_PREFIX] + "*"}
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


MAX_PREFIX = 10


def compiled_phrases(phrases: list[str]) -> tuple[Phrase, ...]:
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


def literal_words(phrases: list[str]) -> set[str]:
    words: set[str] = set()
    for p in phrases:
        for w in re.findall(r"[a-z]+(?![a-z]*\*)", word_text_keep_syntax(p)):
            if len(w) >= 5:
                words.add(w)
    return words
