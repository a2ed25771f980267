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
        ("la F203100457 est introuvable", ["F2031-00457"]),
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
