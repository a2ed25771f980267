"""Cheap pre-checks in the reply splitter and the signature stripper decide exactly as the patterns they guard."""

from __future__ import annotations

import random
import re
from pathlib import Path

from bot.adapters.parse import quotes, signature

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _first_chars(items: object) -> set[str] | None:
    """Characters a match of a parsed pattern can open on (None: any character); zero-width openers skipped."""
    from re import _constants as c  # type: ignore[attr-defined]

    out: set[str] = set()
    for op, arg in items:  # type: ignore[attr-defined]
        if op is c.AT:
            continue
        if op is c.LITERAL:
            return out | {chr(arg)}
        if op is c.IN:
            if not all(kind is c.LITERAL for kind, _ in arg):
                return None
            return out | {chr(code) for _, code in arg}
        if op is c.BRANCH:
            found: set[str] = set()
            for branch in arg[1]:
                chars = _first_chars(branch)
                if chars is None:
                    return None
                found |= chars
            return out | found
        if op is c.SUBPATTERN:
            chars = _first_chars(arg[-1])
            return None if chars is None else out | chars
        if op in (c.MAX_REPEAT, c.MIN_REPEAT):
            chars = _first_chars(arg[2])
            if chars is None:
                return None
            out |= chars
            if arg[0] > 0:
                return out
            continue
        return None
    return None  # the pattern can match the empty string: no character is required


def _lines() -> list[str]:
    lines = [
        line
        for path in sorted(FIXTURES.rglob("*.eml"))
        for line in path.read_bytes().decode("utf-8", "replace").splitlines()
    ]
    return lines + [
        "Sent from my iPhone", "ſent from my iPhone", "Envoyé de mon iPhone", "Get Outlook for iOS", "Cordialement,",
        " Regards", "Thanks again!", "Mit freundlichen Grüßen", "İnviato da il mio iPhone", "tel: 01 23 45 67 89",
        "Tél. +33 1 23 45 67 89", "https://example.test", "WWW.EXAMPLE.TEST", "Jean Dupont", "jean@x.test",
        "Mobile 06.12.34.56.78", "Service comptable C001000", "LIGNE DIRECTE", "lıgne directe", "Fax", "ſ", "",
    ]  # fmt: skip


def test_first_character_sets_cover_every_match() -> None:
    for pattern, first in (
        (signature._FOOTER, signature._FOOTER_FIRST),
        (signature._SIGN_OFF, signature._SIGN_OFF_FIRST),
    ):
        chars = _first_chars(re._parser.parse(pattern.pattern, pattern.flags))  # type: ignore[attr-defined]
        assert chars is not None
        assert {ch.lower() for ch in chars} <= first
        # Every ASCII character the pattern's first position matches ignoring case is in the set (lower-cased).
        for code in range(128):
            if any(re.fullmatch(re.escape(ch), chr(code), re.IGNORECASE) for ch in chars):
                assert chr(code).lower() in first, (pattern.pattern[:30], chr(code))


def test_gated_patterns_agree_with_the_patterns_on_every_line() -> None:
    for line in _lines():
        stripped = line[: signature._LINE_CAP].strip()
        assert signature.is_footer(line) == (signature._FOOTER.match(stripped) is not None), line
        assert signature._has_contact(line) == (signature._CONTACT.search(line) is not None), line
        gated = signature._may_start(stripped, signature._SIGN_OFF_FIRST) and signature._SIGN_OFF.match(stripped)
        assert bool(gated) == (signature._SIGN_OFF.match(stripped) is not None), line


def test_contact_check_agrees_with_the_search_on_random_lines() -> None:
    rng = random.Random(11)
    pieces = [
        "tel",
        "TÉL",
        "phone",
        "mob",
        "fax",
        "@",
        "www.",
        "http",
        "1",
        "23",
        " ",
        ".",
        "(",
        ")",
        "-",
        "+",
        "a",
        "ı",
    ]
    for _ in range(20_000):
        line = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        assert signature._has_contact(line) == (signature._CONTACT.search(line) is not None), repr(line)


def test_whole_text_separator_checks_agree_with_the_line_checks() -> None:
    texts = ["\n".join(_lines())]
    texts += [path.read_bytes().decode("utf-8", "replace") for path in sorted(FIXTURES.rglob("*.eml"))]
    texts += [
        "Begin forwarded message:", "DÉBUT DU MESSAGE RÉEXPÉDIÉ :", "---- Original Message ----", "*Previous Replies*",
        "Please type your reply above this line", "Inızıo messaggio inoltrato", "== message ==", "plain text only",
    ]  # fmt: skip
    for text in texts:
        possible = quotes._possible_separators(text)
        for raw in text.split("\n"):
            line = quotes._clean(raw)
            if line:
                assert quotes._is_separator(line, possible) == quotes._is_separator(line), line
        lines = text.split("\n")
        assert quotes.find_quote_start(lines) == _find_quote_start_unfiltered(lines)


def _find_quote_start_unfiltered(lines: list[str]) -> int:
    for index, raw in enumerate(lines):
        line = quotes._clean(raw)
        if not line:
            continue
        if quotes._is_separator(line):
            return index
        if quotes._rule_before_header(lines, index) or quotes._header_block_at(lines, index):
            return index
        if quotes.spread_attribution_at(lines, index) or quotes.date_line_at(lines, index):
            return index
        begin = quotes._attribution_start(lines, index)
        if begin >= 0:
            return begin
    return len(lines)
