"""Messages an earlier pass recorded but left in the inbox are filed by the next pass, where their outcome says."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import imapclient
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.models import InboundMessage
from bot.app.clock import FixedClock
from bot.app.inbox import InboxProcessor
from bot.app.inbox_sweep import refile_left_behind
from bot.app.settings import load_settings
from bot.app.wiring import make_renderer
from tests.adapters.test_imap import _box, _folder_count
from tests.app.test_inbox_prepare import reply
from tests.fakes import ListMailbox
from tests.servers.dovecot import Dovecot, ImapUser

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 3, 11, 0, tzinfo=UTC)


class SweptMailbox(ListMailbox):
    """A ListMailbox that says which messages up to the checkpoint are still in it (as IMAP does)."""

    def __init__(self, messages: list[bytes], still_there: list[int]) -> None:
        super().__init__(messages)
        self.still_there = still_there
        self.asked: list[tuple[int, int]] = []

    def left_behind(self, upto_uid: int, uidvalidity: int) -> list[int]:
        self.asked.append((upto_uid, uidvalidity))
        return [uid for uid in self.still_there if uid <= upto_uid]


def _processor(db: sessionmaker[Session]) -> InboxProcessor:
    settings = load_settings(ROOT / "config", env={})
    return InboxProcessor(db, settings, FixedClock(NOW), make_renderer(settings), workers=0)


def _inbound(db: sessionmaker[Session]) -> int:
    with db() as s:
        return int(s.scalar(select(func.count()).select_from(InboundMessage)) or 0)


def test_each_message_left_behind_is_filed_where_its_outcome_says(two_client_ledger: sessionmaker[Session]) -> None:
    raws = [reply(i) for i in range(1, 7)]
    raws[3] = b""  # unreadable: quarantined
    first = ListMailbox(raws)
    _processor(two_client_ledger).run_once(first)
    recorded = dict(first.filed)
    assert set(recorded.values()) >= {"relance/processed", "relance/review", "relance/quarantine"}
    with two_client_ledger() as s, s.begin():  # an outcome no folder stands for
        s.execute(update(InboundMessage).where(InboundMessage.uid == 2).values(status="?"))
    # The next pass finds all six still there, and one new message: none of the six is processed again.
    second = SweptMailbox([*raws, reply(8)], still_there=[1, 2, 3, 4, 5, 6])
    report = _processor(two_client_ledger).run_once(second)
    assert second.asked == [(6, 1)]  # up to the checkpoint, under its UIDVALIDITY
    assert {uid: second.filed[uid] for uid in recorded if uid != 2} == {u: f for u, f in recorded.items() if u != 2}
    assert 2 not in second.filed  # left where it is
    assert report.processed + report.review + report.quarantined == 1 and report.duplicates == 0
    assert second.filed[7] and _inbound(two_client_ledger) == 7


def test_nothing_is_asked_without_a_checkpoint_or_of_a_mailbox_that_cannot_tell(
    two_client_ledger: sessionmaker[Session],
) -> None:
    box = SweptMailbox([reply(1)], still_there=[1])
    assert refile_left_behind(two_client_ledger, box, 0, None) == 0 and box.asked == []
    assert refile_left_behind(two_client_ledger, ListMailbox([reply(1)]), 5, 1) == 0  # Maildir: moves are renames
    assert refile_left_behind(two_client_ledger, box, 1, 1) == 0  # still there, but nothing recorded for it
    assert box.filed == {}


@pytest.mark.servers
def test_a_failed_move_is_made_good_by_the_next_pass(
    dovecot_server: Dovecot,
    dovecot_user: ImapUser,
    two_client_ledger: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """GIVEN the filing folder removed behind relance's back, so that the pass's MOVE fails
    WHEN the next pass (a new connection, which creates the folders again) runs
    THEN the recorded messages are filed and none is processed twice."""
    for i in range(1, 5):
        dovecot_server.deliver(dovecot_user, reply(i))
    box = _box(dovecot_server, dovecot_user)
    try:
        box.connect()  # the filing folders exist now
        with imapclient.IMAPClient("127.0.0.1", dovecot_server.port, ssl=False, timeout=10) as other:
            other.login(dovecot_user.name, dovecot_user.password)
            other.delete_folder("relance.processed")
        with caplog.at_level(logging.WARNING):
            first = _processor(two_client_ledger).run_once(box)
        assert "could not move" in caplog.text
    finally:
        box.close()
    assert first.processed >= 1 and _folder_count(dovecot_server, dovecot_user, "INBOX") >= first.processed
    again = _box(dovecot_server, dovecot_user)
    try:
        second = _processor(two_client_ledger).run_once(again)
    finally:
        again.close()
    assert second.processed + second.review + second.quarantined + second.duplicates == 0
    assert _folder_count(dovecot_server, dovecot_user, "INBOX") == 0
    assert _folder_count(dovecot_server, dovecot_user, "relance.processed") == first.processed
    assert _inbound(two_client_ledger) == 4
