"""The extractors' shortcuts give exactly what the plain regex search gives.

For speed the extractors try their patterns only at the offsets where a match can start, skip the date
patterns whose cheap gate is closed and fold text character by character: each shortcut must be invisible.
Texts are drawn from the characters and words the patterns care about, so that matches are frequent.
"""

from __future__ import annotations

import re
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.extraction import amounts, date_patterns, dates, invoice_refs, normalise
from bot.domain.extraction.anchored import matches_at
from bot.domain.extraction.normalise import fold

_PIECES = [
    *"abcefgilnrstuvx0123456789 -_/.#,:&'%€£$\n",
    "f",
    "inv",
    "fac",
    "facture",
    "factures",
    "invoices",
    "ref",
    "reference",
    "n°",
    "no",
    "number",
    "la",
    "le",
    "ni la",
    "the",
    "and",
    "et",
    "av",
    "po",
    "kg",
    "eur",
    "euros",
    "gbp",
    "usd",
    "k",
    "ttc",
    "2026",
    "20",
    "00",
    "00326",
    "0042",
    "728",
    "1 234,56",
    "ticket",
    "virement de",
    "cheque de",
    "mi",
    "fin",
    "debut",
    "janvier",
    "mai",
    "dec",
    "may",
    "lundi",
    "friday",
    "prochain",
    "next",
    "last",
    "sous",
    "jours",
    "days",
    "dans",
    "within",
    "a week",
    "eom",
    "hier",
    "demain",
    "1er",
    "15th",
    "of",
    "du mois",
    "portes",
    "15.12",
    "3/4",
    "2026-01-05",
    "\u0663",
    # one phrase of each date pattern
    "sous 10 jours",
    "in 5 days",
    "mi-mai",
    "fin janvier",
    "debut mai",
    "lundi 12",
    "next friday",
    "friday last",
    "le 30",
    "sous huitaine",
    "end of the week",
    "fin du mois prochain",
    "ce matin",
    "a l'echeance",
    "next week",
    "may 5th",
    "5 mai 2026",
]
_GLUE = ["", " ", " ", ", ", ". ", "\n"]
texts = st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from(_GLUE)), max_size=20).map(
    lambda parts: "".join(piece + glue for piece, glue in parts)
)


def _spans(found: object) -> list[tuple[int, int]]:
    return [m.span() for m in found]  # type: ignore[attr-defined]


@settings(max_examples=400, deadline=None)
@given(texts)
def test_amounts_are_searched_only_where_they_can_start(t: str) -> None:
    assert _spans(amounts._amount_matches(t)) == _spans(amounts._AMOUNT.finditer(t))


@settings(max_examples=400, deadline=None)
@given(texts)
def test_invoice_reference_patterns_are_tried_only_where_they_can_start(t: str) -> None:
    p = invoice_refs._patterns()
    assert _spans(matches_at(p.prefixed, t, invoice_refs._prefixed_starts(t))) == _spans(p.prefixed.finditer(t))
    assert _spans(invoice_refs._keyword_matches(p, t)) == _spans(p.keyword.finditer(t))
    assert _spans(matches_at(p.article, t, invoice_refs._article_starts(p, t))) == _spans(p.article.finditer(t))
    zeros = [z.start() for z in invoice_refs._ZEROS.finditer(t)]
    assert _spans(matches_at(p.padded, t, zeros)) == _spans(p.padded.finditer(t))


@settings(max_examples=400, deadline=None)
@given(texts)
def test_a_closed_date_gate_hides_no_match(t: str) -> None:
    runs = frozenset(date_patterns.ALPHA_RUN.findall(t)) | {""}
    has_digit = date_patterns.DIGIT.search(t) is not None
    for kind, pattern, gate in date_patterns.patterns():
        if not gate.opens(t, runs, has_digit, date_patterns.month_text()):
            assert pattern.search(t) is None, kind


@settings(max_examples=400, deadline=None)
@given(texts)
def test_an_open_date_gate_runs_its_pattern_only_where_matches_start(t: str) -> None:
    for kind, pattern, gate in date_patterns.patterns():
        assert _spans(gate.matches(pattern, t)) == _spans(pattern.finditer(t)), kind


def test_date_gates_skip_ahead_on_dates() -> None:
    t = fold("Réglé le 3/11, paiement le 15 du mois, au 2026-11-20 et avant le 30 ; 12.5.2026")
    for kind, pattern, gate in date_patterns.patterns():
        assert _spans(gate.matches(pattern, t)) == _spans(pattern.finditer(t)), kind
    kinds = {k for k, _, g in date_patterns.patterns() if g.at_digit_runs or g.probe_leads}
    assert {"iso", "numeric", "day_of_month"} <= kinds


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(
            [*"ab eE\t\u00a0\u2009", "é", "È", "œ", "æ", "ǣ", "\u0301", "\u0327", "\u05b0", "\u0f73", "ß", "가"]
        )
    )
)
def test_folding_character_by_character_equals_the_whole_text_pass(t: str) -> None:
    assert normalise.strip_accents(t) == normalise._strip_whole(t)
    # the spaces are rewritten only when the text holds a run worth rewriting
    assert fold(t) == normalise._strip_whole(normalise._SPACES.sub(" ", t)).lower()


def test_the_shortcuts_agree_on_a_reply() -> None:
    t = fold("Bonjour, la facture F2026-00101 (1 234,56 €) sera réglée le 15/12 ; virement de 3000 pour la 728.")
    assert [r.written for r in invoice_refs.find_invoice_refs(t, folded=True)] == ["F2026-00101", "728"]
    assert [str(a.value) for a in amounts.find_amounts(t, folded=True)] == ["1234.56", "3000.00"]
    assert [m.kind for m in dates.find_dates(t, date(2026, 12, 1), folded=True)] == ["numeric"]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from([*"0123456789-/. a", "٣", "²"]), max_size=30))
def test_separator_first_date_probes_find_what_the_digit_first_ones_find(t: str) -> None:
    for probe, plain in ((date_patterns.ISO_PROBE, r"\d\d\d\d-\d"), (date_patterns.NUMERIC_PROBE, r"\d[/.]\d")):
        assert (probe.search(t) is None) is (re.search(plain, t) is None), t
