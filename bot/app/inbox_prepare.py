"""Reading replies before their transaction: parse, classify, find the invoice references written in them.

This is pure work on the raw bytes (no database, no clock), so during a catch-up it can run in a worker process
on another core while the main process records the previous batch: the inbox then costs what its slower half
costs instead of the sum of both. A reply arriving alone (IDLE) in a daemon whose reader processes are not
running yet is read in the main process, at once (see ``POOL_MIN_BATCH``).

Nothing here decides or writes, so a worker that dies changes nothing: its batch is read again in the main
process and the pool is not used again by this processor.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from bot.domain.errors import UnreadableMessageError
from bot.domain.intent import Classification
from bot.domain.message import ParsedMessage
from bot.ports import InboundMail

log = logging.getLogger(__name__)

#: Below this many new messages a batch is read in the main process while the reader processes would have to be
#: started with a fork server (the daemon): that start-up would delay a reply arriving alone by a second or so.
#: Once they run, or where they start with a plain fork, every batch goes to them: reading in the main process
#: would also build the classifier's lexicons there (a third of a second), and the main process is the
#: inbox's bottleneck.
POOL_MIN_BATCH = 16


@dataclass
class Prepared:
    """A message read before the transaction: parsed and classified, or why it could not be."""

    mail: InboundMail
    parsed: ParsedMessage | None = None
    classification: Classification | None = None
    refs: list[str] | None = None  # invoice references written in it (``reply_matching.written_refs``)
    error: str | None = None  # set: the message is quarantined with this reason


Reading = tuple[ParsedMessage | None, Classification | None, list[str] | None, str | None]


def read(raw: bytes, parse: Callable[[bytes], ParsedMessage], uid: int = 0) -> Reading:
    """(parsed, classification, written references, error) of one raw message; never raises."""
    from bot.app.inbound import classify_parsed
    from bot.app.reply_matching import written_refs

    try:
        parsed = parse(raw)
    except UnreadableMessageError as exc:
        return None, None, None, str(exc)
    except Exception as exc:
        log.exception("message uid %s could not be parsed; quarantining it", uid)
        return None, None, None, f"{type(exc).__name__}: {exc}"
    try:
        classification = classify_parsed(parsed)
        return parsed, classification, written_refs(parsed, classification), None
    except Exception as exc:
        log.exception("message uid %s could not be classified; quarantining it", uid)
        return parsed, None, None, f"{type(exc).__name__}: {exc}"


def _leave_with_parent(period_s: float = 1.0) -> None:
    """Worker side: exit once the process that started the worker (the inbox's, or its fork server) is gone.

    A worker waits for work on a pipe whose writing end it holds itself (inherited), so a parent killed with
    SIGKILL (a crash, ``kill -9``, the OOM killer) would leave it waiting forever.
    """
    parent = os.getppid()
    # What the worker inherited (modules, lexicons) lives as long as it does: collections need not walk it, and
    # walking it would copy the pages it shares with its parent.
    gc.freeze()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(period_s)
        os._exit(0)

    threading.Thread(target=watch, name="inbox-reader-parent-watch", daemon=True).start()


def _warm_up() -> None:
    """Worker side: read one small message, which imports the parser and builds the classifier's lexicons."""
    from bot.adapters.parse import parse_message

    read(b"From: warm-up@relance.invalid\r\nSubject: warm-up\r\n\r\nBonjour, merci.\r\n", parse_message)


def _read_many(raws: list[tuple[bytes, int]]) -> list[Reading]:
    """Worker side: the default parser on each raw message (a module function, so the pool can pickle it)."""
    from bot.adapters.parse import parse_message

    return [read(raw, parse_message, uid) for raw, uid in raws]


class Reader:
    """Reads batches of messages, in a worker process when enabled and the batch is large enough."""

    def __init__(self, parse: Callable[[bytes], ParsedMessage], workers: int, default_parser: bool) -> None:
        self.parse = parse
        # A custom parser (tests, tools) may not be importable in another process: it is always run here.
        self.workers = workers if default_parser else 0
        self._pool: ProcessPoolExecutor | None = None
        if default_parser:
            # Reading's one-time work (the classifier's lexicons, its modules: half a second) is done when the
            # inbox is set up, once per process, not when the first reply waits for it; reader processes
            # forked from here share it.
            _warm_up()

    def start(self, mails: Sequence[InboundMail]) -> Callable[[], list[Prepared]]:
        """Begin reading ``mails``; the returned function waits for and returns the result."""
        pool = self._pool_for(len(mails))
        if pool is None:
            prepared = [Prepared(m, *read(m.raw, self.parse, m.uid)) for m in mails]
            return lambda: prepared
        step = -(-len(mails) // self.workers)  # one chunk per worker
        futures: list[Future[list[Reading]]] = [
            pool.submit(_read_many, [(m.raw, m.uid) for m in mails[i : i + step]]) for i in range(0, len(mails), step)
        ]

        def result() -> list[Prepared]:
            try:
                readings = [r for future in futures for r in future.result()]
            except BrokenProcessPool as exc:
                log.warning("inbox reader process failed (%s); reading in the main process from now on", exc)
                self.close()
                self.workers = 0
                readings = [read(m.raw, self.parse, m.uid) for m in mails]
            return [Prepared(m, *r) for m, r in zip(mails, readings, strict=True)]

        return result

    def warm_up(self) -> None:
        """Start the reader processes now if they can be forked (no other thread yet).

        A mailbox may start an I/O thread with its first fetch; after that the processes could only start with
        a fork server (slow, see ``_pool_for``). A pool forks its processes at its first task, hence the one
        submitted here; forked now they share what this process made ready (``__init__``), so that task costs
        them next to nothing.
        """
        if self._pool is None and self.workers > 0 and threading.active_count() == 1:
            # The long-lived objects made so far (modules, lexicons, templates) are left out of this process's
            # collections from now on, as Python's documentation advises before forking; each full collection
            # walked all of them (a tenth of a second).
            gc.freeze()
            pool = self._pool_for(POOL_MIN_BATCH)
            if pool is not None:
                pool.submit(_warm_up)

    def _pool_for(self, size: int) -> ProcessPoolExecutor | None:
        if self.workers <= 0 or size == 0:
            return None
        if self._pool is None:
            # fork is instant and shares the loaded lexicons, but is unsafe once other threads exist (a lock held
            # by one of them would stay held in the child): the daemon, with its threads, uses a fork server.
            method = "fork" if threading.active_count() == 1 else "forkserver"
            if method not in multiprocessing.get_all_start_methods():
                method = "spawn"
            if size < POOL_MIN_BATCH and method != "fork":
                return None  # starting a fork server and importing the bot there would delay this batch
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context(method),
                initializer=_leave_with_parent,
            )
        return self._pool

    def close(self, wait: bool = False) -> None:
        """Stop the reader processes; with ``wait``, return once they (and the pool's threads) have ended."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None


def default_workers(setting: int) -> int:
    """Reader processes to use: the setting, or with -1 one per spare core (at most two)."""
    if setting >= 0:
        return setting
    return max(0, min(2, (os.cpu_count() or 1) - 1))
