"""A third language is data only: a Spanish lexicon from a test folder, no code naming Spanish."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from bot.domain.classifier import classify
from bot.domain.classifier.lexicon import available_languages
from bot.domain.extraction.invoice_refs import find_invoice_refs
from bot.domain.extraction.vocabulary import extend_lexicons, reset_lexicons
from bot.domain.intent import Intent

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "lexicons"
SENT = datetime(2026, 11, 4, 10, 0)  # a Wednesday


@pytest.fixture
def spanish() -> Iterator[None]:
    extend_lexicons(FIXTURES)
    try:
        yield
    finally:
        reset_lexicons()


def test_the_package_ships_no_spanish() -> None:
    assert "es" not in available_languages()


@pytest.mark.usefixtures("spanish")
def test_spanish_promise_with_date() -> None:
    c = classify("Buenos dias, pagaremos la factura F2026-00417 el proximo viernes. Saludos", sent_at=SENT)
    assert c.language == "es"
    assert c.intent is Intent.PROMISE_TO_PAY
    assert c.promised_date == date(2026, 11, 6)
    assert c.invoice_refs == ("F2026-00417",)
    assert any(e.rule == "promise.commit" and "pagaremos" in e.text for e in c.evidence)


@pytest.mark.usefixtures("spanish")
def test_spanish_dispute() -> None:
    c = classify("No estamos de acuerdo con esta factura: el importe es incorrecto.", sent_at=SENT)
    assert c.language == "es"
    assert c.intent is Intent.DISPUTE
    assert c.needs_human
    assert {e.rule for e in c.evidence} >= {"dispute.contest", "dispute.billing_error"}


@pytest.mark.usefixtures("spanish")
def test_spanish_negated_promise_is_a_refusal() -> None:
    c = classify("No pagaremos esta factura por ahora, saludos.", sent_at=SENT)
    assert c.intent is Intent.DISPUTE
    assert c.promised_date is None


@pytest.mark.usefixtures("spanish")
def test_spanish_reference_words() -> None:
    assert [r.written for r in find_invoice_refs("el pago de la factura n° 2026/0042")] == ["2026/0042"]


def test_extension_from_a_mapping_and_reset() -> None:
    extend_lexicons(data={"xx": {"stopwords": ["zorp", "blip"], "cues": {"paid_claim": ["zorped"]}, "negators": []}})
    try:
        c = classify("zorp blip: zorped", sent_at=SENT)
        assert (c.language, c.intent) == ("xx", Intent.ALREADY_PAID)
    finally:
        reset_lexicons()
    assert "xx" not in available_languages()
    assert classify("We paid it yesterday, thanks", sent_at=SENT).language == "en"


def test_an_unquoted_yaml_no_is_refused(tmp_path: Path) -> None:
    (tmp_path / "zz.yaml").write_text("stopwords: [no, yes]\n", encoding="utf-8")
    extend_lexicons(tmp_path)
    try:
        with pytest.raises(ValueError, match="quote words"):
            available_languages()
    finally:
        reset_lexicons()
