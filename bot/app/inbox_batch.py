"""The inbox's fast path: a batch of replies recorded, with their effects and the checkpoint, in one transaction.

A transaction, a checkpoint write and a dozen single-row flushes per message cost far more than reading the
message. Here messages are parsed and classified before the transaction opens, their rows are inserted with one
multi-row INSERT, the reads a batch repeats are made once (``ReplyLookups``), autoflush is held back, the
effects' write-only rows (classifications, audit entries, promises, acknowledgements, review items, tasks) are
collected as column values and inserted with one executemany per table (``reply_writes``; the reads that may
depend on an earlier reply of the batch consult them), the rows the batch changes (invoice states, client
pauses, superseded promises, reply statuses) are updated with one executemany per table and set of columns
(``BatchWrites.change``), each reply's row is inserted with its client already matched, and everything is
committed once, with the checkpoint.

The reliability promise is unchanged (DESIGN.md): every reply is in the same transaction as its effects. A crash
before the commit leaves nothing of the batch, which the next pass fetches and processes again from the old
checkpoint; a message met again changes nothing (unique mailbox coordinates, Message-ID check). When anything in
the batch fails (a message that breaks the pipeline, another replica recording the same message, a busy
database), the transaction is rolled back and the batch is processed one message per transaction, where a
failing message is quarantined alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot.adapters.db.engine import transaction
from bot.adapters.db.models import InboundMessage
from bot.app.bulk_insert import allocate_ids
from bot.app.inbound import InboxReport, NewInbound, new_inbound, quarantine_reason, unreadable_inbound
from bot.app.inbox_prepare import Prepared
from bot.app.keyed_select import KeyedSelect
from bot.app.plan_snapshots import gc_paused
from bot.app.reply_lookups import ReplyLookups
from bot.domain.errors import TemporaryError
from bot.domain.matching import normalise_invoice_number
from bot.domain.message import ParsedMessage
from bot.ports import InboundMail, Mailbox

if TYPE_CHECKING:
    from bot.app.inbox import InboxProcessor

log = logging.getLogger(__name__)

Coordinates = tuple[str, int, int]

_INBOUND = cast(Table, InboundMessage.__table__)
_KNOWN_IDS = KeyedSelect(
    lambda keyed: select(InboundMessage.message_id).where(
        keyed(InboundMessage.message_id), InboundMessage.status != "duplicate"
    )
)
_SEEN = KeyedSelect(
    lambda keyed: select(InboundMessage.uid).where(
        InboundMessage.mailbox == bindparam("mailbox"),
        InboundMessage.uidvalidity == bindparam("validity"),
        keyed(InboundMessage.uid),
    )
)


@dataclass
class Started:
    """A fetched batch whose new messages are being read."""

    mails: list[InboundMail]
    prepared: Callable[[], list[Prepared]]  # waits for the reading and returns it


#: The acknowledgement cap counts answers over one day (``reply_actions.ActionContext.acknowledge``).
ACK_WINDOW = timedelta(days=1)


class BatchRunner:
    def __init__(self, processor: InboxProcessor) -> None:
        self.processor = processor

    def run(self, mailbox: Mailbox, mails: Sequence[InboundMail], report: InboxReport) -> None:
        """Process ``mails`` (one mailbox fetch batch) and file them; falls back to one transaction each."""
        self.finish(mailbox, self.start(mails), report)

    def start(self, mails: Sequence[InboundMail]) -> Started:
        """Begin reading the batch's new messages (in a reader process when the processor has one)."""
        seen = self._seen(mails)
        return Started(list(mails), self.processor.reader.start([m for m in mails if _coords(m) not in seen]))

    def finish(self, mailbox: Mailbox, started: Started, report: InboxReport) -> None:
        """Record a started batch in one transaction and file its messages."""
        mails, prepared = started.mails, started.prepared()
        batch_report = InboxReport()
        try:
            # The batch allocates a few hundred objects per reply and frees them by reference counting; the
            # collections those allocations trigger would walk every live object (lexicons, templates, ORM
            # state) several times per batch. Cycles made meanwhile are collected afterwards.
            with gc_paused():
                folders = self._commit(mails, prepared, batch_report)
        except OperationalError as exc:
            # The database, not a message, failed: nothing of the batch was kept; the listener's next pass redoes it.
            raise TemporaryError(f"database unavailable while recording replies: {exc.orig}") from exc
        except Exception as exc:
            log.warning(
                "inbox batch of %d messages failed (%s: %s); processing them one by one",
                len(mails),
                type(exc).__name__,
                exc,
            )
            for mail in mails:
                folder = self.processor.process(mail, report)
                if folder is not None:
                    file_messages(mailbox, [mail], folder)
            return
        report += batch_report
        groups: dict[str, list[InboundMail]] = {}
        for mail, folder in folders:
            if folder is not None:
                groups.setdefault(folder, []).append(mail)
        for folder, group in groups.items():
            file_messages(mailbox, group, folder)

    # ------------------------------------------------------------- before the transaction

    def _seen(self, mails: Sequence[InboundMail]) -> set[Coordinates]:
        with self.processor.factory() as session:
            return seen_coordinates(session, mails)

    # ------------------------------------------------------------- the transaction

    def _commit(
        self, mails: Sequence[InboundMail], prepared: Sequence[Prepared], report: InboxReport
    ) -> list[tuple[InboundMail, str | None]]:
        from bot.app.reply_outcomes import FOLDER_PROCESSED, FOLDER_QUARANTINE

        p = self.processor
        outcome: dict[Coordinates, str | None] = {}
        with transaction(p.factory) as session, session.no_autoflush:
            lookups = ReplyLookups(session, p.settings)
            seen = seen_coordinates(session, mails)
            ids = {x.parsed.message_id for x in prepared if x.parsed is not None and x.parsed.message_id}
            known_ids = {i for (i,) in _KNOWN_IDS.execute(session.connection(), sorted(ids)).all()} if ids else set()
            lookups.preload_senders(x.parsed.sender for x in prepared if x.parsed is not None)
            lookups.preload_numbers(normalise_invoice_number(r) for x in prepared for r in x.refs or ())
            lookups.preload_matchers(
                client
                for x in prepared
                if x.parsed is not None
                and any(len(lookups.invoices_numbered(normalise_invoice_number(r))) != 1 for r in x.refs or ())
                for client in lookups.preloaded_clients(x.parsed.sender)
            )
            now = p.clock.now()
            lookups.preload_acks(now - ACK_WINDOW)
            rows: list[NewInbound] = []
            unreadable: list[tuple[NewInbound, str]] = []
            todo: list[tuple[NewInbound, Prepared, ParsedMessage]] = []
            for x in prepared:
                mail, parsed = x.mail, x.parsed
                if _coords(mail) in seen:
                    continue  # recorded since the first look: counted as a duplicate below
                seen.add(_coords(mail))
                if x.error is not None or parsed is None:
                    error = x.error or "unreadable"
                    row = unreadable_inbound(mail, error, now)
                    rows.append(row)
                    unreadable.append((row, error))
                    report.quarantined += 1
                    outcome[_coords(mail)] = FOLDER_QUARANTINE
                    continue
                row = new_inbound(mail, parsed, now)
                rows.append(row)
                outcome[_coords(mail)] = FOLDER_PROCESSED
                if parsed.message_id and parsed.message_id in known_ids:
                    row.status = "duplicate"
                    report.duplicates += 1
                    continue
                if parsed.message_id:
                    known_ids.add(parsed.message_id)
                todo.append((row, x, parsed))
            # The messages' rows are inserted with the batch's other rows at its end (``lookups.writes``), in
            # the order read, their ids allocated now for the rows that refer to them.
            for row, new_id in zip(rows, allocate_ids(session.connection(), _INBOUND, len(rows)), strict=True):
                row.id = new_id
                lookups.writes.add_inbound(row)
            for row, error in unreadable:
                lookups.writes.add_review(
                    kind="quarantine", inbound_id=row.id, reason=quarantine_reason(error), now=now
                )
            # Matching reads nothing a reply changes: every reply is matched first (its row gets its client),
            # then only the invoices matched are loaded as ORM entities (one query), for the actions to change.
            matched = [p.match(session, parsed, x.classification, lookups, x.refs) for _, x, parsed in todo]
            for (row, _, _), (_, match) in zip(todo, matched, strict=True):
                row.client_id = match.client_id
            # No flush from here to the commit: the lookups' preloaded rows plus the batch's collected rows and
            # changes (``lookups.writes``) are then exactly what the database would answer.
            lookups.load_invoices(n for _, match in matched for n in match.invoice_numbers)
            for (row, x, parsed), m in zip(todo, matched, strict=True):
                outcome[_coords(x.mail)] = p.handle(session, row, parsed, report, lookups=lookups, matched=m)
            for mail in checkpoint_mails(mails):
                p.checkpoint(session, mail)
            lookups.writes.flush(session)  # the write-only rows and the changes, one executemany per table
        report.duplicates += sum(1 for mail in mails if _coords(mail) not in outcome)
        return [(mail, outcome.get(_coords(mail))) for mail in mails]


def _coords(mail: InboundMail) -> Coordinates:
    return (mail.mailbox, mail.uidvalidity, mail.uid)


def checkpoint_mails(mails: Sequence[InboundMail]) -> Sequence[InboundMail]:
    """The mails whose checkpoint calls leave the checkpoint as a call for each of ``mails`` would: the one with
    the highest UID when they share their mailbox and UIDVALIDITY (a fetch's batch), else all of them."""
    if len({(m.mailbox, m.uidvalidity) for m in mails}) != 1:
        return mails
    return [max(mails, key=lambda m: m.uid)]


def seen_coordinates(session: Session, mails: Sequence[InboundMail]) -> set[Coordinates]:
    """Which of ``mails`` are recorded already (one query per mailbox and UIDVALIDITY, normally one)."""
    groups: dict[tuple[str, int], list[int]] = {}
    for mail in mails:
        groups.setdefault((mail.mailbox, mail.uidvalidity), []).append(mail.uid)
    seen: set[Coordinates] = set()
    for (mailbox, validity), uids in groups.items():
        for (uid,) in _SEEN.execute(session.connection(), uids, mailbox=mailbox, validity=validity).all():
            seen.add((mailbox, validity, uid))
    return seen


def file_messages(mailbox: Mailbox, mails: Sequence[InboundMail], folder: str) -> None:
    """Move processed messages (one command when the mailbox can); filing is cosmetic, failures only logged."""
    many = getattr(mailbox, "file_messages", None)
    try:
        if many is not None:
            many(mails, folder)
        else:
            for mail in mails:
                mailbox.file_message(mail, folder)
    except Exception as exc:  # the database already holds the outcome
        log.warning("could not move %d message(s) to %s: %s", len(mails), folder, exc)
