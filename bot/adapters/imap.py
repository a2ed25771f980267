"""The IMAP mailbox: catch-up in batches, IDLE, filing into ``relance/*`` folders, reconnects.

The connection (``imap_session``) is used from one I/O thread only (``imap_io``), so commands stay in order and
the inbox does not wait for the server when it need not: ``fetch_new`` fetches the next batches while the caller
records the current one, and ``file_messages`` returns at once, the MOVE following in the background, a
thousand messages at a time (``wait_filed`` files the rest and waits). Every other method is synchronous and
raises what the session raised (``TemporaryError``, ``ConfigError``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future

from bot.adapters.imap_io import IoThread
from bot.adapters.imap_session import FILING_FOLDERS, LARGE_MESSAGE, ImapConfig, ImapSession, TlsMode
from bot.domain.errors import TemporaryError
from bot.ports import InboundMail

__all__ = ["FILING_FOLDERS", "ImapConfig", "ImapMailbox", "TlsMode"]

log = logging.getLogger(__name__)


#: Most messages filed by one command (MOVE, or COPY + STORE + UID EXPUNGE): see ``ImapMailbox.file_messages``.
FILE_CHUNK = 1000

#: Batches fetched ahead of the one being handed out: two while the batches are small (a MOVE of a thousand
#: messages runs on the same connection and would otherwise hold up the one FETCH ahead: the inbox waited
#: 0.3 s per 10,000 messages for it), one once a batch held ``SMALL_BATCH`` octets or more, so that batches
#: of large messages are held no more than before.
FETCH_AHEAD = 2
SMALL_BATCH = 32 * 1024 * 1024


def _parse_folder(folder: str) -> str:
    leaf = folder.removeprefix("relance/")
    if leaf not in FILING_FOLDERS:
        raise ValueError(f"unknown filing folder {folder!r}; expected relance/{{{','.join(FILING_FOLDERS)}}}")
    return leaf


class ImapMailbox:
    """The ``Mailbox`` port over IMAP. Not thread-safe: one connection, used by one listener."""

    def __init__(self, config: ImapConfig) -> None:
        self._session = ImapSession(config)  # validates the TLS settings
        self.config = config
        self.port = self._session.port
        self._io = IoThread("imap-io")
        self._last_uid: int | None = None
        # Messages to file, by (folder, UIDVALIDITY), not yet handed to the I/O thread (see ``file_messages``).
        self._unfiled: dict[tuple[str, int], list[InboundMail]] = {}
        #: Outages seen by :meth:`reconnect` (for the metrics).
        self.outages = 0

    @property
    def name(self) -> str:
        return self._session.name

    # -- connection --------------------------------------------------------------------------------
    def connect(self) -> None:
        """Connect, log in, select the folder and create the filing folders; a no-op when connected."""
        self._io.run(self._session.connect)

    def close(self) -> None:
        """File what is pending, log out and end the I/O thread (the next call starts them again)."""
        if not self._io.started:
            return
        try:
            self._drain()
            self._io.run(self._session.logout)
        finally:
            self._io.shutdown()

    def reconnect(
        self, deadline_s: float | None = None, stop: threading.Event | None = None, reason: object = None
    ) -> bool:
        """Reconnect with exponential backoff and jitter; logs when the outage starts and once at its end.

        Returns False if ``stop`` was set while waiting; raises ``TemporaryError`` after ``deadline_s``
        seconds and ``ConfigError`` at once (a wrong password does not get better with retries).
        """
        self._drain()
        self._io.run(self._session.drop)
        self.outages += 1
        log.warning("IMAP connection to %s lost (%s); reconnecting with backoff", self.name, reason or "unknown")
        started = time.monotonic()
        delay = self.config.backoff_initial_s
        attempts = 0
        while True:
            attempts += 1
            try:
                self.connect()
            except TemporaryError as exc:
                log.debug("IMAP reconnect attempt %d to %s failed: %s", attempts, self.name, exc)
                if deadline_s is not None and time.monotonic() - started >= deadline_s:
                    raise
                pause = random.uniform(delay / 2, delay)
                if stop is not None:
                    if stop.wait(pause):
                        return False
                else:
                    time.sleep(pause)
                delay = min(delay * 2, self.config.backoff_max_s)
                continue
            log.info(
                "IMAP %s reachable again after %d attempts, %.1f s",
                self.name,
                attempts,
                time.monotonic() - started,
            )
            return True

    # -- the Mailbox port --------------------------------------------------------------------------
    @property
    def uidvalidity(self) -> int:
        self.connect()
        return self._session.uidvalidity

    @property
    def can_move(self) -> bool:
        self.connect()
        return self._session.can_move

    def fetch_new(self, after_uid: int, uidvalidity: int | None, batch_size: int = 100) -> Iterator[InboundMail]:
        """Yield messages newer than the checkpoint, oldest first; all of them if UIDVALIDITY changed.

        The next batches are fetched while the caller works on the current one (``FETCH_AHEAD``). A batch
        brings at most ``LARGE_MESSAGE`` octets of each message; a message that fills them is fetched again
        whole, alone, in its turn.
        """
        current, uids = self._io.run(self._session.search_new, after_uid, uidvalidity)
        batches = (uids[i : i + batch_size] for i in range(0, len(uids), batch_size))
        ahead: deque[tuple[list[int], Future[dict[int, bytes]]]] = deque()

        def fetch_ahead(count: int) -> None:
            while len(ahead) < count:
                batch = next(batches, None)
                if batch is None:
                    return
                ahead.append((batch, self._io.submit(self._session.fetch, batch, current)))

        fetch_ahead(1)
        try:
            while ahead:
                batch, future = ahead.popleft()
                data = future.result()
                fetch_ahead(FETCH_AHEAD if sum(map(len, data.values())) < SMALL_BATCH else 1)
                for uid in batch:
                    raw = data.pop(uid, None)
                    if raw is not None and len(raw) >= LARGE_MESSAGE:
                        raw = self._io.run(self._session.fetch, [uid], current, None).get(uid)
                    if raw is None:
                        continue  # expunged since the search
                    self._last_uid = uid
                    yield InboundMail(self.name, current, uid, raw)
        finally:
            # Abandoned (or failed) midway: a FETCH not started yet is dropped, one running ends normally
            # and nobody reads its result; the commands that follow wait for it in the queue.
            for _batch, pending in ahead:
                pending.cancel()

    def left_behind(self, upto_uid: int, uidvalidity: int) -> list[int]:
        """UIDs up to the checkpoint still in the folder (their filing failed), oldest first; see ``ImapSession``."""
        return self._io.run(self._session.left_behind, upto_uid, uidvalidity)

    def file_message(self, mail: InboundMail, folder: str) -> None:
        """Move a processed message to ``relance/processed``, ``relance/review`` or ``relance/quarantine``.

        Synchronous: returns once filed, and raises when it could not be.
        """
        leaf = _parse_folder(folder)
        self._io.run(self._session.file, [mail], leaf, self._session.uidvalidity)

    def file_messages(self, mails: Sequence[InboundMail], folder: str) -> None:
        """File several messages with one command (MOVE, or COPY + \\Deleted + UID EXPUNGE without MOVE).

        Returns at once: the messages are gathered with those filed before, and the command runs in the
        background (``wait_filed`` files what is gathered and waits); a failure is logged, never raised (the
        database holds the outcome already). Messages from an older UIDVALIDITY than the current one are left
        where they are: their UIDs may now name other messages.
        """
        leaf = _parse_folder(folder)
        if not mails:
            return
        # Gathered into commands of up to FILE_CHUNK messages: each MOVE costs the server work in proportion to
        # the folder's size (Dovecot rewrites its index), so filing a 10,000-message backlog 100 at a time cost
        # it 2.8 s of CPU, 1,000 at a time 1.2 s. What is gathered is filed by ``wait_filed``, which a pass of
        # the inbox calls before it ends, and before anything else uses the connection (IDLE, close, reconnect).
        self._unfiled.setdefault((leaf, self._session.uidvalidity), []).extend(mails)
        if sum(len(gathered) for gathered in self._unfiled.values()) >= FILE_CHUNK:
            self._submit_unfiled()

    def _submit_unfiled(self) -> None:
        for (leaf, uidvalidity), mails in self._unfiled.items():
            for i in range(0, len(mails), FILE_CHUNK):
                self._io.background(self._file_logged, mails[i : i + FILE_CHUNK], leaf, uidvalidity)
        self._unfiled.clear()

    def _drain(self) -> None:
        """File what was gathered, then wait for every command asked so far."""
        self._submit_unfiled()
        self._io.drain()

    def _file_logged(self, mails: list[InboundMail], leaf: str, known_uidvalidity: int) -> None:
        try:
            self._session.file(mails, leaf, known_uidvalidity)
        except Exception as exc:  # filing is cosmetic: the outcome is recorded, the next pass files it (inbox_sweep)
            log.warning("IMAP %s: could not move %d message(s) to relance/%s: %s", self.name, len(mails), leaf, exc)

    def wait_filed(self) -> None:
        """Block until every ``file_messages`` submitted so far has completed (failures are logged)."""
        self._drain()

    # -- waiting for mail --------------------------------------------------------------------------
    def wait_for_activity(self, timeout_s: float) -> bool:
        """Block until new mail may be there (True) or ``timeout_s`` passed (False), using IDLE.

        Pending filings run first. IDLE is re-issued every ``idle_reissue_s``; a dropped connection raises
        ``TemporaryError``.
        """
        self._drain()
        return self._io.run(self._session.wait_for_activity, timeout_s, self._last_uid)
