"""Filing what an earlier pass recorded but left in the inbox.

Every message up to the checkpoint has been recorded, and filing it is cosmetic: a MOVE that failed is only
logged (``inbox_batch.file_messages``), and a message met again under coordinates already recorded is not filed
by the pass that meets it. Such a message would stay in the inbox for good, since no pass fetches it again. At
the start of each pass, the mailbox names the messages up to the checkpoint that are still there, and each is
filed where its recorded outcome says. A message with no record is left where it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import cast

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.models import InboundMessage
from bot.app.inbox_batch import file_messages
from bot.app.keyed_select import KeyedSelect
from bot.app.reply_outcomes import FOLDER_PROCESSED, FOLDER_QUARANTINE, FOLDER_REVIEW
from bot.ports import InboundMail, Mailbox

log = logging.getLogger(__name__)

#: The folder of each recorded outcome (``InboundMessage.status``), as the pass that recorded it filed it.
FOLDER_OF_STATUS = {
    "processed": FOLDER_PROCESSED,
    "duplicate": FOLDER_PROCESSED,
    "review": FOLDER_REVIEW,
    "quarantined": FOLDER_QUARANTINE,
}

_OUTCOMES = KeyedSelect(
    lambda keyed: select(InboundMessage.uid, InboundMessage.status).where(
        InboundMessage.mailbox == bindparam("mailbox"),
        InboundMessage.uidvalidity == bindparam("validity"),
        keyed(InboundMessage.uid),
    )
)
_CHUNK = 500  # keys per query: a whole pass left behind must stay within PostgreSQL's bind parameters


def refile_left_behind(factory: sessionmaker[Session], mailbox: Mailbox, after: int, validity: int | None) -> int:
    """File the recorded messages up to the checkpoint (``after``, ``validity``) still in the mailbox.

    Returns how many were handed to the mailbox for filing. Mailboxes that cannot list them (Maildir, whose
    moves are renames) are skipped.
    """
    left_behind = getattr(mailbox, "left_behind", None)
    if left_behind is None or validity is None or after < 1:
        return 0
    uids = cast(Callable[[int, int], list[int]], left_behind)(after, validity)
    if not uids:
        return 0
    groups: dict[str, list[InboundMail]] = {}
    with factory() as session:
        for i in range(0, len(uids), _CHUNK):
            part = uids[i : i + _CHUNK]
            for uid, status in _OUTCOMES.execute(session.connection(), part, mailbox=mailbox.name, validity=validity):
                folder = FOLDER_OF_STATUS.get(status)
                if folder is not None:
                    groups.setdefault(folder, []).append(InboundMail(mailbox.name, validity, uid, b""))
    for folder, mails in groups.items():
        file_messages(mailbox, mails, folder)
    filed = sum(len(mails) for mails in groups.values())
    if filed:
        log.info("%s: filing %d message(s) an earlier pass recorded but left in the inbox", mailbox.name, filed)
    if filed < len(uids):  # not expected: every message up to the checkpoint was recorded
        unknown = len(uids) - filed
        log.debug("%s: %d message(s) up to the checkpoint have no record; left in place", mailbox.name, unknown)
    return filed
