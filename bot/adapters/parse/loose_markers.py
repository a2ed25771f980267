"""Quote markers that mail clients break apart: attributions spread over blank lines, bare Gmail date lines.

:mod:`.quotes` recognises the tidy forms ("On … wrote:" on one to four adjacent lines). Real clients also emit
(all seen in Discourse's email_reply_trimmer fixtures, which come from real inboxes):

* an attribution whose address was wrapped onto its own lines with blank lines in between
  ("On Thu, 31 Mar 2016 at 11:16 Some One\\n\\n<\\nmailto:Some One <a@b>\\n> wrote:");
* Gmail's localised date line whose "<address>:" tail was lost ("2016-03-03 17:21 GMT+01:00 Some One");
* a date + address line without any verb directly above a quote ("2013/7/20 sam <x@y>" then "| …" lines).

Each rule needs two independent signals (a date-like start *and* a verb / GMT offset / quote below), so an
ordinary sentence that starts with "On Monday" or a date is not taken for a quote header.
"""

from __future__ import annotations

import re

_LINE_CAP = 400
#: How far (in lines, blank ones included) an attribution may be spread.
_SPREAD = 7

_SPREAD_START = re.compile(r"^(?:on|le|am|el|il|op|den|em|w dniu)\s+\S.*\d", re.IGNORECASE)
_SPREAD_END = re.compile(
    r"(?:wrote|a [ée]crit|schrieb|escribi[óo]|ha scritto|schreef|skrev|napisa[łl]|escreveu)\s*:\s*$",
    re.IGNORECASE,
)
#: Gmail's non-English attribution date: "2016-03-03 17:21 GMT+01:00 Name <address>:".
_GMAIL_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2} GMT[+-]\d{1,2}:\d{2} \S")
_DATE_START = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b|^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_QUOTE_MARK = ("> ", ">", "| ", "|")


def _core(line: str) -> str:
    return line[:_LINE_CAP].strip().lstrip("> \t").strip()


def spread_attribution_end(lines: list[str], index: int) -> int:
    """If line ``index`` opens an attribution whose "wrote:" ends a few (possibly blank-separated) lines
    below, the index of that last line; else -1."""
    first = _core(lines[index])
    if len(first) > 120 or first.endswith((".", "!", "?")) or not _SPREAD_START.match(first):
        return -1
    for at in range(index + 1, min(len(lines), index + _SPREAD)):
        core = _core(lines[at])
        if len(core) > 120:
            return -1
        if _SPREAD_END.search(core):
            return at
    return -1


def spread_attribution_at(lines: list[str], index: int) -> bool:
    """Line ``index`` opens an attribution spread over several (possibly blank-separated) lines."""
    return spread_attribution_end(lines, index) >= 0


def date_line_at(lines: list[str], index: int) -> bool:
    """A bare date line heading a quoted mail: Gmail's "YYYY-MM-DD hh:mm GMT+hh:mm Name", or a date and an
    address directly above ``>`` / ``|`` quoted lines."""
    first = _core(lines[index])
    if len(first) > 160 or first.endswith((".", "!", "?")):
        return False
    if _GMAIL_DATE.match(first):
        return True
    if not (_DATE_START.match(first) and _EMAIL.search(first)):
        return False
    following = next((line.strip() for line in lines[index + 1 : index + 4] if line.strip()), "")
    return following.startswith(_QUOTE_MARK)


_HEADER_LINE = re.compile(r"^[\w -]{1,30}\s?:\s")


def forwarded_body(quoted: str) -> str:
    """The body of a bare forward: without its "---- Forwarded message ----" line and header block."""
    lines = quoted.split("\n")
    at = 1 if lines and not _HEADER_LINE.match(lines[0]) else 0
    if at < len(lines) and not _HEADER_LINE.match(lines[at].strip()):
        return quoted  # no header block below the separator: keep everything
    while at < len(lines) and lines[at].strip():
        at += 1  # header lines and their folded continuations, up to the blank line
    body = "\n".join(lines[at:]).strip()
    return body or quoted
