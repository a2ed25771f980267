"""split_reply: quote, signature and footer removal on small hand-written texts."""

from __future__ import annotations

import time

import pytest

from bot.adapters.parse.quotes import split_reply


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ok merci.\n\nLe mar. 13 oct. 2026 à 08:51, Julien <j@x.example> a écrit :\n> Relance", "Ok merci."),
        (
            "Paid today.\n\nOn Mon, Oct 5, 2026 at 9:19 AM Credit Control <\ncc@x.example> wrote:\n> Reminder",
            "Paid today.",
        ),
        ("Vu.\n\n-----Original Message-----\nFrom: A <a@x.example>\nSent: Monday\nSubject: x\n\nold", "Vu."),
        (
            "Vu.\n\nDe : A <a@x.example>\nEnvoyé : lundi 5 octobre 2026\nÀ : b@x.example\nObjet : x\n\nold",
            "Vu.",
        ),
        ("Vu.\n\n________________________________\nFrom: A\nSent: Monday\n\nold", "Vu."),
        ("Réglé.\n\n-------- Message d'origine --------\nDe : A\nold", "Réglé."),
        ("Réglé.\n\n> Le 5 oct. 2026 à 09:00, A <a@x.example> a écrit :\n>\n> old", "Réglé."),
        ("Done.\n\nSent from my iPhone\n\n> old quoted", "Done."),
        ("Fait.\n\nEnvoyé de mon iPhone", "Fait."),
        ("Done.\n\nGet Outlook for iOS<https://aka.ms/o0ukef>", "Done."),
        ("Thanks.\n\n-- \nJohn\n+33 1 23 45 67 89", "Thanks."),
        (
            "Paid.\n\nThis email and any attachments are confidential and intended solely for the addressee.",
            "Paid.",
        ),
    ],
)
def test_split_reply_removes_quotes(text: str, expected: str) -> None:
    assert split_reply(text)[0] == expected


def test_quoted_text_is_returned() -> None:
    reply, quoted = split_reply("Ok.\n\nOn Mon, 5 Oct 2026, A <a@x.example> wrote:\n> Invoice F-1 is due")
    assert reply == "Ok."
    assert "Invoice F-1 is due" in quoted


def test_real_content_is_not_cut() -> None:
    text = "Sent from my desk, is much easier than my phone.\n\nWe will pay on Friday."
    assert split_reply(text)[0] == text
    text = "Something wrote: nothing.\nWe pay tomorrow -- promised."
    assert split_reply(text)[0] == text


def test_sign_off_keeps_name_drops_contact_block() -> None:
    text = "Nous payons lundi.\n\nCordialement,\nMarie Dupont\nComptable\nTél. 01 23 45 67 89"
    assert split_reply(text)[0] == "Nous payons lundi.\n\nCordialement,\nMarie Dupont"


def test_postscript_after_sign_off_is_kept() -> None:
    text = "Ok.\n\nRegards,\nJohn\nPS: the transfer left this morning, reference 4432."
    assert split_reply(text)[0] == text


def test_inline_answers_keep_only_new_lines() -> None:
    text = "> Can you pay invoice 12?\nYes, on Friday.\n> And invoice 13?\nDisputed."
    reply, quoted = split_reply(text)
    assert reply == "Yes, on Friday.\nDisputed."
    assert "invoice 13" in quoted


def test_bottom_posted_answer_is_found() -> None:
    text = "On Tue, 3 Nov 2026 at 10:00, A <a@x.example> wrote:\n> Please pay.\n\nPaid yesterday."
    assert split_reply(text)[0] == "Paid yesterday."


def test_pathological_input_is_fast() -> None:
    nasty = ("On " + "a" * 5000 + " wrote" * 200 + "\n") * 50 + "> " * 20000 + "-" * 50000
    start = time.perf_counter()
    split_reply(nasty)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Attribution spread over blank lines by the client's wrapping.
        (
            "Paid on Friday.\n\nOn Thu, 5 Nov 2026 at 11:16 Credit Control\n\n<\nmailto:cc@x.example\n> wrote:\n\n"
            "Invoice F-12 is overdue.",
            "Paid on Friday.",
        ),
        # Gmail's localised date line whose "<address>:" tail was lost.
        ("Virement parti.\n\n2026-11-05 17:21 GMT+01:00 Credit Control\n\nFacture F-12 impayée.", "Virement parti."),
        # A date and an address above "|"-quoted lines.
        ("Will pay.\n\n2026/11/5 Credit Control <cc@x.example>\n\n| Invoice F-12 is overdue.\n|", "Will pay."),
        # Discourse's digest marker.
        ("Agreed.\n\n---\n*Previous Replies*\n\nolder post", "Agreed."),
        # Nordic mobile footers.
        ("Betalt.\n\nSendt fra min iPad", "Betalt."),
    ],
)
def test_loose_quote_markers(text: str, expected: str) -> None:
    assert split_reply(text)[0] == expected


def test_a_sentence_starting_with_on_or_a_date_is_not_a_quote() -> None:
    text = "On Monday 9 Nov we will pay the invoice.\n\nThanks."
    assert split_reply(text)[0] == text
    text = "2026-11-05 is when we sent the transfer.\nRegards"
    assert split_reply(text)[0] == text


def test_bottom_posted_answer_below_a_two_line_attribution() -> None:
    text = (
        "On Mon, Nov 2, 2026 at 2:36 AM, Credit Control <\ncc@x.example> wrote:\n\n"
        "> Invoice F-12 is due.\n>\n\nPaid yesterday."
    )
    assert split_reply(text)[0] == "Paid yesterday."


def test_wrapped_quoted_line_is_not_an_answer() -> None:
    quoted = "> " + "This reminder concerns invoice F-12 which remains unpaid at this d"
    text = f"Ok.\n\nIl giorno 2 nov 2026, Credit Control <cc@x.example>\nha scritto:\n{quoted}\nate.\n> Regards"
    assert split_reply(text)[0] == "Ok."


def test_bare_forward_keeps_only_the_forwarded_body() -> None:
    text = (
        "---------- Forwarded message ----------\nFrom: A <a@x.example>\nDate: Thu, Nov 5, 2026\n"
        "Subject: Invoice that\nspans two lines\nTo: b@x.example\n\n\nPlease pay invoice F-12."
    )
    assert split_reply(text)[0] == "Please pay invoice F-12."


def test_signature_naming_the_sender_is_removed() -> None:
    text = "Simone,\n\nWe paid it this morning.\n\nThank you,\nNoam"
    assert split_reply(text, sender_name="Noam Levi")[0] == "Simone,\n\nWe paid it this morning."
    text = "Paid.\n\nJohn E. Doe, Ph.D.\nPresident\njohn@x.example"
    assert split_reply(text, sender="john@x.example")[0] == "Paid."
    # Without the sender's identity, or when the name sits in a sentence, nothing is cut.
    assert split_reply("Paid.\n\nThank you,\nNoam")[0] == "Paid.\n\nThank you,\nNoam"
    text = "Hello,\n\nNoam asked me to confirm we will pay on Friday."
    assert split_reply(text, sender_name="Noam")[0] == text
