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


def strip_accents(text: str) -> str:
    """Remove diacritics ("réglée" → "reglee") while keeping every other character."""
    if text.isascii():
        return text
    stripped = _COMBINING.sub("", unicodedata.normalize("NFD", text))
    # NFD may change the length for ligatures only; "œ" is not decomposed, so spell it out.
    return stripped.replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae")


def fold(text: str) -> str:
    """Lower-case, accent-free text with uniform spaces, apostrophes and dashes (numbers untouched)."""
    for old, new in _SINGLE:
        if old in text:
            text = text.replace(old, new)
    text = _SPACES.sub(" ", text)
    return strip_accents(text).lower()
