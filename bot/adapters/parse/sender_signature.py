"""Talon-style signature detection: a short trailing block that names the sender is their signature.

Without a "-- " delimiter, a signature is only recognisable by what it says. The strongest clue, used by
mailgun/talon, is the sender's own name or address: "Thank you,\\nNoam", "Me John Doe\\n…\\nt. 555-…",
"John E. Doe, Ph.D.\\nPresident\\njohn@example.com". The rule stays conservative: the named line must sit in the
last few lines, everything below it must be short, and only sign-offs, rules and logo placeholders directly
above it are taken along. A sentence ("We pay on Friday.") is never absorbed.
"""

from __future__ import annotations

import re

_LINE_CAP = 300
#: The sender's line must be among the last lines (blank ones count: sparse signatures are double-spaced),
#: and what follows must be a short block.
_WINDOW = 20
_MAX_BELOW = 10
_MAX_NAMED_LINE = 50
_MAX_NAMED_WORDS = 6
_MAX_BLOCK_LINE = 60
_RULE = re.compile(r"^[-_=*~]{3,}$")
#: A lone placeholder such as a logo's alt text ("AM_LOGO_CLR") or initials: no lower-case letters.
_PLACEHOLDER = re.compile(r"^[^\sa-zà-ÿ]{2,30}$")
_TOKEN_SPLIT = re.compile(r"[\s._+,()\"'-]+")


def sender_tokens(sender: str, sender_name: str) -> tuple[str, ...]:
    """Lower-cased words that identify the sender: display-name words, address local-part pieces, address."""
    tokens: dict[str, None] = {}
    address = sender.strip().lower()
    if "@" in address:
        tokens[address] = None
        local = address.split("@", 1)[0]
    else:
        local = ""
    for word in _TOKEN_SPLIT.split(f"{sender_name} {local}".lower()):
        if len(word) >= 3 and word.isalpha():
            tokens[word] = None
    return tuple(tokens)


def _names_sender(line: str, tokens: tuple[str, ...]) -> bool:
    low = line.lower()
    for token in tokens:
        at = low.find(token)
        while at >= 0:
            end = at + len(token)
            # Whole words only ("Noam", not "Noam" inside "Noamsky"); an address matches anywhere.
            if "@" in token or ((at == 0 or not low[at - 1].isalpha()) and (end == len(low) or not low[end].isalpha())):
                return True
            at = low.find(token, at + 1)
    return False


def _signature_like(line: str) -> bool:
    """A name/title/contact line, not a sentence that mentions the sender ("Noam asked me to …")."""
    return len(line) <= _MAX_NAMED_LINE and len(line.split()) <= _MAX_NAMED_WORDS and not line.endswith(("?", "!"))


def sender_signature_start(lines: list[str], cut: int, tokens: tuple[str, ...], is_sign_off: re.Pattern[str]) -> int:
    """Index where a trailing signature naming the sender starts (in ``lines[:cut]``), else ``cut``."""
    if not tokens:
        return cut
    first_text = next((i for i, line in enumerate(lines[:cut]) if line.strip()), cut)
    named = -1
    for index in range(max(first_text + 1, cut - _WINDOW), cut):
        line = lines[index][:_LINE_CAP].strip()
        if line and _signature_like(line) and _names_sender(line, tokens):
            named = index
            break
    if named < 0:
        return cut
    below = [line.strip() for line in lines[named:cut] if line.strip()]
    if len(below) > _MAX_BELOW or any(len(line) > _MAX_BLOCK_LINE for line in below):
        return cut
    start = named
    at = named - 1
    while at > first_text:
        line = lines[at][:_LINE_CAP].strip()
        if line and not (is_sign_off.match(line) or _RULE.match(line) or _PLACEHOLDER.match(line)):
            break
        if line:
            start = at
        at -= 1
    return start
