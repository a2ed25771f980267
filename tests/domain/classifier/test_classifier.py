"""Classifier behaviour on sentences written for these tests (French and English), one concern per test."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.classifier import classify
from bot.domain.classifier.lexicon import available_languages
from bot.domain.intent import HUMAN_INTENTS, Intent

MONDAY = datetime(2031, 3, 10, 9, 30)  # 10 March 2031 is a Monday


def c(text: str, **kw: object):  # type: ignore[no-untyped-def]
    kw.setdefault("sent_at", MONDAY)
    return classify(text, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        (
            "Bonjour, nous vous réglerons la facture F2031-00457 jeudi prochain. Cordialement",
            Intent.PROMISE_TO_PAY,
        ),
        ("Hello, we will pay invoice F2031-00457 on Thursday 20 March. Regards", Intent.PROMISE_TO_PAY),
        ("Le virement de 1 250,00 € a été effectué hier. Cordialement", Intent.ALREADY_PAID),
        ("Hi, this was paid yesterday by bank transfer, remittance advice attached.", Intent.ALREADY_PAID),
        ("Nous contestons cette facture : les portes livrées sont endommagées.", Intent.DISPUTE),
        ("We dispute this invoice, the windows were delivered damaged.", Intent.DISPUTE),
        ("Nous n'avons jamais reçu cette facture, pouvez-vous nous la renvoyer ?", Intent.MISSING_INVOICE),
        ("We have no record of this invoice, could you send us a copy?", Intent.MISSING_INVOICE),
        ("Pourrait-on régler en trois fois ? La trésorerie est tendue.", Intent.PAYMENT_PLAN_REQUEST),
        ("Could we pay this in three monthly instalments? Cash flow is tight.", Intent.PAYMENT_PLAN_REQUEST),
        (
            "Mme Durand ne fait plus partie de la société, merci d'écrire désormais à compta@x.example.",
            Intent.WRONG_CONTACT,
        ),
        (
            "I am not the right person for this, please contact our finance team directly from now on.",
            Intent.WRONG_CONTACT,
        ),
        ("Je suis absente du bureau jusqu'au 20 mars inclus.", Intent.AUTO_REPLY),
        ("I am out of the office until 20 March with limited access to email.", Intent.AUTO_REPLY),
        ("Merci, bonne journée.", Intent.OTHER),
        ("Could you quote us for ten more oak doors?", Intent.OTHER),
    ],
)
def test_each_intent_in_both_languages(text: str, intent: Intent) -> None:
    result = c(text)
    assert result.intent is intent, result.evidence
    assert result.needs_human is (intent in HUMAN_INTENTS or bool(result.human_reasons))
    assert 0.0 <= result.confidence <= 1.0
    if intent is not Intent.OTHER:
        assert result.evidence, "every verdict other than 'other' names the rule that fired"


def test_languages_come_from_lexicon_files() -> None:
    assert {"fr", "en"} <= set(available_languages())
    assert c("Nous vous réglerons demain.").language == "fr"
    assert c("We will pay tomorrow.").language == "en"


@pytest.mark.parametrize(
    "text",
    [
        "Nous ne paierons pas cette facture tant que le chantier n'est pas terminé.",
        "We will not pay until the doors are replaced.",
    ],
)
def test_negated_promise_is_a_refusal_not_a_promise(text: str) -> None:
    result = c(text)
    assert result.intent is Intent.DISPUTE
    assert result.promised_date is None
    assert any(e.rule.endswith(".negated") for e in result.evidence)


def test_not_yet_paid_is_not_already_paid() -> None:
    result = c("Je n'ai pas encore payé, je le ferai la semaine prochaine.")
    assert result.intent is not Intent.ALREADY_PAID


@pytest.mark.parametrize(
    "text",
    [
        "Nous réglerons la facture dès que notre client nous aura payé.",
        "We will pay the invoice once our customer has paid us.",
        "We will pay as soon as the credit note arrives.",
    ],
)
def test_conditional_promise_goes_to_a_person(text: str) -> None:
    result = c(text)
    assert result.needs_human
    assert result.promised_date is None


def test_firm_deadline_outweighs_the_condition() -> None:
    result = c("Le règlement sera fait dès son retour, et au plus tard le 21/03.")
    assert result.intent is Intent.PROMISE_TO_PAY
    assert result.promised_date == date(2031, 3, 21)
    assert not result.needs_human


def test_as_soon_as_possible_is_no_condition() -> None:
    result = c("We will pay as soon as possible, by the end of the week.")
    assert result.intent is Intent.PROMISE_TO_PAY
    assert "conditional_promise" not in result.human_reasons
    assert result.promised_date == date(2031, 3, 14)


@pytest.mark.parametrize(
    "text",
    [
        "le virment de 900 euros a ete fait hier",
        "facure recu, le virement est parti ce matin",
        "VIREMENT EFFECTUÉ HIER POUR LA FACTURE",
    ],
)
def test_typos_accents_and_case(text: str) -> None:
    result = c(text)
    assert result.intent is Intent.ALREADY_PAID
    assert result.paid_date in (date(2031, 3, 9), date(2031, 3, 10))


def test_precedence_dispute_over_promise_with_secondary() -> None:
    result = c("Nous contestons les pénalités de retard. Nous réglerons le principal le 31/03.")
    assert result.intent is Intent.DISPUTE
    assert Intent.PROMISE_TO_PAY in result.secondary_intents
    assert result.promised_date == date(2031, 3, 31)


def test_paid_with_rest_to_follow() -> None:
    result = c("J'ai fait un premier virement de 2000 € ce matin, le reste sera réglé fin du mois.")
    assert result.intent is Intent.ALREADY_PAID
    assert result.paid_date == date(2031, 3, 10)
    assert result.amount == Decimal("2000.00")


def test_proposal_of_instalments_has_no_promised_date() -> None:
    result = c("Je vous propose de régler 500 € par mois à partir du 30 avril, si cela vous convient.")
    assert result.intent is Intent.PAYMENT_PLAN_REQUEST
    assert result.promised_date is None
    assert result.needs_human


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Si vous continuez, je transmets le dossier à mon avocat. Nous avons réglé hier.", "legal_threat"),
        ("La société est en redressement judiciaire, déclarez votre créance au mandataire.", "insolvency"),
        (
            "Paid yesterday. Stop sending me these letters, this is harassment.",
            "anger_or_harassment_complaint",
        ),
        (
            "Merci de déposer la facture sur Chorus Pro avec le numéro d'engagement.",
            "request_bot_cannot_fulfil",
        ),
    ],
)
def test_human_reasons(text: str, reason: str) -> None:
    result = c(text)
    assert reason in result.human_reasons
    assert result.needs_human


def test_insolvency_notice_is_other() -> None:
    result = c("Par jugement du 3 mars, le tribunal a prononcé la liquidation judiciaire de la société.")
    assert result.intent is Intent.OTHER


def test_headers_decide_automatic_notices() -> None:
    assert c("Merci, votre message sera traité.", auto_reply=True).intent is Intent.AUTO_REPLY
    bounce = c("We will pay on Friday.", bounce=True)
    assert bounce.intent is Intent.BOUNCE and bounce.needs_human


def test_auto_reply_that_sounds_like_a_promise_is_not_a_commitment() -> None:
    result = c("Les paiements seront effectués à mon retour le 20 mars.", auto_reply=True)
    assert result.intent is Intent.AUTO_REPLY
    assert result.promised_date is None
    assert not result.needs_human


def test_empty_reply_is_other_and_human() -> None:
    result = c("", language_hint="en")
    assert result.intent is Intent.OTHER and result.needs_human and result.language == "en"


def test_us_dates() -> None:
    result = c("We'll wire the balance of $1,200.00 on 4/3.", us_dates=True)
    assert result.promised_date == date(2031, 4, 3)


def test_invoice_refs_are_reported_as_written() -> None:
    assert c("renvoyez-moi la 457 et la F2031-129 svp").invoice_refs == ("457", "F2031-129")


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_never_crashes_and_stays_consistent(text: str) -> None:
    result = c(text)
    assert 0.0 <= result.confidence <= 1.0
    assert result.needs_human is (result.intent in HUMAN_INTENTS or bool(result.human_reasons))
