"""FETCH read with imaplib's parsing gives what imapclient's gives, and hands any other response shape back."""

from __future__ import annotations

from typing import Any

import imapclient
import pytest

from bot.adapters.imap_session import ImapConfig, ImapSession, _plain_fetch
from tests.servers.dovecot import Dovecot, ImapUser, simple_message


class Answers:
    """Stands for imaplib's connection: the shapes servers answer with (the parsing is what is tested)."""

    def __init__(self, data: list[Any], kind: str = "OK") -> None:
        self._imap = self
        self.answer = (kind, data)

    def uid(self, command: str, uids: str, items: str) -> tuple[str, list[Any]]:
        assert command == "FETCH" and items in ("(BODY.PEEK[])", "(BODY.PEEK[]<0.1000>)")
        return self.answer


def test_the_usual_shape_is_read_and_others_are_handed_back() -> None:
    usual = [(b"1 (UID 7 BODY[] {3}", b"abc"), b")", (b"2 (UID 9 BODY[] {2}", b"de"), b")"]
    assert _plain_fetch(Answers(usual), [7, 9]) == {7: b"abc", 9: b"de"}
    assert _plain_fetch(Answers([None]), [7]) == {}  # expunged meanwhile: nothing
    for other in (
        [(b"1 (BODY[] {3}", b"abc"), b" UID 7)"],  # UID after the literal
        [(b"1 (UID 7 BODY[] {3}", b"abc"), b" FLAGS (\\Seen))"],  # another item after it
        [b"3 (FLAGS (\\Seen))", (b"1 (UID 7 BODY[] {3}", b"abc"), b")"],  # an unsolicited update
        [(b"1 (UID 7 BODY[] {3}", b"abc")],  # unterminated
    ):
        assert _plain_fetch(Answers(other), [7]) is None, other
    assert _plain_fetch(Answers(usual, kind="NO"), [7, 9]) is None
    partial = [(b"1 (UID 7 BODY[]<0> {3}", b"abc"), b")", (b"2 (UID 9 BODY[]<0> {0}", b""), b")"]
    assert _plain_fetch(Answers(partial), [7, 9], "BODY.PEEK[]<0.1000>") == {7: b"abc", 9: b""}
    assert _plain_fetch(object(), [7]) is None  # no imaplib underneath: imapclient reads it


class GeneralFetch:
    """Stands for imapclient where imaplib's parsing is not available: its parsed FETCH answer."""

    def fetch(self, uids: list[int], items: list[bytes]) -> dict[int, dict[bytes, Any]]:
        assert items == [b"BODY.PEEK[]<0.1048576>"]
        return {
            7: {b"SEQ": 1, b"BODY[]<0>": b"abc"},
            8: {b"SEQ": 2, b"FLAGS": (b"\\Deleted",)},  # expunged meanwhile: the server answered its flags only
            9: {b"SEQ": 3, b"BODY[]<0>": b""},  # an empty message is still a message
            10: {b"SEQ": 4, b"BODY[]<0>": None},  # expunged meanwhile: Dovecot answers NIL
        }


def test_a_message_answered_without_its_body_is_left_out_not_read_as_empty() -> None:
    session = ImapSession(ImapConfig(host="127.0.0.1", user="u", password="p", tls="none"))
    session.client, session.uidvalidity = GeneralFetch(), 5
    assert session.fetch([7, 8, 9, 10], 5) == {7: b"abc", 9: b""}


@pytest.mark.servers
def test_dovecot_answers_read_as_imapclient_reads_them(dovecot_server: Dovecot, dovecot_user: ImapUser) -> None:
    sent = [simple_message(f"m{i}", msgid=f"<f{i}@t>", size=40_000 * (i % 3)) for i in range(12)]
    sent.append("From: a@b.test\r\nSubject: é\r\n\r\ncafé \xff\r\n".encode("latin-1"))
    for raw in sent:
        dovecot_server.deliver(dovecot_user, raw)
    with imapclient.IMAPClient("127.0.0.1", dovecot_server.port, ssl=False, timeout=10) as client:
        client.login(dovecot_user.name, dovecot_user.password)
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        plain = _plain_fetch(client, [*uids, max(uids) + 50])  # a UID that does not exist is left out
        general = {u: item[b"BODY[]"] for u, item in client.fetch(uids, [b"BODY.PEEK[]"]).items()}
        cut = _plain_fetch(client, uids, "BODY.PEEK[]<0.50000>")
        cut_general = {u: item[b"BODY[]<0>"] for u, item in client.fetch(uids, [b"BODY.PEEK[]<0.50000>"]).items()}
    assert plain is not None and plain == general and len(plain) == len(sent)
    assert cut is not None and cut == cut_general == {u: raw[:50_000] for u, raw in general.items()}
    assert sum(len(raw) > 50_000 for raw in general.values()) == 4  # some were cut
