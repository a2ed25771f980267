"""Recognise automatic replies: out-of-office notices, vacation responders, ticket acks, read receipts.

RFC 3834 headers (``Auto-Submitted`` other than ``no``, ``X-Autoreply``, ``X-Autorespond``,
``Precedence: auto_reply``) decide alone. Weak signals — ``Precedence: bulk/junk/list`` and
``X-Auto-Response-Suppress`` (Outlook puts it on ordinary mail too) — never decide alone; they are only
reported next to a subject or body phrase. Subject prefixes and body phrases in the common European
languages decide when no header is present, because many responders send none. Bounces are not
auto-replies: the caller checks bounces first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from email.message import Message

from bot.adapters.parse.mime import get_header
from bot.adapters.parse.prefilter import may_contain
from bot.adapters.parse.return_date import find_return_date

_SUBJECT = re.compile(
    r"^(?:(?:re|tr|fw|fwd|aw|wg)\s*:\s*)*\[?(?:automatic reply"
    r"|auto(?:matic)?[- ]?(?:reply|response)|auto\s*:|autoreply"
    r"|out of (?:the )?office|ooo\b|away from (?:the )?office"
    r"|on vacation|vacation(?: reply| notice)?\b|on leave|away until"
    r"|r[ée]ponse automatique|r[ée]ponse auto\b"
    r"|message automatique|absent(?:e|\(e\))?\b|absence\b|en cong[ée]s?"
    r"|accus[ée] de r[ée]ception|abwesenheitsnotiz|abwesend|automatische antwort|fuera de la oficina"
    r"|respuesta autom[áa]tica|risposta automatica|fuori ufficio|automatisch antwoord|afwezig|niet aanwezig"
    r"|resposta autom[áa]tica|fora do escrit[óo]rio|aus(?:ser| )?(?:haus|büro)|auto generated|autosvar|poissa"
    r"|request received|ticket received|we received your|nous avons bien re[çc]u|message re[çc]u)",
    re.IGNORECASE,
)
_TICKET_SUBJECT = re.compile(r"\[(?:ticket|case|request|demande|incident|sr)\s*[#:]?\s*[\w-]*\d", re.IGNORECASE)
_BODY_STRONG = re.compile(
    r"(?:\b(?:je suis|je serai|nous sommes|i am|i'm|i will be|we are)\s+(?:actuellement\s+|currently\s+)?"
    r"(?:absente?s?|en cong[ée]s?|out of (?:the )?office|away|on (?:annual |parental |maternity |sick )?leave"
    r"|on holiday|on vacation|travelling|traveling|hors du bureau|en d[ée]placement)\b"
    r"|\babsente? du bureau\b|\bout of the office\b|\bwith (?:no|limited|very limited) (?:access to )?e-?mail"
    r"|acc[èe]s limit[ée] [àa] (?:ma|mes) (?:messagerie|mails"
    r"|e-?mails)|\bthis mailbox is (?:no longer|not) monitored"
    r"|\bcette (?:bo[îi]te|adresse) (?:mail |e-mail )?n'est plus (?:consult|surveill|utilis)"
    r"|\bceci est un (?:message|mail|courriel) automatique|\bthis is an automated (?:message|reply|response)"
    r"|\b(?:message|r[ée]ponse) automatique\b|\bautomatic reply\b"
    r"|\bdo not reply to this (?:automated )?(?:message|e-?mail)"
    r"|\bmerci de ne pas r[ée]pondre [àa] ce (?:message|mail|courriel)|\bplease do not reply\b"
    r"|\b(?:your|votre) (?:request|message|e-?mail|demande"
    r"|courriel) (?:has been|a bien [ée]t[ée]|a [ée]t[ée]) (?:received|re[çc]u)"
    r"|\bwe have received your (?:request|message|e-?mail)|\b(?:message|courriel|mail) bien re[çc]u"
    r"|\bnous avons bien re[çc]u votre (?:message|courriel|mail|demande)\b"
    r"|\bil a bien [ée]t[ée] re[çc]u|\bwhich has been received by\b|\bassigned (?:ticket|case) (?:number|#)"
    r"|\bservice (?:comptab\w*|administratif) (?:est )?ferm[ée]"
    r"|\b(?:notre|le) (?:service|bureau|secr[ée]tariat)[\w ]{0,30} est ferm[ée])",
    re.IGNORECASE,
)
#: Every alternative of :data:`_BODY_STRONG` contains one of these (lower-case): without any, it cannot match
#: and the (costly, per character) search is skipped. Keep in step with the pattern; tests check each phrase.
_BODY_KEYWORDS = (
    "je suis", "je serai", "nous sommes", "i am", "i'm", "i will be", "we are", "du bureau",
    "out of the office", "with ", "s limit", "this mailbox is ", "n'est plus ", "ceci est un ",
    "this is an automated ", "automatique", "automatic reply", "do not reply to this ", "merci de ne pas r",
    "please do not reply", "received", "reçu", "recu", "bien re", "assigned ", "ferm",
)  # fmt: skip
_BODY_CHARS = 4000
_RFC3834_PRECEDENCE = frozenset({"auto_reply", "auto-reply"})
_WEAK_PRECEDENCE = frozenset({"bulk", "junk", "list"})


@dataclass(frozen=True)
class AutoReplyVerdict:
    is_auto: bool
    reason: str | None = None
    return_date: date | None = None


def detect_auto_reply(message: Message, subject: str, text: str, sent: date | None) -> AutoReplyVerdict:
    """Decide whether ``message`` is an automatic reply; ``text`` is the sender's new text (no quotes)."""
    reason = _header_reason(message)
    weak = _weak_header_reason(message)
    if reason is None and message.get_content_type() == "multipart/report":
        report = (message.get_param("report-type") or "").__str__().lower()
        if report == "disposition-notification":
            reason = "read receipt (multipart/report; report-type=disposition-notification)"
    if reason is None and _SUBJECT.search(subject[:300]):
        reason = f"subject: {subject[:80]!r}"
    if reason is None and _TICKET_SUBJECT.search(subject[:300]) and _body_phrase(text) is not None:
        reason = f"ticket acknowledgement: {subject[:80]!r}"
    if reason is None:
        body_hit = _body_phrase(text)
        if body_hit is not None:
            reason = f"body: {body_hit.group(0)!r}" + (f" + {weak}" if weak else "")
    if reason is None:
        return AutoReplyVerdict(False)
    return AutoReplyVerdict(True, reason, find_return_date(text, sent))


def _body_phrase(text: str) -> re.Match[str] | None:
    head = text[:_BODY_CHARS]
    return _BODY_STRONG.search(head) if may_contain(head, _BODY_KEYWORDS) else None


def _header_reason(message: Message) -> str | None:
    auto_submitted = get_header(message, "Auto-Submitted").lower()
    # RFC 3834: "no" means a human; "auto-forwarded" is not defined there and Redmine/Discourse treat it as
    # human.
    if auto_submitted and not auto_submitted.startswith(("no", "auto-forwarded")):
        return f"Auto-Submitted: {auto_submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Autogenerated", "X-AutoReply-From"):
        value = get_header(message, name)
        if value and value.lower() not in ("no", "false", "0"):
            return f"{name}: {value}"
    precedence = get_header(message, "Precedence").lower()
    if precedence in _RFC3834_PRECEDENCE:
        return f"Precedence: {precedence}"
    if precedence in _WEAK_PRECEDENCE and not get_header(message, "List-Id"):
        # A list without List-Id is a bulk sender: Discourse treats it as auto-generated.
        return f"Precedence: {precedence} (no List-Id)" if precedence == "list" else None
    return None


def _weak_header_reason(message: Message) -> str | None:
    precedence = get_header(message, "Precedence").lower()
    if precedence in _WEAK_PRECEDENCE:
        return f"Precedence: {precedence}"
    suppress = get_header(message, "X-Auto-Response-Suppress")
    if suppress:
        return f"X-Auto-Response-Suppress: {suppress}"
    return None
