"""Reading replies: each message is recorded with its effects in one transaction, exactly once.

For every new message: parse → classify → match → decide (safety rule) → act or ask a person. The raw bytes,
the mailbox coordinates (mailbox, UIDVALIDITY, UID) and the Message-ID are stored with the outcome; the same
message met again (restart, UIDVALIDITY change, a copy in another folder) changes nothing. A message that
cannot be read is quarantined for a person, never dropped, and the loop goes on.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.engine import WalCheckpointer, transaction
from bot.adapters.db.models import (
    ClassificationRecord,
    InboundMessage,
    MailboxCheckpoint,
    ReviewItem,
)
from bot.app.inbound import (
    InboxReport,
    NewInbound,
    as_orm,
    classify_parsed,
    has_remittance,
    inbound_row,
    quarantine_reason,
    unreadable_inbound,
)
from bot.app.inbox_batch import BatchRunner, Started
from bot.app.inbox_prepare import Reader, default_workers
from bot.app.inbox_sweep import refile_left_behind
from bot.app.profiles import current_profiles
from bot.app.reply_actions import ACK_TEMPLATES, apply_decision
from bot.app.reply_lookups import ReplyLookups, pending
from bot.app.reply_matching import match_reply, resolve_details
from bot.app.reply_outcomes import (
    FOLDER_PROCESSED,
    FOLDER_QUARANTINE,
    FOLDER_REVIEW,
    add_review,
    bounce,
    defer_for_absence,
    set_values,
)
from bot.app.reply_writes import BatchWrites
from bot.app.settings import Settings
from bot.domain.decision import Decision, Match, SenderTrust, decide
from bot.domain.errors import ConfigError, TemporaryError, UnreadableMessageError
from bot.domain.intent import Classification, Intent
from bot.domain.message import ParsedMessage
from bot.ports import Clock, InboundMail, Mailbox, Renderer

log = logging.getLogger(__name__)

#: Most replies recorded in one transaction (batches start at one and double up to it). Each batch has a fixed
#: cost (its reads, the inserts' statements, the commit, the filing): 200 spends 5 % less CPU per reply of a
#: backlog than 100, for a write lock held about 0.2 s per batch, and more to redo if a batch fails as a whole.
BATCH_SIZE = 200

#: Batches being read ahead of the one being recorded. With one, the reader stopped whenever it got ahead of
#: the recording and the recording stopped whenever the reader fell behind: both sides were idle in turn (a
#: quarter of the machine went unused in a 10,000-reply backlog). With two, short stalls on either side are
#: absorbed. Holds at most (READ_AHEAD + 1) batches of raw messages.
READ_AHEAD = 2


class InboxProcessor:
    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        clock: Clock,
        renderer: Renderer,
        parse: Callable[[bytes], ParsedMessage] | None = None,
        batch_size: int = BATCH_SIZE,
        workers: int | None = None,
    ) -> None:
        from bot.adapters.parse import parse_message

        self.factory = factory
        self.settings = settings
        self.clock = clock
        self.renderer = renderer
        self.parse = parse or parse_message
        self.batch_size = max(1, batch_size)
        self.reader = Reader(
            self.parse,
            default_workers(settings.inbox_workers if workers is None else workers),
            default_parser=self.parse is parse_message,
        )
        self._prepare_recording()
        # The reader processes start with the inbox, like the rest of its one-time set-up, when they can be
        # forked (no other thread yet): ready and sharing this process's lexicons when the first batch comes.
        self.reader.warm_up()

    def _prepare_recording(self) -> None:
        """Recording's one-time work, done when the inbox is set up (once per process) rather than when the first
        reply waits for it: the profiles' holiday calendars (their modules load on first use) and the
        acknowledgement templates compiled. A failure here is the first batch's to report."""
        try:
            with self.factory() as session:
                current_profiles(self.settings, session)
        except (ConfigError, SQLAlchemyError) as exc:
            log.debug("profiles not loaded ahead of the first batch: %s", exc)
        warm_up = getattr(self.renderer, "warm_up", None)
        if warm_up is not None:
            warm_up(ACK_TEMPLATES)

    def close(self) -> None:
        """Stop the reader processes, if any were started, and wait for them to end."""
        self.reader.close(wait=True)

    # ------------------------------------------------------------- the loop

    def run_once(self, mailbox: Mailbox, report: InboxReport | None = None) -> InboxReport:
        """Process everything new in the mailbox, then return.

        Messages go by batches, each batch in one transaction with the checkpoint (see ``inbox_batch``); a
        batch that fails as a whole is processed again one message per transaction. Batches start at one
        message and double up to ``batch_size``: a message arriving alone (IDLE) is recorded at once, and a
        backlog is soon processed at full speed. Batches are committed in order; while one is recorded, the
        next ``READ_AHEAD`` are fetched and read (in a reader process when there is one, see ``inbox_prepare``).
        Raises ``ConfigError`` without fetching anything when the profiles cannot be read.
        """
        report = report or InboxReport()
        self.reader.warm_up()
        with self.factory() as session:
            checkpoint = session.get(MailboxCheckpoint, mailbox.name)
            after, validity = (checkpoint.last_uid, checkpoint.uidvalidity) if checkpoint else (0, None)
            # The profiles every action reads (loaded when the processor was created): read again now if edited
            # since, before the first batch, where the readers and the pass would wait for it. A broken profiles
            # file raises ConfigError here, before anything is fetched: the replies wait in the inbox until it is
            # fixed (the listener says so and retries) instead of each failing its actions and being quarantined.
            current_profiles(self.settings, session)
        refile_left_behind(self.factory, mailbox, after, validity)
        # A backlog commits batch after batch: the WAL is copied back from a helper thread, not by a commit.
        with WalCheckpointer(self.factory.kw.get("bind")):
            self._batches(mailbox, after, validity, report)
        wait_filed = getattr(mailbox, "wait_filed", None)  # IMAP files in the background
        if wait_filed is not None:
            wait_filed()
        return report

    def _batches(self, mailbox: Mailbox, after: int, validity: int | None, report: InboxReport) -> None:
        """Fetch, read and record everything after the checkpoint, batch after batch (see ``run_once``)."""
        runner = BatchRunner(self)
        batch: list[InboundMail] = []
        size = 1
        started: deque[Started] = deque()
        for mail in mailbox.fetch_new(after, validity, self.batch_size):
            batch.append(mail)
            if len(batch) >= size:
                started.append(runner.start(batch))
                if len(started) > READ_AHEAD:
                    runner.finish(mailbox, started.popleft(), report)
                batch, size = [], min(size * 2, self.batch_size)
        if batch:
            started.append(runner.start(batch))
        while started:
            runner.finish(mailbox, started.popleft(), report)

    def process(self, mail: InboundMail, report: InboxReport) -> str | None:
        """Process one message; returns the folder to file it in (None when it was seen before)."""
        try:
            return self._process(mail, report)
        except IntegrityError:
            # Another replica recorded the same message between our check and our commit.
            report.duplicates += 1
            return None
        except OperationalError as exc:
            # The database, not the message, failed: quarantining a good reply would park it for a person.
            raise TemporaryError(f"database unavailable while recording a reply: {exc.orig}") from exc
        except Exception as exc:
            log.exception("message uid %s could not be processed; quarantining it", mail.uid)
            self._quarantine(mail, f"{type(exc).__name__}: {exc}", None)
            report.quarantined += 1
            return FOLDER_QUARANTINE

    def _process(self, mail: InboundMail, report: InboxReport) -> str | None:
        with transaction(self.factory) as session:
            seen = session.scalar(
                select(InboundMessage.id).where(
                    InboundMessage.mailbox == mail.mailbox,
                    InboundMessage.uidvalidity == mail.uidvalidity,
                    InboundMessage.uid == mail.uid,
                )
            )
            if seen is not None:
                self.checkpoint(session, mail)
                report.duplicates += 1
                return None
        try:
            parsed = self.parse(mail.raw)
        except UnreadableMessageError as exc:
            self._quarantine(mail, str(exc), None)
            report.quarantined += 1
            return FOLDER_QUARANTINE
        now = self.clock.now()
        with transaction(self.factory) as session:
            row = inbound_row(mail, parsed, now)
            if parsed.message_id and session.scalar(
                select(InboundMessage.id).where(
                    InboundMessage.message_id == parsed.message_id, InboundMessage.status != "duplicate"
                )
            ):
                row.status = "duplicate"
                session.add(row)
                self.checkpoint(session, mail)
                report.duplicates += 1
                return FOLDER_PROCESSED
            session.add(row)
            session.flush()
            folder = self.handle(session, row, parsed, report)
            self.checkpoint(session, mail)
        return folder

    def checkpoint(self, session: Session, mail: InboundMail) -> None:
        cp = session.get(MailboxCheckpoint, mail.mailbox) or next(
            iter(pending(session, MailboxCheckpoint, mailbox=mail.mailbox)), None
        )
        now = self.clock.now()
        if cp is None:
            session.add(
                MailboxCheckpoint(mailbox=mail.mailbox, uidvalidity=mail.uidvalidity, last_uid=mail.uid, updated_at=now)
            )
        elif cp.uidvalidity != mail.uidvalidity:
            cp.uidvalidity, cp.last_uid, cp.updated_at = mail.uidvalidity, mail.uid, now
        elif mail.uid > cp.last_uid:
            cp.last_uid, cp.updated_at = mail.uid, now

    def _quarantine(self, mail: InboundMail, error: str, message_id: str | None) -> None:
        with transaction(self.factory) as session:
            self.quarantine_in(session, mail, error, message_id)

    def quarantine_in(self, session: Session, mail: InboundMail, error: str, message_id: str | None) -> None:
        """Record an unreadable message and a review item for it in the caller's transaction."""
        now = self.clock.now()
        existing = session.scalar(
            select(InboundMessage).where(
                InboundMessage.mailbox == mail.mailbox,
                InboundMessage.uidvalidity == mail.uidvalidity,
                InboundMessage.uid == mail.uid,
            )
        )
        if existing is None:
            existing = as_orm(unreadable_inbound(mail, error, now, message_id))
            session.add(existing)
            session.flush()
            session.add(
                ReviewItem(
                    kind="quarantine",
                    status="open",
                    inbound_id=existing.id,
                    reason=quarantine_reason(error),
                    created_at=now,
                )
            )
        self.checkpoint(session, mail)

    # ------------------------------------------------------------- one message

    def match(
        self,
        session: Session,
        parsed: ParsedMessage,
        classification: Classification | None = None,
        lookups: ReplyLookups | None = None,
        refs: list[str] | None = None,
    ) -> tuple[Classification, Match]:
        """Classify (unless done already) and match one message; the classification completed from the ledger.

        Reads only what replies never change (see ``reply_lookups``): a batch matches all its replies first.
        """
        classification = classification or classify_parsed(parsed)
        match = match_reply(session, parsed, classification, lookups, refs)
        promised, amount = resolve_details(session, classification, match)
        if promised is classification.promised_date and amount is classification.amount:
            return classification, match  # nothing completed from the ledger (the usual case)
        return replace(classification, promised_date=promised, amount=amount), match

    def handle(
        self,
        session: Session,
        row: InboundMessage | NewInbound,
        parsed: ParsedMessage,
        report: InboxReport,
        classification: Classification | None = None,
        lookups: ReplyLookups | None = None,
        refs: list[str] | None = None,
        matched: tuple[Classification, Match] | None = None,
    ) -> str:
        """Classify and match (unless ``matched`` is given), decide and act on one recorded message.

        With ``lookups`` (an inbox batch), the write-only rows go to ``lookups.writes``, not the session.
        """
        classification, match = matched or self.match(session, parsed, classification, lookups, refs)
        writes = lookups.writes if lookups is not None else None
        if row.client_id != match.client_id:  # an inbox batch sets it before inserting the row
            set_values(row, writes, client_id=match.client_id)
        evidence = [e.as_dict() for e in classification.evidence] + [
            {"rule": "match", "intent": "match", "text": r, "weight": 1.0} for r in match.reasons
        ]
        values: dict[str, Any] = {
            "inbound_id": row.id,
            "intent": classification.intent.value,
            "secondary_intents": [i.value for i in classification.secondary_intents],
            "needs_human": classification.needs_human,
            "confidence": classification.confidence,
            "language": classification.language,
            "promised_date": classification.promised_date,
            "paid_date": classification.paid_date,
            "amount": classification.amount,
            "invoice_numbers": list(match.invoice_numbers),
            "evidence": evidence,
            "match_reasons": list(match.reasons),
            "reply_text": parsed.reply_text[:20000],
            "created_at": self.clock.now(),
        }
        if writes is not None:
            writes.add_classification(**values)
        else:
            session.add(ClassificationRecord(**values))
        report.intents[classification.intent.value] += 1
        intent = classification.intent
        if intent is Intent.BOUNCE and parsed.bounce is not None:
            return bounce(session, row, parsed, match, report, writes, self.clock.now())
        decision = decide(classification, match, self.settings.confidence_threshold)
        if intent is Intent.AUTO_REPLY:
            defer_for_absence(session, parsed, match, writes, self.clock.now())
            if not decision.automatic:  # e.g. "I have left, write to ...": a person updates the contact
                self._review(session, row, classification, match, decision, writes)
                report.review += 1
                return FOLDER_REVIEW
            report.processed += 1
            return FOLDER_PROCESSED
        safe_stop = (
            intent is Intent.DISPUTE
            and match.client_id is not None
            and bool(match.invoice_numbers)
            and match.sender_trust is not SenderTrust.UNKNOWN
            and not decision_blocks_thread(match)
        )
        if decision.automatic or safe_stop:
            apply_decision(
                session,
                settings=self.settings,
                clock=self.clock,
                renderer=self.renderer,
                client_id=match.client_id,
                invoice_numbers=list(match.invoice_numbers),
                intent=intent,
                promised_date=classification.promised_date,
                paid_date=classification.paid_date,
                amount=classification.amount,
                actor="bot",
                inbound_id=row.id,
                reason=f"reply {parsed.message_id or row.id} read as {intent.value} ({classification.confidence:.2f})",
                evidence=evidence,
                has_remittance=has_remittance(parsed),
                lookups=lookups,
            )
            if decision.automatic:
                report.processed += 1
                return FOLDER_PROCESSED
            set_values(row, writes, status="review")
            report.review += 1
            return FOLDER_REVIEW
        self._review(session, row, classification, match, decision, writes)
        report.review += 1
        return FOLDER_REVIEW

    def _review(
        self,
        session: Session,
        row: InboundMessage | NewInbound,
        classification: Classification,
        match: Match,
        decision: Decision,
        writes: BatchWrites | None,
    ) -> None:
        set_values(row, writes, status="review")
        add_review(
            session,
            writes,
            now=self.clock.now(),
            kind="unmatched" if match.client_id is None else "reply",
            inbound_id=row.id,
            client_id=match.client_id,
            invoice_numbers=list(match.invoice_numbers),
            intent=classification.intent.value,
            confidence=classification.confidence,
            amount=classification.amount,
            reason="; ".join(decision.reasons) or "needs a person",
            source_key=f"reply:{row.id}",
        )


def decision_blocks_thread(match: Match) -> bool:
    return bool(match.thread_client_id and match.client_id and match.thread_client_id != match.client_id)
