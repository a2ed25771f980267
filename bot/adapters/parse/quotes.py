"""Split a reply into the sender's new text and the quoted conversation below (or inside) it.

Line-based, like github's email_reply_parser and Discourse's email_reply_trimmer: each line is classified once
with anchored, non-backtracking patterns (input lines are capped in length), then the first *hard* marker —
an attribution ("On … wrote:", "Le … a écrit :"), an "Original Message" / "Message d'origine" separator, or an
Outlook header block ("From: … Sent: …", "De : … Envoyé : …") — starts the quote. ``>`` lines above that
marker
are quote too. Signatures, mobile footers and disclaimers are then removed by :mod:`.signature`.
"""

from __future__ import annotations

import re

from bot.adapters.parse.loose_markers import (
    date_line_at,
    forwarded_body,
    spread_attribution_at,
    spread_attribution_end,
)
from bot.adapters.parse.prefilter import may_contain, may_contain_each
from bot.adapters.parse.signature import is_footer, strip_signature

#: Lines are classified on at most this many characters: patterns stay linear even on pathological input.
_LINE_CAP = 400
#: A multi-line attribution ("On Mon, … <\njohn@x> wrote:") spans at most this many lines.
_ATTRIBUTION_SPAN = 4
#: Quoted lines this long were probably wrapped by the client: the next unquoted line continues them.
_WRAP_WIDTH = 60

_WROTE_VERBS = (
    r"(?:wrote|writes|a [ée]crit|[ée]crit|schrieb|schreef"
    r"|escribi[óo]|ha escrit|ha scritto|scritto|escreveu|skrev"
    r"(?: f[øo]lgende)?|napisa[łl](?:\(a\))?|pisze|написал[а]?|kirjoitti|[íi]rta|yazd[ıi]|napsal|geschreven"
    r"|작성|のメッセージ|写道|寫道)"
)
#: An attribution's verb at the very end of a line, before an optional colon.
_WROTE = re.compile(_WROTE_VERBS + r"\s*[:：]?\s*$", re.IGNORECASE)
#: The verb alone, ending the text; a verb is at most this many characters long (checked by the tests).
_WROTE_AT_END = re.compile(_WROTE_VERBS + r"\Z", re.IGNORECASE)
_WROTE_MAX_CHARS = 14
_ATTRIBUTION_START = re.compile(
    r"^(?:on|le|am|el|il|op|den|em|w dniu|dne|p[åa]|le\s|\d{1,4}[./-]|\S+\.\s\d{1,2}\.|在|\d{4}/)",
    re.IGNORECASE,
)
_VERB_ANYWHERE = re.compile(
    r"\b(?:wrote|schrieb|skrev|a [ée]crit|escribi[óo]|scritto|schreef|napisa[łl]|pisze)\b", re.I
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_HAS_DIGIT = re.compile(r"\d")

_FROM_KEYS = (
    r"from|de|von|van|da|od|fra|fr[åa]n|l[äa]hett[äa]j[äa]|felad[óo]|от|exp[ée]diteur|envoy[ée] par"
    r"|发件人|寄件者|差出人"
)
_OTHER_KEYS = (
    r"sent|envoy[ée]|date|to|[àa]|subject|objet|cc|gesendet|datum|an|betreff|enviado|para|asunto|fecha"
    r"|verzonden|aan|onderwerp|verstuurd|inviato|oggetto|data|a|wys[łl]ano|temat|do|skickat|[äa]mne|till"
    r"|sendt|emne|til|kopie|reply-to|r[ée]pondre [àa]"
    r"|发送时间|收件人|主题|日期|抄送|送信日時|宛先|件名|отправлено|кому|тема"
)
_FROM_HEADER = re.compile(rf"^[*_]{{0,2}}(?:{_FROM_KEYS})[*_]{{0,2}}\s?[:：][*_]{{0,2}}\s*\S", re.IGNORECASE)
_OTHER_HEADER = re.compile(rf"^[*_]{{0,2}}(?:{_OTHER_KEYS}|{_FROM_KEYS})[*_]{{0,2}}\s?[:：]", re.IGNORECASE)

_SEPARATOR_PHRASES = frozenset(
    {
        "original message", "message d'origine", "message d’origine", "mail original", "courriel original",
        "message original", "forwarded message", "forwarded message follows", "message transféré",
        "message transfere", "ursprüngliche nachricht", "ursprungliche nachricht",
        "weitergeleitete nachricht",
        "mensaje original", "mensaje reenviado", "messaggio originale", "messaggio inoltrato",
        "oorspronkelijk bericht", "doorgestuurd bericht", "original meddelelse", "opprinnelig melding",
        "originalmeddelande", "alkuperäinen viesti", "wiadomość oryginalna", "mensagem original",
        "mensagem encaminhada", "original e-mail", "e-mail original", "reply message", "message",
    }
)  # fmt: skip
_FORWARD_LINES = re.compile(
    r"^(?:begin forwarded message|d[ée]but du message r[ée]exp[ée]di[ée]"
    r"|anfang der weitergeleiteten nachricht"
    r"|inicio del mensaje reenviado|inizio messaggio inoltrato)\s*:?\s*$",
    re.IGNORECASE,
)
#: Each :data:`_FORWARD_LINES` phrase contains one of these (lower-case).
_FORWARD_KEYWORDS = ("begin forwarded", "but du message", "anfang der", "inicio del", "inizio messaggio")
#: Each :data:`_REPLY_ABOVE` phrase contains one of these: without any, the search is skipped.
_REPLY_ABOVE_KEYWORDS = ("above", "au-dessus", "oberhalb", "encima", "sopra")
_REPLY_ABOVE = re.compile(
    r"(?:reply above this line|r[ée]pondez au-dessus de cette ligne|antwort oberhalb dieser zeile"
    r"|responda por encima de esta l[íi]nea|rispondi sopra questa riga|please type your reply above)",
    re.IGNORECASE,
)
_RULE = re.compile(r"^[-_=*~]{5,}$")
#: A separator left dangling at the end of the new text ("---" above Discourse's "Previous Replies").
_TRAILING_RULE = re.compile(r"^[-_=*~]{3,}$")
#: Digest-style markers that head the quoted history without any rule ("*Previous Replies*" in Discourse).
_HISTORY_MARKERS = frozenset({"previous replies", "réponses précédentes", "vorherige antworten"})
_HISTORY_KEYWORDS = tuple(sorted(_HISTORY_MARKERS))
#: "-------- Oprindelig besked --------": a short phrase framed by rules is a separator in any language.
_FRAMED = re.compile(r"^[-_=]{3,}\s?[^\W\d_][^\d\n]{2,40}?\s?[-_=]{3,}$")
_STRIP_DECOR = " \t-_=*>~"


def _clean(line: str) -> str:
    return line[:_LINE_CAP].strip()


def _unquote(line: str) -> str:
    """The line without leading ``>`` quote marks (Apple Mail quotes its own attribution)."""
    return line.lstrip("> \t")


#: Which separator forms a text can hold at all: (forward line, "reply above" line, history marker, rule-framed
#: phrase); see :func:`_possible_separators`.
_Possible = tuple[bool, bool, bool, bool]
_ANY_SEPARATOR: _Possible = (True, True, True, True)


def _possible_separators(text: str) -> _Possible:
    """Whole-text checks that rule separator forms out for every line at once (most replies hold none).

    Each is a necessary condition of the per-line test it stands for: a line's phrase is in the text's lower-case
    form wherever it is in the line's (``str.lower`` maps characters one by one, and none of the phrases holds a
    sigma, the only letter whose lower case depends on its neighbours; see :mod:`.prefilter` for ``re``'s
    case-insensitive matching).
    """
    # The history markers are compared with str.lower, not re: the unusual folds play no part there, but one
    # more group costs less than a second lower-casing.
    forward, above, history = may_contain_each(text, _FORWARD_KEYWORDS, _REPLY_ABOVE_KEYWORDS, _HISTORY_KEYWORDS)
    ruled = text.count("-") >= 2 or text.count("_") >= 2 or text.count("=") >= 2
    return forward, above, history, ruled


def _is_separator(line: str, possible: _Possible = _ANY_SEPARATOR) -> bool:
    forward, above, history, ruled = possible
    core = _unquote(line)
    if forward and _FORWARD_LINES.match(core):
        return True
    if above and may_contain(core, _REPLY_ABOVE_KEYWORDS) and _REPLY_ABOVE.search(core):
        return True
    if history and core.strip("*_ ").lower() in _HISTORY_MARKERS:
        return True
    if not ruled or (core.count("-") < 2 and core.count("_") < 2 and core.count("=") < 2):
        return False  # cheap exit before the phrase checks
    phrase = core.strip(_STRIP_DECOR).lower()
    return phrase in _SEPARATOR_PHRASES or (_FRAMED.match(core) is not None and len(phrase.split()) <= 5)


def _wrote_at_end(text: str) -> bool:
    """``_WROTE.search(text) is not None``, found from the end of ``text``.

    An unanchored search tries every alternative at every position (tens of µs per line); the match must end
    the text, so only the last characters, once trailing spaces and one colon are set aside, can hold it
    (no verb ends with a space or a colon, so that setting aside is unambiguous).
    """
    end = text.rstrip()
    if end.endswith((":", "：")):
        end = end[:-1].rstrip()
    # Every verb ends with a letter (or the ")" of "napisał(a)"), and case-insensitive matching pairs letters
    # with letters only: a line ending with a digit or punctuation, as most do, needs no search.
    last = end[-1:]
    if not (last.isalpha() or last == ")"):
        return False
    return _WROTE_AT_END.search(end[-_WROTE_MAX_CHARS:]) is not None


def _attribution_core(line: str) -> str:
    return _unquote(_clean(line)).strip("-– ").strip()


def _ends_attribution(core: str) -> bool:
    tail = core[-60:]
    return core.endswith((":", "：", "작성", "のメッセージ")) or _wrote_at_end(tail)


def _attribution_start(lines: list[str], index: int) -> int:
    """If line ``index`` ends an attribution, the index of its first line; else -1.

    Scanning from the *end* line backwards (at most a few non-blank lines) keeps a paragraph that merely
    precedes the attribution out of it.
    """
    core = _attribution_core(lines[index])
    if not core or not _ends_attribution(core):
        return -1
    joined = core
    for back in range(_ATTRIBUTION_SPAN):
        at = index - back
        if back:
            if at < 0:
                break
            previous = _attribution_core(lines[at])
            if not previous or _ends_attribution(previous):
                break
            joined = f"{previous} {joined}"
        if len(joined) > 3 * _LINE_CAP:
            break
        if _is_attribution(joined, lines, index):
            # Prefer the longest span whose first line looks like an attribution start.
            for further in range(back + 1, _ATTRIBUTION_SPAN):
                earlier = index - further
                if earlier < 0:
                    break
                prev = _attribution_core(lines[earlier])
                if not prev or _ends_attribution(prev):
                    break
                candidate = f"{prev} {joined}"
                dated_line = _HAS_DIGIT.search(prev) and len(prev) < 80 and not prev.endswith((".", "!", "?"))
                looks_like = _ATTRIBUTION_START.match(candidate) or dated_line
                if looks_like and _is_attribution(candidate, lines, index):
                    at, joined = earlier, candidate
            return at
    return -1


def _is_attribution(joined: str, lines: list[str], end: int) -> bool:
    verb_at_end = _wrote_at_end(joined[-60:])
    starts_like = _ATTRIBUTION_START.match(joined) is not None
    has_address = _EMAIL.search(joined) is not None
    has_digit = _HAS_DIGIT.search(joined) is not None
    if verb_at_end and (starts_like or has_address or has_digit):
        return True
    if verb_at_end and _next_is_quoted(lines, end + 1):
        return True
    if not joined.endswith((":", "：")) or len(joined) > 250:
        return False
    if starts_like and has_digit and _VERB_ANYWHERE.search(joined):
        return True  # "Am 25.06.2015 um 10:55 schrieb Test user:"
    # "2014-03-09 20:48 GMT+01:00 Rémi Dolan <r@d.com>:" (Gmail in some locales)
    return has_address and has_digit and len(joined) < 200


def _next_is_quoted(lines: list[str], start: int) -> bool:
    for line in lines[start : start + 3]:
        if line.strip():
            return line.lstrip().startswith(">")
    return False


def _header_block_at(lines: list[str], index: int) -> bool:
    first = _unquote(_clean(lines[index]))
    if ":" not in first and "：" not in first:
        return False  # _FROM_HEADER needs its colon: most lines are decided without running it
    if not _FROM_HEADER.match(first):
        return False
    seen = 0
    for line in lines[index + 1 : index + 8]:
        cleaned = _unquote(_clean(line))
        if not cleaned:
            continue
        if _OTHER_HEADER.match(cleaned):
            return True
        seen += 1
        if seen > 1:
            break
    # A lone "From: someone <a@b>" line (no Sent/To below) still introduces a quoted mail.
    return _EMAIL.search(first) is not None


def _rule_before_header(lines: list[str], index: int) -> bool:
    """``____`` / ``-----`` lines start the quote only when a header block follows (Outlook, Hotmail)."""
    if not _RULE.match(_unquote(_clean(lines[index]))):
        return False
    for at in range(index + 1, min(len(lines), index + 4)):
        cleaned = _unquote(_clean(lines[at]))
        if cleaned:
            return _OTHER_HEADER.match(cleaned) is not None
    return False


def find_quote_start(lines: list[str]) -> int:
    """Index of the first line of the quoted part (a hard marker), or ``len(lines)`` when there is none."""
    # Whole-text checks rule out most markers before the per-line work (most replies are a few short lines with
    # neither): an Outlook header block, a rule above one, a spread attribution's "wrote:" and a Gmail date line
    # all need a colon; the other date line needs an address's "@".
    text = "\n".join(lines)
    colon = ":" in text or "：" in text
    dated = colon or "@" in text
    possible = _possible_separators(text)
    for index, raw in enumerate(lines):
        line = _clean(raw)
        if not line:
            continue
        if _is_separator(line, possible):
            return index
        if colon and (
            _rule_before_header(lines, index) or _header_block_at(lines, index) or spread_attribution_at(lines, index)
        ):
            return index
        if dated and date_line_at(lines, index):
            return index
        begin = _attribution_start(lines, index)
        if begin >= 0:
            return begin
    return len(lines)


def split_reply(text: str, sender: str = "", sender_name: str = "") -> tuple[str, str]:
    """Split ``text`` into ``(new_text, quoted_text)``.

    ``new_text`` is what the sender wrote, without quotes, signature, mobile footer or disclaimer;
    ``quoted_text`` is the quoted conversation (reminders we sent, earlier messages) that was removed.
    ``sender`` / ``sender_name`` (address and display name of From), when known, let a trailing block
    that names the sender be recognised as a signature (as talon does).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    start = find_quote_start(lines)
    # A mobile footer ("Sent from my iPhone") ends the new text even when the quote below has no marker.
    footer = next((i for i in range(1, start) if is_footer(lines[i])), None)
    if footer is not None:
        head, quoted = lines[:footer], lines[footer + 1 :]
    else:
        head, quoted = lines[:start], lines[start:]

    # ">" lines at the end of the new text belong to the quote (a quote with no attribution line).
    end = len(head)
    while end > 0 and (not head[end - 1].strip() or head[end - 1].lstrip().startswith(">")):
        end -= 1
    if any(line.lstrip().startswith(">") for line in head[end:]):
        quoted = head[end:] + quoted
        head = head[:end]
    # Inline answers (quote, answer, quote, answer): keep the answers only. Discourse's email_reply_trimmer
    # keeps ">" blocks embedded between answers (and a body that is only a quote); github's parser hides them
    # too when they trail. We never pass quoted lines on: they are usually our own reminder, and the
    # classifier must not read its words as the debtor's.
    if any(line.lstrip().startswith(">") for line in head):
        quoted = [line for line in head if line.lstrip().startswith(">")] + quoted
        head = [line for line in head if not line.lstrip().startswith(">")]
    if footer is None:
        answer, quoted = _bottom_posted(quoted)
        head = head + answer

    # A rule left dangling above the quote is decoration, never content. CONFLICT (corpora MANIFEST,
    # email_2_1): github/email_reply_parser drops the "------" line above an Outlook header, alfonsrv keeps it
    # in the reply; we follow github, since the classifier must read words, not separators.
    while head and (not head[-1].strip() or _TRAILING_RULE.match(_clean(head[-1]))):
        head.pop()
    new_text = strip_signature("\n".join(head), sender=sender, sender_name=sender_name).strip()
    quoted_text = "\n".join(quoted).strip()
    if not new_text and quoted_text and start == 0 and _is_forward(lines):
        # A bare forward ("TR:" with nothing above): the forwarded mail's body is all there is to read;
        # its separator and header block (From/Date/Subject/To) are not the sender's words.
        return forwarded_body(quoted_text), ""
    return new_text, quoted_text


def _bottom_posted(quoted: list[str]) -> tuple[list[str], list[str]]:
    """Nothing above the quote: the answer may sit below ("On … wrote:", "> …" lines, then the answer)."""
    if not quoted:
        return [], quoted
    # Skip the attribution itself: it may end on a later line ("On …, A <\na@b> wrote:").
    ends = (at + 1 for at in range(min(len(quoted), _ATTRIBUTION_SPAN)) if _attribution_start(quoted, at) == 0)
    index = next(ends, spread_attribution_end(quoted, 0) + 1 or 1)
    while index < len(quoted) and _attribution_start(quoted, index) == -1 and index < _ATTRIBUTION_SPAN:
        if quoted[index].lstrip().startswith(">"):
            break
        index += 1
    saw_quote = False
    while index < len(quoted) and (not quoted[index].strip() or quoted[index].lstrip().startswith(">")):
        saw_quote = saw_quote or quoted[index].lstrip().startswith(">")
        index += 1
    if not saw_quote or index >= len(quoted):
        return [], quoted
    if len(quoted[index - 1].strip()) >= _WRAP_WIDTH:
        # Glued under a full-width quoted line, it is that line's wrapped tail ("> … pharetra d\nignissim odio?"),
        # not an answer (Thunderbird's "> Hi\nHello" is one).
        return [], quoted
    rest = quoted[index:]
    if find_quote_start(rest) == 0:
        return [], quoted
    answer = [line for line in rest if not line.lstrip().startswith(">")]
    removed = quoted[:index] + [line for line in rest if line.lstrip().startswith(">")]
    return answer, removed


def _is_forward(lines: list[str]) -> bool:
    first = next((_clean(line) for line in lines if line.strip()), "")
    phrase = _unquote(first).strip(_STRIP_DECOR).lower()
    return "forward" in phrase or "transf" in phrase or "weitergeleitet" in phrase or bool(_FORWARD_LINES.match(first))
