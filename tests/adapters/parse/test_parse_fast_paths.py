"""The parse adapter's shortcuts give exactly what the slow paths they skip would give."""

from __future__ import annotations

import email
import random
import re
import sys
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parseaddr
from pathlib import Path

import pytest

from bot.adapters.parse import autoreply, bounce, quotes
from bot.adapters.parse.feed import _SIMPLE_CHARSET, IndexedMessage, message_from_bytes, single_part
from bot.adapters.parse.mime import _plain, _simple_address, address_list, header_text, lacks_headers
from bot.adapters.parse.prefilter import _UNUSUAL_FOLDS, may_contain

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _tree(message: Message) -> list[object]:
    return [
        (
            part._headers,  # type: ignore[attr-defined]
            part._payload if isinstance(part._payload, str) else None,  # type: ignore[attr-defined]
            part.preamble,
            part.epilogue,
            part.get_unixfrom(),
            part.get_default_type(),
            [type(defect).__name__ for defect in part.defects],
        )
        for part in message.walk()
    ]


_TRICKY_MULTIPART = (
    b"From: a@b.test\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="a.b+c(d)*?[x]"\r\n\r\npreamble\r\n'
    b"--a.b+c(d)*?[x]\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
    b"--inner \t\r\nContent-Type: text/plain\r\n\r\nplain\r\n--inner\r\n"
    b"Content-Type: text/html\r\n\r\n<p>html</p>\r\n--inner--\r\n"
    b"--a.b+c(d)*?[x]x not a boundary\r\n--a.b+c(d)*?[x]\r\nContent-Type: message/rfc822\r\n\r\n"
    b"Subject: inner\r\n\r\nbody\r\n--a.b+c(d)*?[x]--  \r\nepilogue\r\n"
)


@pytest.mark.parametrize(
    "raw",
    [
        _TRICKY_MULTIPART,
        _TRICKY_MULTIPART.replace(b"\r\n", b"\n"),
        _TRICKY_MULTIPART.replace(b"\r\n", b"\r"),
        _TRICKY_MULTIPART[: len(_TRICKY_MULTIPART) // 2],  # unterminated
        b"Content-Type: multipart/mixed; boundary=x\n\n--x--",  # no part, no final newline
        b"Content-Type: multipart/mixed\n\nno boundary parameter",
        b"Subject: caf\xc3\xa9\n\n\xe9t\xe9",
    ],
)
def test_message_from_bytes_builds_the_stdlib_tree(raw: bytes) -> None:
    assert _tree(message_from_bytes(raw)) == _tree(email.message_from_bytes(raw))


def test_message_from_bytes_matches_the_stdlib_on_every_fixture() -> None:
    files = sorted(FIXTURES.rglob("*.eml"))
    assert files
    for path in files:
        raw = path.read_bytes()
        assert _tree(message_from_bytes(raw)) == _tree(email.message_from_bytes(raw)), path


_SINGLE_PART = (
    b"From: Compta <ap1@client1.test>\r\nTo: collections@relance.test\r\nSubject: Re: facture\r\n"
    b" INV-1 (folded)\r\nX-Empty:\r\nX-Tab:\tvalue \t\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Bonjour,\r\n\r\nNous r\xc3\xa9glerons le 20/11.\r\nFrom here on\r\n"
)


def _variants(raw: bytes) -> list[bytes]:
    lf = raw.replace(b"\r\n", b"\n")
    return [raw, lf, raw.replace(b"\r\n", b"\r"), lf.replace(b"\n", b"\r", 3), raw.rstrip(b"\r\n"), lf[:60]]


@pytest.mark.parametrize(
    ("raw", "fast"),
    [
        *((variant, True) for variant in _variants(_SINGLE_PART)),
        (_SINGLE_PART.split(b"\r\n\r\n")[0], True),  # headers only
        (b"\r\nno headers at all\r\n", True),
        (b"Subject: x\nnot a header line\n\nbody", False),  # no blank line: a defect
        (b" continued first\nSubject: x\n\nbody", False),
        (b"From someone@else Tue Nov  3 14:00:00 2026\nSubject: x\n\nbody", False),  # envelope line
        (b"Subject: x\nFrom oops\n\nbody", False),
        (b":nameless\nSubject: x\n\nbody", False),
        (b"CONTENT-TYPE: Multipart/Mixed; boundary=b\n\n--b\n\none\n--b--\n", False),
        (b"Content-Type:\n multipart/mixed; boundary=b\n\n--b\n\none\n--b--\n", False),  # type on the fold
        (b"Content-Type: message/delivery-status\n\nReporting-MTA: dns; x\n", False),
        (b"Content-Type: message/rfc822\n\nSubject: inner\n\nbody\n", False),
        (b"Content-Type: text/plain\nContent-Type: multipart/mixed\n\nbody", False),  # the early way out
        (b"Content-Type: multipartx\n\nbody", True),  # not a type the parser splits: text/plain
    ],
)
def test_single_part_path_builds_the_stdlib_tree(raw: bytes, fast: bool) -> None:
    text = raw.decode("ascii", "surrogateescape")
    assert (single_part(raw, text) is not None) is fast
    assert _tree(message_from_bytes(raw)) == _tree(email.message_from_bytes(raw))


def test_single_part_path_on_shuffled_header_lines() -> None:
    rng = random.Random(7)
    lines = _SINGLE_PART.split(b"\r\n")
    pieces = [b"Subject: s", b" folded", b"\tfolded", b"X-A: 1", b"", b"body", b"From x", b"Content-Type: text/html"]
    for _ in range(300):
        head = [rng.choice(pieces + lines) for _ in range(rng.randint(0, 8))]
        raw = rng.choice([b"\r\n", b"\n", b"\r"]).join(head) + rng.choice([b"", b"\n", b"\r\n\r\nbody"])
        assert _tree(message_from_bytes(raw)) == _tree(email.message_from_bytes(raw)), raw


def test_absent_address_header_is_what_the_tokenizer_gives() -> None:
    message = message_from_bytes(b"From: a@b.test\nTo: c@d.test\n\nbody")
    assert getaddresses([]) == [] and address_list(message, "Cc") == () and address_list(message, "Cc", "Bcc") == ()
    assert address_list(message, "Cc", "To") == ("c@d.test",)


def test_indexed_headers_follow_changes() -> None:
    message = message_from_bytes(b"Subject: one\nX-A: 1\nx-a: 2\nContent-Type: text/html\n\nbody")
    assert isinstance(message, IndexedMessage)
    assert message.get("x-A") == "1" and message.get_all("X-A") == ["1", "2"] and "subject" in message
    assert message.get_content_type() == "text/html"
    message.replace_header("Content-Type", "text/plain")
    assert message.get_content_type() == "text/plain"
    message["X-B"] = "3"
    del message["X-A"]
    assert message.get("X-B") == "3" and message.get("X-A") is None and message.get_all("x-a", []) == []
    message.set_param("charset", "utf-8")
    assert message.get_content_charset() == "utf-8"


def test_unusual_folds_are_the_only_case_mismatches() -> None:
    """Every code point ``re.IGNORECASE`` matches to a keyword character is lower-cased onto it by ``str.lower``,
    except the ones :func:`may_contain` guards against."""
    keyword_chars = set("".join(autoreply._BODY_KEYWORDS + quotes._REPLY_ABOVE_KEYWORDS + bounce._DAEMON_KEYWORDS)) - {
        " ",
        "'",
        "-",
    }
    every = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    for char in keyword_chars:
        assert char == char.lower()
        for other in re.findall(re.escape(char), every, re.IGNORECASE):
            assert other.lower() == char or other in _UNUSUAL_FOLDS, (char, other)


@pytest.mark.parametrize(
    "phrase",
    [
        "Je suis absente jusqu'au 3", "I'm currently out of office", "We are on holiday", "absent du bureau",
        "I am out of the office", "with limited access to email", "accès limité à mes mails",
        "This mailbox is no longer monitored", "cette boîte mail n'est plus consultée",
        "Ceci est un message automatique", "réponse automatique", "Automatic reply",
        "Do not reply to this automated email", "Merci de ne pas répondre à ce courriel",
        "please do not reply", "Your request has been received", "votre demande a bien été reçue",
        "We have received your message", "courriel bien reçu", "nous avons bien reçu votre demande",
        "il a bien été reçu", "which has been received by", "assigned ticket number",
        "Service comptabilité est fermé", "notre secrétariat est fermée", "JE SERAI EN CONGÉS", "İ am away",
        "ſervice administratif fermé",
    ],
)  # fmt: skip
def test_body_keywords_cover_every_auto_reply_phrase(phrase: str) -> None:
    assert autoreply._BODY_STRONG.search(phrase) is not None
    assert autoreply._body_phrase(f"Bonjour,\n{phrase}.\n") is not None


def test_prefiltered_searches_agree_with_the_patterns_on_every_fixture_line() -> None:
    lines = [
        line
        for path in sorted(FIXTURES.rglob("*.eml"))
        for line in path.read_bytes().decode("utf-8", "replace").splitlines()
    ]
    lines += ["Le 3 mars, Jean a écrit :", "On Mon, John <j@x.test> wrote:  ", "skrev følgende:", "x wrote: :"]
    for line in lines:
        fast, slow = autoreply._body_phrase(line), autoreply._BODY_STRONG.search(line[:4000])
        assert (fast and fast.span()) == (slow and slow.span()), line
        assert quotes._wrote_at_end(line) == (quotes._WROTE.search(line) is not None), line
        assert bounce._is_daemon(line) == (bounce._DAEMON.search(line) is not None), line


def test_wrote_at_end_agrees_with_the_search_on_random_endings() -> None:
    widest = re._parser.parse(quotes._WROTE_VERBS, re.IGNORECASE).getwidth()[1]  # type: ignore[attr-defined]
    assert widest <= quotes._WROTE_MAX_CHARS
    rng = random.Random(7)
    pieces = ["wrote", "WROTE", "a écrit", "schrieb", "skrev følgende", "写道", ":", "：", " ", "\t", "\n", "x", "-"]
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        assert quotes._wrote_at_end(text) == (quotes._WROTE.search(text) is not None), repr(text)


def _spellings(items: object) -> set[str]:
    """Every string a finite, literal-only parsed pattern (alternations, classes, optional groups) matches."""
    from re import _constants as c  # type: ignore[attr-defined]

    out = {""}
    for op, arg in items:  # type: ignore[attr-defined]
        if op is c.LITERAL:
            options = {chr(arg)}
        elif op is c.IN:
            assert all(kind is c.LITERAL for kind, _ in arg), arg
            options = {chr(code) for _, code in arg}
        elif op is c.BRANCH:
            options = set().union(*(_spellings(branch) for branch in arg[1]))
        elif op is c.SUBPATTERN:
            options = _spellings(arg[-1])
        else:
            assert op is c.MAX_REPEAT and arg[:2] == (0, 1), (op, arg)
            options = {""} | _spellings(arg[2])
        out = {head + tail for head in out for tail in options}
    return out


def test_every_wrote_verb_ends_with_a_letter_or_a_bracket() -> None:
    # _wrote_at_end skips its search on a text ending otherwise; case folding maps letters to letters only.
    spellings = _spellings(re._parser.parse(quotes._WROTE_VERBS, re.IGNORECASE))  # type: ignore[attr-defined]
    assert {"wrote", "a écrit", "napisał", "napisał(a)", "写道"} <= spellings
    assert all(s[-1].isalpha() or s[-1] == ")" for s in spellings)
    assert not quotes._wrote_at_end("On Monday, John wrote 2") and quotes._wrote_at_end("John napisał(a):")


def test_may_contain_is_case_insensitive() -> None:
    assert may_contain("OUT OF THE OFFICE", ("out of the office",))
    assert not may_contain("nothing here", ("out of the office",))
    assert may_contain("ſomething", ("zzz",))  # an unusual fold: the caller must run its pattern


def test_simple_addresses_parse_like_email_utils() -> None:
    rng = random.Random(3)
    alphabet = list("abAB09_+-.@<> \t\"(),:;[]\\é\u00a0=?'")
    hits = 0
    for _ in range(30_000):
        if rng.random() < 0.5:
            value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20)))
        else:
            value = (
                rng.choice(["Jean Dupont", "X", "é ü", "a-b", ""])
                + rng.choice([" <", "<", "  <", ""])
                + rng.choice(["a", "a.b", "A_b+c", "a..b"])
                + "@"
                + rng.choice(["x", "x.fr", "x-y.z", "x..y", ".x"])
                + rng.choice([">", "", " >"])
            )
        simple = _simple_address(value)
        if simple is not None:
            hits += 1
            assert simple == parseaddr(value) and [simple] == getaddresses([value]), value
    assert hits > 1000


@pytest.mark.parametrize(
    "value",
    ["plain", " lead", "trail ", "two  spaces", "tab\there", "=?utf-8?q?caf=C3=A9?=", "nb\u00a0sp", "caf\udce9", "é"],
)
def test_plain_header_shortcut_is_only_taken_when_nothing_changes(value: str) -> None:
    if _plain(value):
        assert header_text(value) == value == re.sub(r"\s+", " ", value).strip() and "=?" not in value
    else:
        changed = ("=?utf-8?q?caf=C3=A9?=", " lead", "trail ", "two  spaces", "tab\there", "nb\u00a0sp", "caf\udce9")
        assert value in changed


def test_simple_charset_reads_like_the_stdlib_parameter_parser() -> None:
    rng = random.Random(11)
    odd = ["", ";", " ", "=", '"', "\\", "<x>", "*", "é", "\f", "\r\n ", "; format=flowed", "a=b"]
    slots = [  # (what the fast path reads, anything else) for each piece of "type; charset=value "
        (["text/plain", "TEXT/HTML", ""], ['"t";', *odd]),
        ([";", "; ", ";\t"], odd),
        (["charset=", "Charset="], ["CHARSET =", "charſet=", "charset*=", "charset*0=", *odd]),
        (["utf-8", "UTF-8", "iso-8859-1", "x:y_z.w+v"], ['"utf-8"', "utf-8''x", "x%41", *odd]),
        (["", " ", "\t"], odd),
    ]
    hits = 0
    for _ in range(20_000):
        value = "".join(rng.choice(good if rng.random() < 0.8 else bad) for good, bad in slots)
        ours = IndexedMessage(policy=compat32)
        stdlib = Message(policy=compat32)
        for message in (ours, stdlib):
            message["Content-Type"] = value
        hits += _SIMPLE_CHARSET.fullmatch(value) is not None
        assert ours.get_content_charset("none") == stdlib.get_content_charset("none"), value
    assert hits > 1000
    assert IndexedMessage(policy=compat32).get_content_charset("none") == "none"


@pytest.mark.parametrize("value", ["plain", "caf\udce9", "", "é"])
def test_header_values_are_what_compat32_fetches(value: str) -> None:
    ours, stdlib = IndexedMessage(policy=compat32), Message(policy=compat32)
    for message in (ours, stdlib):
        message["Subject"] = value
    assert type(ours.get("subject")) is type(stdlib.get("subject"))
    assert str(ours.get("subject")) == str(stdlib.get("subject")) and ours.get_all("x", 1) == stdlib.get_all("x", 1)


class _Recording(Message):
    def __init__(self) -> None:
        super().__init__(policy=compat32)
        self.asked: set[str] = set()

    def get(self, name: str, failobj: object = None) -> object:
        self.asked.add(name.lower())
        return super().get(name, failobj)


def test_auto_reply_header_shortcut_covers_every_header_read() -> None:
    empty = _Recording()  # no header: every one is read, none found
    assert autoreply._header_reason(empty) is None and autoreply._weak_header_reason(empty) is None
    assert empty.asked == autoreply._AUTO_HEADERS
    message = _Recording()
    message["Precedence"] = "list"  # nothing found before the last header of each check is read
    assert autoreply._header_reason(message) is not None and autoreply._weak_header_reason(message) is not None
    assert message.asked - {"list-id"} <= autoreply._AUTO_HEADERS and "list-id" in message.asked


def test_auto_reply_header_shortcut_on_every_fixture() -> None:
    taken = 0
    for path in sorted(FIXTURES.rglob("*.eml")):
        raw = path.read_bytes()
        ours, stdlib = message_from_bytes(raw), email.message_from_bytes(raw)
        lacking = lacks_headers(ours, autoreply._AUTO_HEADERS)
        assert lacking == lacks_headers(stdlib, autoreply._AUTO_HEADERS), path
        if lacking:
            taken += 1
            assert autoreply._header_reason(ours) is None and autoreply._weak_header_reason(ours) is None, path
        for name in ("Auto-Submitted", "Precedence", "X-AutoReply-From"):
            if ours.get(name) is not None:
                assert not lacking, path
    assert taken > 5
