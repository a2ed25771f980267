"""ImapMailbox's I/O thread against a real Dovecot: FETCH one batch ahead, filing in the background, clean ends."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import imapclient
import pytest

from bot.adapters import imap
from bot.adapters.imap import ImapMailbox
from bot.domain.errors import ConfigError, TemporaryError
from tests.adapters.test_imap import _box, _deliver, _folder_count, _message_id
from tests.servers.dovecot import Dovecot, ImapUser, simple_message

pytestmark = pytest.mark.servers



@pytest.fixture
def box(dovecot_server: Dovecot, dovecot_user: ImapUser) -> Iterator[ImapMailbox]:
    mailbox = _box(dovecot_server, dovecot_user)
    yield mailbox
    mailbox.close()


class Gate:
    """Holds the mailbox's I/O thread (white box: the only way to order a test event between submit and run)."""

    def __init__(self, box: ImapMailbox) -> None:
        self.reached, self.release = threading.Event(), threading.Event()
        box._io.submit(self._hold)

    def _hold(self) -> None:
        self.reached.set()
        assert self.release.wait(20)

    def __enter__(self) -> Gate:
        assert self.reached.wait(20)  # everything submitted before the gate has run
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()


def _expunge(server: Dovecot, user: ImapUser, uids: list[int]) -> None:
    with imapclient.IMAPClient("127.0.0.1", server.port, ssl=False, timeout=10) as other:
        other.login(user.name, user.password)
        other.select_folder("INBOX")
        other.add_flags(uids, [imapclient.DELETED])
        other.uid_expunge(uids)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 100])
def test_prefetching_yields_every_message_in_order_large_ones_included(
    dovecot_server: Dovecot, dovecot_user: ImapUser, box: ImapMailbox, batch_size: int
) -> None:
    sent = _deliver(dovecot_server, dovecot_user, 11, big=(0, 4, 5, 10))
    got = list(box.fetch_new(0, None, batch_size))
    assert [m.raw for m in got] == sent
    assert [m.uid for m in got] == sorted(m.uid for m in got)
    later = list(box.fetch_new(got[6].uid, got[0].uidvalidity, batch_size))  # the same connection, again
    assert [m.raw for m in later] == sent[7:]


@pytest.mark.parametrize("small_batch", [imap.SMALL_BATCH, 1])
def test_the_next_batches_are_fetched_while_the_current_one_is_consumed_and_only_those(
    dovecot_server: Dovecot,
    dovecot_user: ImapUser,
    box: ImapMailbox,
    monkeypatch: pytest.MonkeyPatch,
    small_batch: int,
) -> None:
    """Two batches are fetched ahead while batches are small, one once a batch reached SMALL_BATCH octets."""
    monkeypatch.setattr(imap, "SMALL_BATCH", small_batch)
    ahead = imap.FETCH_AHEAD if small_batch > 1 else 1
    _deliver(dovecot_server, dovecot_user, 8)
    messages = box.fetch_new(0, None, batch_size=2)
    first = next(messages)
    with Gate(box):  # the FETCHes submitted before are done; the next batch's is not submitted yet
        _expunge(dovecot_server, dovecot_user, [first.uid + n for n in range(2, 8)])
    got = [first, *messages]
    whole = 2 + 2 * ahead
    # The batches fetched ahead came whole; the others, fetched after the expunge, are left out (not read as
    # empty messages, which would be quarantined).
    assert [_message_id(m.raw) for m in got] == [f"<m{i}@t>" for i in range(whole)]


def test_an_abandoned_catch_up_leaves_the_connection_usable(
    dovecot_server: Dovecot, dovecot_user: ImapUser, box: ImapMailbox
) -> None:
    sent = _deliver(dovecot_server, dovecot_user, 7, big=(3,))
    for stop_after in (1, 3, 4):
        with pytest.raises(RuntimeError):
            for n, _mail in enumerate(box.fetch_new(0, None, batch_size=2), 1):
                if n == stop_after:
                    raise RuntimeError("the caller failed")
        assert [m.raw for m in box.fetch_new(0, None, batch_size=2)] == sent
    half = box.fetch_new(0, None, batch_size=2)
    next(half)
    half.close()
    box.file_messages(list(box.fetch_new(0, None)), "relance/review")
    box.wait_filed()
    assert _folder_count(dovecot_server, dovecot_user, "relance.review") == 7


def test_filing_returns_at_once_and_wait_filed_waits_for_it(
    dovecot_server: Dovecot, dovecot_user: ImapUser, box: ImapMailbox
) -> None:
    _deliver(dovecot_server, dovecot_user, 5)
    mails = list(box.fetch_new(0, None))
    with Gate(box):
        box.file_messages(mails[:3], "relance/processed")
        box.file_messages(mails[3:4], "relance/quarantine")
        assert _folder_count(dovecot_server, dovecot_user, "INBOX") == 5  # nothing moved yet
    box.wait_filed()
    assert _folder_count(dovecot_server, dovecot_user, "relance.processed") == 3
    assert _folder_count(dovecot_server, dovecot_user, "relance.quarantine") == 1
    assert [m.uid for m in box.fetch_new(0, None)] == [mails[4].uid]  # ordered after the MOVEs
    with pytest.raises(ValueError, match="unknown filing folder"):
        box.file_messages(mails[4:], "relance/elsewhere")  # a programming error is raised at once


def test_filings_are_gathered_into_commands_of_a_thousand_messages(
    dovecot_server: Dovecot, dovecot_user: ImapUser, box: ImapMailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imap, "FILE_CHUNK", 3)  # a thousand in production: the server's cost per MOVE
    moves: list[list[int]] = []
    session_file = box._session.file
    monkeypatch.setattr(
        box._session, "file", lambda mails, *a: (moves.append([m.uid for m in mails]), session_file(mails, *a))
    )
    _deliver(dovecot_server, dovecot_user, 8)
    mails = list(box.fetch_new(0, None))
    uids = [m.uid for m in mails]
    box.file_messages(mails[:2], "relance/processed")
    box._io.drain()
    assert moves == [] and _folder_count(dovecot_server, dovecot_user, "INBOX") == 8  # gathered, not filed
    box.file_messages(mails[2:5], "relance/processed")  # five gathered: filed three and two
    box.file_messages(mails[5:6], "relance/review")
    box._io.drain()
    assert moves == [uids[:3], uids[3:5]]
    box.file_messages(mails[6:], "relance/processed")
    box.wait_filed()  # files what is gathered (a pass ends with it)
    assert moves == [uids[:3], uids[3:5], [uids[5]], uids[6:]]
    assert _folder_count(dovecot_server, dovecot_user, "relance.processed") == 7
    assert _folder_count(dovecot_server, dovecot_user, "relance.review") == 1
    assert _folder_count(dovecot_server, dovecot_user, "INBOX") == 0


def test_idle_and_close_file_what_is_gathered_first(
    dovecot_server: Dovecot, dovecot_user: ImapUser, box: ImapMailbox
) -> None:
    _deliver(dovecot_server, dovecot_user, 3)
    mails = list(box.fetch_new(0, None))
    box.file_messages(mails[:2], "relance/processed")
    assert box.wait_for_activity(0.2) is False
    assert _folder_count(dovecot_server, dovecot_user, "relance.processed") == 2
    box.file_messages(mails[2:], "relance/review")
    box.close()
    assert _folder_count(dovecot_server, dovecot_user, "relance.review") == 1


def test_filing_into_a_deleted_folder_is_logged_and_never_raised(
    dovecot_server: Dovecot, dovecot_user: ImapUser, box: ImapMailbox, caplog: pytest.LogCaptureFixture
) -> None:
    _deliver(dovecot_server, dovecot_user, 3)
    mails = list(box.fetch_new(0, None))
    with imapclient.IMAPClient("127.0.0.1", dovecot_server.port, ssl=False, timeout=10) as other:
        other.login(dovecot_user.name, dovecot_user.password)
        other.delete_folder("relance.processed")
    box.file_messages(mails, "relance/processed")
    box.wait_filed()
    assert [r.getMessage() for r in caplog.records if "could not move 3 message(s)" in r.getMessage()]
    assert [m.uid for m in box.fetch_new(0, None)] == [m.uid for m in mails]  # still there, readable
    box.file_messages(mails, "relance/processed")  # the new session created the folder again
    box.wait_filed()
    assert _folder_count(dovecot_server, dovecot_user, "relance.processed") == 3


def test_a_connection_killed_before_the_filing_runs_is_logged_and_the_catch_up_goes_on(
    dovecot_server: Dovecot,
    dovecot_user: ImapUser,
    box: ImapMailbox,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(imap, "FILE_CHUNK", 1)  # each filing handed to the I/O thread at once
    sent = _deliver(dovecot_server, dovecot_user, 6)
    messages = box.fetch_new(0, None, batch_size=2)
    first = next(messages)
    gate = Gate(box)
    box.file_messages([first], "relance/processed")  # queued behind the gate
    with gate:
        dovecot_server.doveadm("kick", dovecot_user.name)
    rest = list(messages)  # the third batch is fetched in a new session
    box.wait_filed()
    assert [m.raw for m in [first, *rest]] == sent
    assert [r for r in caplog.records if r.levelno == logging.WARNING and "could not move 1" in r.getMessage()]
    assert _folder_count(dovecot_server, dovecot_user, "INBOX") == 6
    box.file_messages([first], "relance/processed")
    box.wait_filed()
    assert _folder_count(dovecot_server, dovecot_user, "relance.processed") == 1


def test_messages_of_an_old_uidvalidity_are_not_filed(
    dovecot_server: Dovecot, dovecot_user: ImapUser, box: ImapMailbox, caplog: pytest.LogCaptureFixture
) -> None:
    _deliver(dovecot_server, dovecot_user, 2)
    old = list(box.fetch_new(0, None))
    dovecot_server.set_uidvalidity(dovecot_user, old[0].uidvalidity + 3)
    box.reconnect(deadline_s=10)
    assert box.uidvalidity == old[0].uidvalidity + 3
    box.file_messages(old, "relance/processed")
    box.wait_filed()
    assert any("2 message(s) from an old UIDVALIDITY not filed" in r.getMessage() for r in caplog.records)
    assert _folder_count(dovecot_server, dovecot_user, "INBOX") == 2


def test_close_ends_the_io_thread_and_the_mailbox_opens_again(dovecot_server: Dovecot, dovecot_user: ImapUser) -> None:
    baseline = threading.active_count()
    box = _box(dovecot_server, dovecot_user)
    box.close()  # never used: nothing to end
    _deliver(dovecot_server, dovecot_user, 4)
    for round_ in range(2):
        mails = list(box.fetch_new(0, None, batch_size=1))
        assert len(mails) == 4 - 2 * round_
        assert threading.active_count() == baseline + 1
        box.file_messages(mails[:2], "relance/processed")
        box.close()  # files what is pending first
        assert threading.active_count() == baseline
        assert not [t for t in threading.enumerate() if t.name.startswith("imap-io")]
    assert _folder_count(dovecot_server, dovecot_user, "relance.processed") == 4


def test_idle_after_background_filing_files_first_then_wakes_up_for_mail(
    dovecot_server: Dovecot, dovecot_user: ImapUser, box: ImapMailbox
) -> None:
    mails = _deliver(dovecot_server, dovecot_user, 3)
    fetched = list(box.fetch_new(0, None))
    box.file_messages(fetched, "relance/review")
    assert box.wait_for_activity(0.3) is False  # our own MOVE is no new mail
    assert _folder_count(dovecot_server, dovecot_user, "relance.review") == len(mails)
    timer = threading.Timer(0.5, dovecot_server.deliver, args=(dovecot_user, simple_message("during idle")))
    timer.start()
    try:
        assert box.wait_for_activity(20) is True
    finally:
        timer.join()
    assert [b"during idle" in m.raw for m in box.fetch_new(fetched[-1].uid, fetched[-1].uidvalidity)] == [True]


def test_errors_from_the_io_thread_keep_their_type_and_message(
    make_dovecot: type[Dovecot], dovecot_server: Dovecot, dovecot_user: ImapUser
) -> None:
    wrong = _box(dovecot_server, dovecot_user, password="wrong")
    with pytest.raises(ConfigError, match="login refused"):
        list(wrong.fetch_new(0, None))
    wrong.close()
    down = make_dovecot()  # never started: nothing listens on its port
    box = _box(down, down.add_user())
    with pytest.raises(TemporaryError, match="IMAP connect failed"):
        list(box.fetch_new(0, None))
    with pytest.raises(TemporaryError, match="IMAP connect failed"):
        box.wait_for_activity(0.1)
    box.close()
