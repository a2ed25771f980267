"""ImapMailbox against a real Dovecot: catch-up, IDLE, restarts, UIDVALIDITY, big mail, MOVE fallback, TLS."""

from __future__ import annotations

import logging
import re
import ssl
import threading
import time
from collections.abc import Iterator

import imapclient
import pytest

from bot.adapters.imap import ImapConfig, ImapMailbox
from bot.adapters.imap_session import LARGE_MESSAGE
from bot.domain.errors import ConfigError, TemporaryError
from tests.servers.dovecot import Dovecot, ImapUser, simple_message

pytestmark = pytest.mark.servers


def _box(server: Dovecot, user: ImapUser, **overrides: object) -> ImapMailbox:
    settings: dict[str, object] = {
        "host": "127.0.0.1",
        "port": server.port,
        "user": user.name,
        "password": user.password,
        "tls": "none",
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.5,
    }
    settings.update(overrides)
    return ImapMailbox(ImapConfig(**settings))  # type: ignore[arg-type]


def _folder_count(server: Dovecot, user: ImapUser, folder: str) -> int:
    with imapclient.IMAPClient("127.0.0.1", server.port, ssl=False, timeout=10) as client:
        client.login(user.name, user.password)
        return int(client.select_folder(folder, readonly=True)[b"EXISTS"])


BIG = 1_200_000  # above the 1 MiB at which a message is fetched again, alone


def _deliver(server: Dovecot, user: ImapUser, count: int, big: tuple[int, ...] = ()) -> list[bytes]:
    sent = [simple_message(f"m{i}", msgid=f"<m{i}@t>", size=BIG if i in big else 0) for i in range(count)]
    for raw in sent:
        server.deliver(user, raw)
    return sent


def _message_id(raw: bytes) -> str:
    found = re.search(rb"^Message-ID: (<[^>]+>)", raw, re.MULTILINE)
    assert found, raw[:200]
    return found.group(1).decode()


@pytest.fixture
def box(dovecot_server: Dovecot, dovecot_user: ImapUser) -> Iterator[ImapMailbox]:
    mailbox = _box(dovecot_server, dovecot_user)
    yield mailbox
    mailbox.close()


def test_catch_up_fetches_every_message_in_batches_and_files_them(
    dovecot_server: Dovecot, dovecot_user: ImapUser, box: ImapMailbox
) -> None:
    ids = [f"<catchup-{i}@test.invalid>" for i in range(250)]
    for msgid in ids:
        dovecot_server.deliver(dovecot_user, simple_message("catch-up", msgid=msgid))
    got = list(box.fetch_new(0, None, batch_size=100))
    assert [_message_id(m.raw) for m in got] == ids
    box.file_messages(got, "relance/processed")  # in the background
    box.wait_filed()
    assert _folder_count(dovecot_server, dovecot_user, "INBOX") == 0
    assert _folder_count(dovecot_server, dovecot_user, "relance.processed") == 250


def test_idle_wakes_up_for_mail_delivered_while_idling(dovecot_server: Dovecot, dovecot_user: ImapUser) -> None:
    box = _box(dovecot_server, dovecot_user, idle_reissue_s=0.4)  # re-issued several times while waiting
    try:
        assert list(box.fetch_new(0, None)) == []
        timer = threading.Timer(1.5, dovecot_server.deliver, args=(dovecot_user, simple_message("during idle")))
        began = time.monotonic()
        timer.start()
        try:
            assert box.wait_for_activity(20) is True
            latency = time.monotonic() - began - 1.5
        finally:
            timer.join()
        # Dovecot notifies IDLE clients after a fixed ~0.5 s delay; near the timeout means we missed it.
        assert latency < 6, latency
        assert [b"during idle" in m.raw for m in box.fetch_new(0, None)] == [True]
    finally:
        box.close()


def test_restart_during_idle_loses_nothing_and_repeats_nothing(
    make_dovecot: type[Dovecot], caplog: pytest.LogCaptureFixture
) -> None:
    server = make_dovecot()
    server.start()
    user = server.add_user()
    box = _box(server, user)
    seen: list[str] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def listen() -> None:
        checkpoint: tuple[int, int | None] = (0, None)
        try:
            while not stop.is_set():
                try:
                    batch = []
                    for mail in box.fetch_new(*checkpoint):
                        seen.append(_message_id(mail.raw))
                        batch.append(mail)
                        checkpoint = (mail.uid, mail.uidvalidity)
                    if batch:
                        box.file_messages(batch, "relance/processed")
                    box.wait_for_activity(0.5)
                except TemporaryError as exc:
                    box.reconnect(stop=stop, reason=exc)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    for i in range(3):
        server.deliver(user, simple_message("before", msgid=f"<before-{i}@t>"))
    caplog.set_level(logging.INFO, logger="bot.adapters.imap")
    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    try:
        _wait_until(lambda: len(seen) == 3)
        time.sleep(0.3)  # let the listener enter IDLE
        server.stop()
        for i in range(5):
            server.deliver(user, simple_message("while down", msgid=f"<down-{i}@t>"))
        time.sleep(0.5)  # a few failed reconnect attempts
        server.start()
        _wait_until(lambda: len(seen) == 8)
        server.deliver(user, simple_message("after", msgid="<after@t>"))
        _wait_until(lambda: len(seen) == 9)
    finally:
        stop.set()
        thread.join(10)
        box.close()
    assert not errors, errors
    expected = [f"<before-{i}@t>" for i in range(3)] + [f"<down-{i}@t>" for i in range(5)] + ["<after@t>"]
    assert seen == expected
    assert _folder_count(server, user, "relance.processed") == 9
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "bot.adapters.imap"]
    assert len(warnings) == 1, [(r.levelname, r.getMessage()) for r in caplog.records]  # once per outage
    assert box.outages == 1


def test_uidvalidity_change_refetches_everything(
    dovecot_server: Dovecot, dovecot_user: ImapUser, box: ImapMailbox
) -> None:
    _deliver(dovecot_server, dovecot_user, 4)
    first = list(box.fetch_new(0, None))
    old_validity, last = first[-1].uidvalidity, first[-1].uid
    dovecot_server.set_uidvalidity(dovecot_user, old_validity + 7)
    # Dovecot drops sessions whose mailbox was reset: the caller sees a temporary error and reconnects.
    try:
        again = list(box.fetch_new(last, old_validity))
    except TemporaryError:
        box.reconnect(deadline_s=10)
        again = list(box.fetch_new(last, old_validity))
    assert [m.raw for m in again] == [m.raw for m in first]
    assert {m.uidvalidity for m in again} == {old_validity + 7}


def test_20_mb_messages_arrive_whole_and_in_order(
    dovecot_server: Dovecot, dovecot_user: ImapUser, box: ImapMailbox
) -> None:
    big = simple_message("big", size=20 * 1024 * 1024)
    sent = [simple_message("small 1"), big, simple_message("small 2"), simple_message("small 3")]
    for raw in sent:
        dovecot_server.deliver(dovecot_user, raw)
    got = list(box.fetch_new(0, None, batch_size=100))
    assert [m.raw for m in got] == sent and len(big) > 20_000_000


def test_the_folder_is_read_only_until_something_is_filed(
    dovecot_server: Dovecot, dovecot_user: ImapUser, box: ImapMailbox
) -> None:
    # Selecting it read-write makes Dovecot move every new message from new/ to cur/ (a backlog's worth of
    # renames): that waits for the first filing instead of delaying the first FETCH.
    _deliver(dovecot_server, dovecot_user, 3)
    mails = list(box.fetch_new(0, None))
    assert len(mails) == 3 and len(list((dovecot_user.maildir / "new").iterdir())) == 3
    box.file_message(mails[0], "relance/processed")
    assert _folder_count(dovecot_server, dovecot_user, "relance.processed") == 1
    assert not list((dovecot_user.maildir / "new").iterdir())
    assert [m.uid for m in box.fetch_new(0, None)] == [mails[1].uid, mails[2].uid]  # same session, read-write


def test_messages_around_the_batch_fetch_limit_arrive_whole(
    dovecot_server: Dovecot, dovecot_user: ImapUser, box: ImapMailbox
) -> None:
    # A batch brings the first LARGE_MESSAGE octets of each message: one that fills them is fetched again.
    head = simple_message("edge")
    sent = [
        head + b"x" * (size - len(head)) for size in (LARGE_MESSAGE - 1, LARGE_MESSAGE, LARGE_MESSAGE + 1)
    ] + [simple_message("after")]
    for raw in sent:
        dovecot_server.deliver(dovecot_user, raw)
    got = list(box.fetch_new(0, None, batch_size=100))
    assert [m.raw for m in got] == sent
    assert [len(m.raw) for m in got[:3]] == [LARGE_MESSAGE - 1, LARGE_MESSAGE, LARGE_MESSAGE + 1]


def test_without_move_filing_copies_flags_and_expunges_only_its_own(
    dovecot_server_without_move: Dovecot,
) -> None:
    server = dovecot_server_without_move
    user = server.add_user()
    _deliver(server, user, 3)
    box = _box(server, user)
    try:
        assert box.can_move is False
        mails = list(box.fetch_new(0, None))
        with imapclient.IMAPClient("127.0.0.1", server.port, ssl=False, timeout=10) as other:
            other.login(user.name, user.password)
            other.select_folder("INBOX")
            other.add_flags([mails[2].uid], [imapclient.DELETED])  # someone else's pending deletion
        box.file_message(mails[0], "relance/review")
        assert _folder_count(server, user, "relance.review") == 1
        remaining = [m.uid for m in box.fetch_new(0, None)]
        assert remaining == [mails[1].uid, mails[2].uid]  # UID EXPUNGE left the other \Deleted message alone
    finally:
        box.close()


def test_move_is_used_when_announced(dovecot_server: Dovecot, dovecot_user: ImapUser, box: ImapMailbox) -> None:
    dovecot_server.deliver(dovecot_user, simple_message("to move"))
    (mail,) = box.fetch_new(0, None)
    assert box.can_move is True
    box.file_message(mail, "relance/quarantine")
    assert _folder_count(dovecot_server, dovecot_user, "relance.quarantine") == 1
    assert list(box.fetch_new(0, None)) == []


def test_tls_with_an_untrusted_certificate_is_refused_never_plaintext(make_dovecot: type[Dovecot]) -> None:
    server = make_dovecot(tls=True)
    server.start()
    user = server.add_user()
    for mode, port in (("ssl", server.tls_port), ("starttls", server.port)):
        box = _box(server, user, tls=mode, port=port)
        with pytest.raises(ConfigError, match="TLS verification"):
            box.connect()
    assert f"user=<{user.name}>" not in server.log_tail(200)  # no login ever reached the server
    trusted = ssl.create_default_context(cafile=str(server.cert_path))
    for mode, port in (("ssl", server.tls_port), ("starttls", server.port)):
        box = _box(server, user, tls=mode, port=port, ssl_context=trusted)
        try:
            assert list(box.fetch_new(0, None)) == []
        finally:
            box.close()


def test_starttls_missing_on_the_server_is_a_config_error(dovecot_server: Dovecot, dovecot_user: ImapUser) -> None:
    box = _box(dovecot_server, dovecot_user, tls="starttls")
    with pytest.raises(ConfigError, match="STARTTLS"):
        box.connect()


def test_plaintext_only_for_loopback_and_bad_passwords_are_config_errors(
    dovecot_server: Dovecot, dovecot_user: ImapUser
) -> None:
    with pytest.raises(ConfigError, match="only allowed for 127.0.0.1"):
        ImapMailbox(ImapConfig(host="imap.example.com", user="u", password="p", tls="none"))
    box = _box(dovecot_server, dovecot_user, password="wrong")
    with pytest.raises(ConfigError, match="login refused"):
        box.connect()
    with pytest.raises(ConfigError):
        box.reconnect(deadline_s=5)  # not retried: a wrong password does not get better


def test_reconnect_gives_up_at_its_deadline_or_when_stopped(make_dovecot: type[Dovecot]) -> None:
    server = make_dovecot()  # never started: nothing listens on its port
    user = server.add_user()
    box = _box(server, user)
    began = time.monotonic()
    with pytest.raises(TemporaryError):
        box.reconnect(deadline_s=0.3)
    assert time.monotonic() - began < 5
    stop = threading.Event()
    stop.set()
    assert box.reconnect(stop=stop) is False


def _wait_until(condition: object, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
