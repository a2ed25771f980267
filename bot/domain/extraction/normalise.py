"""Text normalisation shared by the extractors and the classifier.

Debtors write with and without accents, in upper case when angry, with typographic apostrophes and non-
breaking
spaces: every rule works on one canonical form so a lexicon entry needs to be written only once.
"""

from __future__ import annotations

import re
import unicodedata

_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# Runs of spaces worth rewriting: a lone plain space (nearly every match of the naive pattern) is left alone.
_SPACES = re.compile(
    r"(?:[\u00a0\u202f\u2007\u2009\t]| (?=[\u00a0\u202f\u2007\u2009\t ]))[\u00a0\u202f\u2007\u2009\t ]*"
)
# One character each way. str.replace guarded by `in` runs at memchr speed where str.translate with a dict
# table looks every character up in Python (it was a seventh of the classifier's time).
_SINGLE = (
    ("\u2019", "'"),
    ("\u2018", "'"),
    ("\u02bc", "'"),
    ("`", "'"),
    ("\u00b4", "'"),
    ("\u2013", "-"),
    ("\u2014", "-"),
    ("\u2011", "-"),
    ("\u2212", "-"),
)


# Accent-free form of each non-ASCII character met so far (None: see _char_form), so that a text is folded by a
# few str.replace calls instead of a full NFD pass and a regex over every character.
_FORMS: dict[str, str | None] = {}
_ASCII = frozenset(chr(i) for i in range(128))


def _strip_whole(text: str) -> str:
    stripped = _COMBINING.sub("", unicodedata.normalize("NFD", text))
    # NFD may change the length for ligatures only; "œ" is not decomposed, so spell it out.
    return stripped.replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae")


def _char_form(ch: str) -> str | None:
    """What :func:`_strip_whole` makes of ``ch`` wherever it stands, or None when that depends on its
    neighbours: NFD reorders the combining marks that follow one another, and a text's NFD is the concatenation
    of its characters' only when each character, and the first of its decomposition, is a starter."""
    form = _FORMS.get(ch, "")
    if form == "":
        decomposed = unicodedata.normalize("NFD", ch)
        if unicodedata.combining(ch) or unicodedata.combining(decomposed[0]):
            form = None
        else:
            form = _strip_whole(ch)
        if len(_FORMS) < 50_000:
            _FORMS[ch] = form
    return form


def strip_accents(text: str) -> str:
    """Remove diacritics ("réglée" → "reglee") while keeping every other character."""
    if text.isascii():
        return text
    forms = []
    for ch in set(text).difference(_ASCII):
        form = _char_form(ch)
        if form is None:
            return _strip_whole(text)
        if form != ch:
            forms.append((ch, form))
    for ch, form in forms:
        text = text.replace(ch, form)
    return text


# A run of spaces _SPACES rewrites holds a tab, an odd space or two plain spaces.
_ODD_SPACE = re.compile(r"[\u00a0\u202f\u2007\u2009]")


#: The last text folded and its folded form. A reply's new text is folded twice in a row: by the classifier and
#: by the reply matcher's reference search. One entry only: nothing accumulates, and a tuple swapped whole is
#: safe between threads.
_last: tuple[str, str] = ("", "")


def fold(text: str) -> str:
    """Lower-case, accent-free text with uniform spaces, apostrophes and dashes (numbers untouched)."""
    global _last
    last_text, last_folded = _last
    if text == last_text:
        return last_folded
    folded = _fold(text)
    _last = (text, folded)
    return folded


def _fold(text: str) -> str:
    for old, new in _SINGLE:
        if old in text:
            text = text.replace(old, new)
    if "  " in text or "\t" in text or _ODD_SPACE.search(text) is not None:
        text = _SPACES.sub(" ", text)
    return strip_accents(text).lower()
