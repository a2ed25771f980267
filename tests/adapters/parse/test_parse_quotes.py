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
            "Paid today.\n\nOn Mon, Oct 5, 2026 at 9:19 AM Credit Control <\ncc@x.example> wrote:\n"
            "> Reminder",
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
