"""The lexicon phrase grammar: word text, compiled patterns, and the words a match starts with or needs."""

from __future__ import annotations

import pytest

from bot.domain.classifier.phrase import (
    _needed_words,
    _triggers,
    compiled_phrases,
    word_list,
    word_text,
)


def test_word_text_keeps_letters_digits_and_currency_signs_alone() -> None:
    assert word_text("£416, l'avoir — payé!") == "£ 416 l avoir pay"  # folded input: "é" is a separator here
    assert word_list("x€5 $3") == ["x", "€", "5", "$", "3"]
    assert word_list("a  b\tc") == word_text("a  b\tc").split()


@pytest.mark.parametrize(
    ("phrase", "text", "matches"),
    [
        ("nous réglerons", " nous reglerons demain", True),
        ("nous réglerons", " nous regleronsx demain", False),  # a phrase ends on a word boundary
        ("pay* ~ invoice", " we will pay the invoice", True),
        ("pay* ~ invoice", " we will payment for the invoice", True),
        ("pay* ~ invoice", " we will pay the big old red invoice", False),  # "~" spans at most 3 words
        ("pay* ~~ invoice", " we will pay the big old red invoice", True),
        ("* paid", " already paid", True),
        ("(virement|cheque) effectue", " cheque effectue hier", True),
        ("(virement|cheque) effectue", " avoir effectue hier", False),
    ],
)
def test_compiled_phrase_follows_the_grammar(phrase: str, text: str, matches: bool) -> None:
    (compiled,) = compiled_phrases([phrase])
    assert (compiled.pattern.search(text) is not None) is matches


def test_triggers_list_the_words_or_stems_a_match_starts_with() -> None:
    assert _triggers("nous réglerons") == (frozenset({"nous"}), ())
    assert _triggers("pay* ~ invoice") == (frozenset(), ("pay",))
    assert _triggers("(un|d un|de l) avoir") == (frozenset({"un", "d", "de"}), ())
    # a leading gap or wildcard can start anywhere: such phrases are always tried
    assert _triggers("~ payer") == (None, ())
    assert _triggers("* paid") == (None, ())


def test_needed_words_are_the_mandatory_plain_items() -> None:
    assert _needed_words("nous réglerons") == (frozenset({"nous"}), frozenset({"reglerons"}))
    assert _needed_words("(virement|cheque) effectue") == (frozenset({"virement", "cheque"}), frozenset({"effectue"}))
    assert _needed_words("pay* ~ invoice") == (frozenset({"invoice"}),)  # stems and gaps need nothing
    assert _needed_words("a|b") == ()  # top-level alternatives: nothing is mandatory
