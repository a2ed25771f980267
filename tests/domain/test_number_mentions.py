"""Plain search for ledger numbers gives exactly the answer of the regular expression that defines a mention."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.number_mentions import MentionText, mention_pattern


def by_pattern(number: str, text: str) -> bool:
    return re.search(mention_pattern(number), text, re.IGNORECASE) is not None


RUN = st.one_of(
    st.text("ABCFINVabcfinv", min_size=1, max_size=4),
    st.text("0123456789", min_size=1, max_size=6),
)
SEPARATOR = st.sampled_from(["", "-", "/", ".", "_", " ", "–", "#"])


@st.composite
def numbers(draw: st.DrawFn) -> str:
    runs = draw(st.lists(RUN, min_size=1, max_size=4))
    return "".join(run + draw(SEPARATOR) for run in runs).strip()


@st.composite
def texts_about(draw: st.DrawFn, number: str) -> str:
    """Texts that write ``number`` in many ways (or almost), among noise that often looks like it."""
    pieces = []
    for run in re.findall(r"[A-Za-z]+|\d+", number) or [number]:
        if run.isdigit() and draw(st.booleans()):
            run = draw(st.sampled_from(["", "0", "00"])) + run.lstrip("0") if int(run) else run
        if not run.isdigit() and draw(st.booleans()):
            run = run.swapcase()
        pieces.append(run + draw(st.sampled_from(["", "", "-", " ", "\u00a0", "/", ". ", "x", "0", "1"])))
    noise = st.text("ABCINVinv0123456789 -/._\nıİſ\u212aé٣", max_size=8)
    return draw(noise) + "".join(pieces) + draw(noise)


@settings(max_examples=3000, deadline=None)
@given(st.data())
def test_plain_search_agrees_with_the_pattern(data: st.DataObject) -> None:
    number = data.draw(numbers())
    text = data.draw(st.one_of(texts_about(number), st.text(max_size=30)))
    assert MentionText(text).mentions(number) == by_pattern(number, text), (number, text)


def test_examples() -> None:
    text = MentionText("Bonjour, la facture f2026 00601 et INV-0000007 sont payées; voir aussi X12.")
    assert text.mentions("F2026-00601") and text.mentions("INV-7") and text.mentions("INV0000007")
    assert not text.mentions("F2026-0060")  # followed by a digit
    assert not text.mentions("12")  # glued to a letter before it
    assert MentionText("ref F202600601").mentions("F2026-00601")  # no separator at all
    assert MentionText("facture ıNV-7").mentions("INV-7") == by_pattern("INV-7", "facture ıNV-7")
