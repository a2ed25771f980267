"""Remove the sender's signature, mobile footer and legal disclaimer from the end of a reply.

Conservative on purpose: a debtor's last sentence ("Sent from my desk, is much easier…", "PS: paid today")
must
survive. Only the bottom of the text is examined, and a block is cut only when everything below its first line
looks like a signature (short lines, contact details, footers).
"""

from __future__ import annotations

import re

from bot.adapters.parse.prefilter import may_contain
from bot.adapters.parse.sender_signature import sender_signature_start, sender_tokens

#: Only the last lines can be a signature.
_TAIL_LINES = 25
_LINE_CAP = 300

# Sources disagree on what a signature is; we drop more rather than less, because a signature is never
# what the classifier needs: github/email_reply_parser hides "-Abhishek Kona" (crisp-oss keeps it on a
# near-identical fixture), Discourse strips "Sent from my iPhone" (talon's quotation tests keep it, as talon
# removes quotes only), crisp-oss does not treat an em-dash line as a delimiter (Apple/Spark put "—" above
# signatures, so we do). One exception kept on purpose: without the sender's identity, "Regards,\nJohn Doe"
# stays (crisp-oss drops it), because a closing line can carry meaning ("Merci d'avance") and costs nothing.
_DELIMITER = re.compile(r"^(?:--|—|__|-- )\s*$")
_RULE = re.compile(r"^[-_=*]{4,}$")
#: The first character of every :data:`_DELIMITER`, :data:`_RULE` and :data:`_DASH_NAME` line.
_RULE_FIRST = frozenset("-—_=*")
_DASH_NAME = re.compile(r"^-[^\W\d_][\w.'’-]*(?: [\w.'’-]+){0,3}$")
_FOOTER = re.compile(
    r"^(?:sent from (?:my )?[\w-]+(?: [\w-]+){0,3}"
    r"|sent from (?:mail|outlook|yahoo mail|my mobile|samsung mobile)"
    r"(?: for [\w ]{1,30})?|sent (?:from|with"
    r"|via) (?:[\w-]+ ){0,3}(?:iphone|ipad|android|blackberry|mobile|sparrow)"
    r"(?: [\w ()./:-]{0,60})?|sent from (?:my )?(?:[\w-]+ ){0,3}(?:phone|device|smartphone|tablet)"
    r"|get outlook for (?:ios|android)|envoy[ée] (?:de|depuis) (?:mon |ma |l'application )?[\w -]{2,30}"
    r"|t[ée]l[ée]charger outlook pour (?:ios|android)|obtenir outlook pour (?:ios|android)"
    r"|gesendet von meinem [\w -]{2,30}|von meinem [\w -]{2,30} gesendet|enviado desde mi [\w -]{2,30}"
    r"|inviato da(?: il mio)? [\w -]{2,30}|verzonden (?:vanaf|met) (?:mijn )?[\w -]{2,30}"
    r"|sendt fra min [\w -]{2,30}|skickat fr[åa]n min [\w -]{2,30}|verstuurd vanaf mijn [\w -]{2,30}"
    r"|enviado do meu [\w -]{2,30}|wys[łl]ane z (?:mojego )?[\w -]{2,30}"
    r"|sent using [\w -]{2,40}|sent from mail for windows(?: 10| 11)?|envoy[ée] [àa] partir de [\w -]{2,40}"
    r"|gesendet von [\w -]{2,30}(?:für|for) (?:ios"
    r"|android))[.!]?\s*(?:<[^<>\s]{1,200}>|\([^()\s]{1,200}\))?\s*$",
    re.IGNORECASE,
)
_DISCLAIMER = re.compile(
    r"^(?:confidential|confidentialit[ée]|avis de confidentialit[ée]"
    r"|disclaimer|avertissement|important notice"
    r"|this (?:e-?mail|message|communication)(?: and any (?:attachments?|files?))?(?: transmitted with it)?"
    r" (?:is|are|may|contains?|and)"
    r"|the information (?:contained )?in this (?:e-?mail|message)|ce (?:message|courriel|mail|e-mail)"
    r"(?: et (?:toutes )?(?:les|ses) pi[èe]ces jointes)? (?:est|sont|et|peu|contien|ne )"
    r"|les informations contenues dans ce|le pr[ée]sent (?:message|courriel)|pensez? [àa] l'environnement"
    r"|please consider the environment|p please consider|think before you print|caution: this email)",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"^(?:(?:bien |tr[èe]s )?cordialement|bien [àa] vous"
    r"|(?:bien )?sinc[èe]rement|salutations(?: distingu[ée]es)?"
    r"|bonne (?:journ[ée]e|soir[ée]e)|merci(?: d'avance| beaucoup| encore)?|(?:best|kind|warm|many)? ?regards"
    r"|best(?: wishes)?|cheers|thanks(?: again| a lot)?"
    r"|thank you|many thanks|sincerely|yours(?: sincerely| faithfully)?"
    r"|mit freundlichen gr[üu](?:ß|ss)en|viele gr[üu](?:ß"
    r"|ss)e|saludos|cordiali saluti|met vriendelijke groet)"
    r"\s*[,.!]?\s*$",
    re.IGNORECASE,
)
_CONTACT = re.compile(
    r"(?:@|https?://|www\.|\+?\d[\d .()-]{6,}\d|\b(?:t[ée]l"
    r"|tel|phone|mobile|mob|fax|portable|ligne directe)\b)",
    re.IGNORECASE,
)
_NAME_LIKE = re.compile(r"^[^\W\d_][\w.'’&-]*(?: [\w.'’&()-]+){0,5}$")
#: The lower-case first characters of every :data:`_FOOTER` / :data:`_SIGN_OFF` match (checked by the tests):
#: a line opening on another ASCII character cannot match, and is not tried (each costs a few µs per line).
_FOOTER_FIRST = frozenset("egiostvw")
_SIGN_OFF_FIRST = frozenset("bckmrstvwy ")
#: Each :data:`_CONTACT` alternative but the phone number contains one of these; a phone number contains a match
#: of :data:`_PHONE_LIKE`. A line with neither (most lines) is not searched: the search, case-insensitive and
#: opening on an alternation, is tried at every character.
_CONTACT_KEYWORDS = ("@", "http", "www.", "tel", "tél", "phone", "mob", "fax", "portable", "ligne directe")
_PHONE_LIKE = re.compile(r"\d[\d .()-]{6,}\d")


def _may_start(line: str, first: frozenset[str]) -> bool:
    """False only when ``line`` opens on an ASCII character none of the pattern's matches opens on."""
    head = line[:1]
    return head.lower() in first or not head.isascii()


def _has_contact(line: str) -> bool:
    """``_CONTACT.search(line) is not None``."""
    if not may_contain(line, _CONTACT_KEYWORDS) and _PHONE_LIKE.search(line) is None:
        return False
    return _CONTACT.search(line) is not None


def is_footer(line: str) -> bool:
    """A mobile/webmail footer line ("Sent from my iPhone", "Envoyé de mon iPhone", "Get Outlook for iOS")."""
    line = line[:_LINE_CAP].strip()
    return _may_start(line, _FOOTER_FIRST) and _FOOTER.match(line) is not None


def strip_signature(text: str, sender: str = "", sender_name: str = "") -> str:
    """Return ``text`` without its trailing signature block, footer or disclaimer.

    With the sender's address / display name, a short trailing block naming them is a signature too.
    """
    # Gmail appends an invisible tracking mark ("ᐧ", U+1427) on a line of its own.
    lines = text.replace("\u1427", "").rstrip().split("\n")
    if not lines:
        return text
    low = max(0, len(lines) - _TAIL_LINES)
    cut = len(lines)

    # 1. Standard delimiters and mobile footers: cut at the first one in the tail.
    for index in range(low, len(lines)):
        line = lines[index][:_LINE_CAP].strip()
        if line[:1] not in _RULE_FIRST:
            # Delimiters, rules and "-Name" lines all open on one of these characters (most lines do not).
            if index > 0 and _may_start(line, _FOOTER_FIRST) and _FOOTER.match(line):
                cut = index
                break
            continue
        if index > 0 and (_DELIMITER.match(line) or is_footer(line)):
            cut = index
            break
        if index > 0 and _RULE.match(line) and len(lines) - index <= 8 and _only_short_below(lines, index):
            cut = index  # "____\nriak-users mailing list\n…" list footer or a ruled signature
            break
        if index > 0 and _DASH_NAME.match(line) and _only_short_below(lines, index) and len(lines) - index <= 8:
            cut = index
            break

    # 2. A legal disclaimer paragraph near the end.
    for index in range(low, cut):
        # A disclaimer opens a paragraph: the blank line above is checked first, it is cheaper than the pattern.
        if index > 0 and not lines[index - 1].strip() and _DISCLAIMER.match(lines[index][:_LINE_CAP].strip()):
            cut = index
            break

    # 3. A short trailing block that names the sender ("Thank you,\nNoam"), sign-off included.
    cut = sender_signature_start(lines, cut, sender_tokens(sender, sender_name), _SIGN_OFF)
    # 4. "Cordialement,\nName\nTitle\nCompany\nTel…": keep the sign-off and the name, drop the contact block.
    cut = _trim_after_sign_off(lines, low, cut)
    cut = _trim_contact_block(lines, cut)
    kept = "\n".join(lines[:cut]).rstrip()
    return kept if kept.strip() else text.strip()


def _only_short_below(lines: list[str], index: int) -> bool:
    return all(len(line.strip()) < 100 for line in lines[index + 1 :])


def _trim_after_sign_off(lines: list[str], low: int, cut: int) -> int:
    for index in range(max(low, cut - 12), cut):
        line = lines[index][:_LINE_CAP].strip()
        if not (_may_start(line, _SIGN_OFF_FIRST) and _SIGN_OFF.match(line)):
            continue
        below = [(at, lines[at].strip()) for at in range(index + 1, cut) if lines[at].strip()]
        if not below:
            return cut
        # A postscript or a real sentence below the sign-off means it was not the end of the message.
        if any(text.lower().startswith(("ps", "p.s", "n.b", "nb")) or len(text) > 80 for _, text in below):
            return cut
        name_at, name = below[0]
        if not _NAME_LIKE.match(name) or _has_contact(name):
            return cut
        rest = below[1:]
        if rest and (len(rest) >= 2 or any(_has_contact(text) for _, text in rest)):
            return name_at + 1
        return cut
    return cut


def _trim_contact_block(lines: list[str], cut: int) -> int:
    """A last paragraph "Name / mail / phone / web" (short lines, contact details) is a signature."""
    end = cut
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    start = end
    while start > 0 and lines[start - 1].strip():
        start -= 1
    block = [line.strip() for line in lines[start:end]]
    if start == 0 or not 2 <= len(block) <= 6 or any(len(line) > 50 for line in block):
        return cut
    # The name line is looked at first: it rules most blocks out before any line is searched for contacts.
    if not _NAME_LIKE.match(block[0]) or _has_contact(block[0]):
        return cut
    contacts = sum(1 for line in block[1:] if _has_contact(line))
    return start if contacts >= max(1, len(block) - 2) else cut
