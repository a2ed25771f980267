from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.extraction.invoice_refs import find_invoice_refs


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("concernant la facture F2031-00457, soit", ["F2031-00457"]),
        ("aucune trace de la F2031-57", ["F2031-57"]),
        ("la F203100457 est introuvable", ["F2031-00457"]),  # year and sequence glued
        ("renvoyez moi la 457 svp", ["457"]),
        ("please resend inv 312", ["312"]),
        ("la fact. 918 ainsi que le RIB", ["918"]),
        ("facture n° 00457", ["00457"]),
        ("virement pour les factures 312 et 918", ["312", "918"]),
        ("payment for invoices 312 and 918", ["312", "918"]),
        ("we'll clear 00312 next week", ["00312"]),
    ],
)
def test_written_forms(text: str, written: list[str]) -> None:
    assert [r.written for r in find_invoice_refs(text)] == written


@pytest.mark.parametrize(
    "text",
    [
        "avoir AV2031-0042 reçu",
        "bon de commande BC-2031-04417",
        "votre demande n° 2031-118734",
        "Tél. 02 61 91 22 48",
        "cette facture de 580 € pour la 312 €",
    ],
)
def test_not_invoice_refs(text: str) -> None:
    assert find_invoice_refs(text) == []


@given(st.text(max_size=200))
def test_never_crashes(text: str) -> None:
    for r in find_invoice_refs(text):
        assert r.written


@pytest.mark.parametrize(
    ("text", "written"),
    [
        # other ledgers' numbering schemes, with and without an invoice word
        ("Please find the payment for INV-12345 attached", ["INV-12345"]),
        ("we will pay inv-7792 at the end of the month", ["INV-7792"]),
        ("facture FA-000123 réglée hier", ["FA-000123"]),
        ("la facture n° 2026/0042 est contestée", ["2026/0042"]),
        ("invoice no. 2026-0042 and 2026-0043", ["2026-0042", "2026-0043"]),
        ("invoice #48213 was paid", ["48213"]),
        ("concerning bill number FAC2026/0042", ["FAC2026-0042"]),
        ("invoices INV-101, INV-102 & INV-103", ["INV-101", "INV-102", "INV-103"]),
        ("ref 12345 réglée", ["12345"]),
    ],
)
def test_other_numbering_schemes(text: str, written: list[str]) -> None:
    assert [r.written for r in find_invoice_refs(text)] == written


@pytest.mark.parametrize(
    "text",
    [
        "your ticket number AP-48213 has been received",
        "paid by bank transfer, reference QJ-5521.",
        "our reference RCN-1009 for the transfer",
        "purchase order PO-55120 attached",
        "credit note CN-2026-0042 received",
        "see you in oct2026-09",
        "10 x 120 kg250 delivered",
        "la facture du 12/03/2026 de 580 €",
        "votre demande n° 2031-118734",
        "2026/0042",  # a bare year/sequence could be any kind of number
    ],
)
def test_other_numbers_are_not_invoice_refs(text: str) -> None:
    assert find_invoice_refs(text) == []


def test_counted_things_are_not_refs_but_function_words_do_not_count() -> None:
    assert find_invoice_refs("il manque les 120 portillons") == []
    assert [r.written for r in find_invoice_refs("nous ne trouvons ni la 283 dans nos fichiers")] == ["283"]


def test_the_last_text_asked_again_gives_the_same_answer_and_a_list_of_its_own() -> None:
    from bot.domain.extraction.vocabulary import extend_lexicons, reset_lexicons

    text = "Nous réglerons la facture INV-0000042 et la zorp 00731"
    first = find_invoice_refs(text)
    first.append(first[0])  # the caller's list: changing it changes no later answer
    again = find_invoice_refs(text.lower().replace("é", "e"), folded=True)  # the same folded text
    assert [r.written for r in again] == ["INV-0000042", "00731"]
    assert find_invoice_refs(text) == again
    assert find_invoice_refs("la zorp 731") == []  # remembered as the last text
    extend_lexicons(data={"xx": {"references": {"keywords": ["zorp"]}}})
    try:  # new lexicons: the remembered answer is forgotten
        assert [r.written for r in find_invoice_refs("la zorp 731")] == ["731"]
    finally:
        reset_lexicons()
    assert find_invoice_refs("la zorp 731") == []
