"""MaildirMailbox specifics: UIDs that survive restarts and mail readers, UIDVALIDITY, Maildir++ folders."""

from __future__ import annotations

import mailbox
import os
from pathlib import Path

from bot.adapters.maildir import UIDS_FILE, MaildirMailbox
from tests.servers.dovecot import simple_message


def _deliver(path: Path, subject: str) -> str:
    return str(mailbox.Maildir(path, factory=None).add(simple_message(subject)))


def test_uids_are_stable_across_instances_and_mail_readers(tmp_path: Path) -> None:
    box = MaildirMailbox(tmp_path)
    keys = [_deliver(tmp_path, f"m{i}") for i in range(3)]
    first = {m.uid: m.raw for m in box.fetch_new(0, None)}
    # A mail client marks the first message seen: new/KEY -> cur/KEY:2,S
    os.rename(tmp_path / "new" / keys[0], tmp_path / "cur" / f"{keys[0]}:2,S")
    again = MaildirMailbox(tmp_path)
    assert again.uidvalidity == box.uidvalidity
    assert {m.uid: m.raw for m in again.fetch_new(0, None)} == first


def test_uids_only_grow_even_after_messages_leave(tmp_path: Path) -> None:
    box = MaildirMailbox(tmp_path)
    _deliver(tmp_path, "one")
    _deliver(tmp_path, "two")
    mails = list(box.fetch_new(0, None))
    box.file_messages(mails, "relance/processed")
    _deliver(tmp_path, "three")
    (newest,) = MaildirMailbox(tmp_path).fetch_new(0, None)
    assert newest.uid > max(m.uid for m in mails)


def test_losing_the_uid_file_is_a_uidvalidity_change(tmp_path: Path) -> None:
    MaildirMailbox(tmp_path)
    (tmp_path / UIDS_FILE).write_text("uidvalidity 1000\n")  # a UID file made long ago
    _deliver(tmp_path, "one")
    box = MaildirMailbox(tmp_path)
    (mail,) = box.fetch_new(0, None)
    assert mail.uidvalidity == 1000
    (tmp_path / UIDS_FILE).unlink()
    fresh = MaildirMailbox(tmp_path)
    assert fresh.uidvalidity != 1000
    assert [m.raw for m in fresh.fetch_new(mail.uid, mail.uidvalidity)] == [mail.raw]


def test_filing_makes_maildir_plus_plus_folders_other_tools_read(tmp_path: Path) -> None:
    box = MaildirMailbox(tmp_path)
    _deliver(tmp_path, "to review")
    (mail,) = box.fetch_new(0, None)
    box.file_message(mail, "relance/review")
    review = tmp_path / ".relance.review"
    assert (review / "maildirfolder").exists()
    stored = list(mailbox.Maildir(review, factory=None, create=False).values())
    assert len(stored) == 1 and stored[0]["Subject"] == "to review"
    assert mailbox.Maildir(tmp_path, factory=None).list_folders().count("relance.review") == 1


def test_a_message_filed_by_a_stale_uidvalidity_stays_put(tmp_path: Path) -> None:
    box = MaildirMailbox(tmp_path)
    _deliver(tmp_path, "keep me")
    (mail,) = box.fetch_new(0, None)
    stale = type(mail)(mail.mailbox, mail.uidvalidity - 1, mail.uid, mail.raw)
    box.file_message(stale, "relance/processed")
    assert [m.uid for m in box.fetch_new(0, None)] == [mail.uid]
