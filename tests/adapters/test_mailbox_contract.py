"""One contract, two mailboxes: ImapMailbox on a real Dovecot and MaildirMailbox on disk behave alike."""

from __future__ import annotations

import mailbox
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imapclient
import pytest

from bot.adapters.imap import ImapConfig, ImapMailbox
from bot.adapters.maildir import MaildirMailbox
from tests.servers.dovecot import Dovecot, simple_message


@dataclass
class Harness:
    mailbox: Any
    deliver: Callable[[bytes], None]
    count_in: Callable[[str], int]  # messages in a filing folder ("review"...)


def _imap_harness(server: Dovecot) -> Iterator[Harness]:
    user = server.add_user()
    box = ImapMailbox(
        ImapConfig(host="127.0.0.1", port=server.port, user=user.name, password=user.password, tls="none")
    )

    def count_in(leaf: str) -> int:
        with imapclient.IMAPClient("127.0.0.1", server.port, ssl=False, timeout=10) as client:
            client.login(user.name, user.password)
            return int(client.select_folder(f"relance.{leaf}", readonly=True)[b"EXISTS"])

    try:
        yield Harness(box, lambda raw: server.deliver(user, raw) and None, count_in)
    finally:
        box.close()


def _maildir_harness(path: Path) -> Iterator[Harness]:
    box = MaildirMailbox(path / "inbox", poll_interval_s=0.05)
    writer = mailbox.Maildir(path / "inbox", factory=None)

    def count_in(leaf: str) -> int:
        return len(mailbox.Maildir(box.folder_path(leaf), factory=None, create=False))

    try:
        yield Harness(box, lambda raw: writer.add(raw) and None, count_in)
    finally:
        box.close()


@pytest.fixture(params=["imap", "maildir"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    if request.param == "imap":
        yield from _imap_harness(request.getfixturevalue("dovecot_server"))
    else:
        yield from _maildir_harness(tmp_path)


def test_empty_mailbox_yields_nothing(harness: Harness) -> None:
    assert list(harness.mailbox.fetch_new(0, None)) == []


def test_catch_up_is_oldest_first_with_exact_bytes_and_growing_uids(harness: Harness) -> None:
    raws = [simple_message(f"message {i}", body=f"body {i}\r\n") for i in range(5)]
    for raw in raws:
        harness.deliver(raw)
        time.sleep(0.002)  # distinct delivery times, as real deliveries have
    got = list(harness.mailbox.fetch_new(0, None, batch_size=2))
    assert [m.raw for m in got] == raws
    uids = [m.uid for m in got]
    assert uids == sorted(set(uids))
    assert {m.uidvalidity for m in got} == {harness.mailbox.uidvalidity}
    assert {m.mailbox for m in got} == {harness.mailbox.name}


def test_checkpoint_skips_what_was_seen_and_uidvalidity_change_refetches_all(harness: Harness) -> None:
    for i in range(3):
        harness.deliver(simple_message(f"old {i}"))
    first = list(harness.mailbox.fetch_new(0, None))
    last, validity = first[-1].uid, first[-1].uidvalidity
    assert list(harness.mailbox.fetch_new(last, validity)) == []
    harness.deliver(simple_message("new one"))
    newer = list(harness.mailbox.fetch_new(last, validity))
    assert len(newer) == 1 and b"Subject: new one" in newer[0].raw and newer[0].uid > last
    assert len(list(harness.mailbox.fetch_new(newer[0].uid, validity + 1))) == 4


def test_filed_messages_leave_the_inbox_for_their_folder(harness: Harness) -> None:
    for i in range(4):
        harness.deliver(simple_message(f"to file {i}"))
    mails = list(harness.mailbox.fetch_new(0, None))
    harness.mailbox.file_message(mails[0], "relance/processed")
    harness.mailbox.file_message(mails[1], "relance/review")
    harness.mailbox.file_message(mails[2], "relance/quarantine")
    harness.mailbox.file_message(mails[2], "relance/quarantine")  # twice: no error, no duplicate
    left = list(harness.mailbox.fetch_new(0, None))
    assert [m.raw for m in left] == [mails[3].raw]
    assert (harness.count_in("processed"), harness.count_in("review"), harness.count_in("quarantine")) == (
        1,
        1,
        1,
    )
    with pytest.raises(ValueError):
        harness.mailbox.file_message(mails[3], "relance/elsewhere")


def test_wait_for_activity_times_out_then_sees_a_delivery(harness: Harness) -> None:
    list(harness.mailbox.fetch_new(0, None))
    began = time.monotonic()
    assert harness.mailbox.wait_for_activity(0.5) is False
    assert 0.4 <= time.monotonic() - began < 6
    timer = threading.Timer(0.3, harness.deliver, args=(simple_message("wake up"),))
    timer.start()
    try:
        began = time.monotonic()
        assert harness.mailbox.wait_for_activity(10) is True
        assert time.monotonic() - began < 8
    finally:
        timer.join()
    assert [b"Subject: wake up" in m.raw for m in harness.mailbox.fetch_new(0, None)] == [True]
