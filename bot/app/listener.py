"""The inbox listener thread: while it holds the leader lease, catch up on the inbox, then wait for mail.

IMAP waits with IDLE (in short slices, so a stop request or a lost lease is noticed within seconds), a Maildir
is polled. A lost connection is retried with backoff; a configuration error (wrong password, missing folder)
is logged and retried slowly, so the rest of the daemon (sending, the web UI) keeps working meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from bot.app import metrics
from bot.app.inbound import InboxReport
from bot.app.inbox import InboxProcessor
from bot.app.lease import Lease
from bot.domain.errors import ConfigError, TemporaryError
from bot.ports import Mailbox

log = logging.getLogger(__name__)


@runtime_checkable
class WaitingMailbox(Protocol):
    """A mailbox that can block until new mail may be there (IMAP IDLE)."""

    def wait_for_activity(self, timeout_s: float) -> bool: ...


class InboxListener:
    """Runs in its own thread; ``stop()`` returns once the mailbox is closed and the lease released."""

    def __init__(
        self,
        processor: InboxProcessor,
        open_mailbox: Callable[[], Mailbox],
        lease: Lease,
        *,
        poll_s: float = 3.0,
        idle_slice_s: float = 2.0,
        standby_s: float = 5.0,
        backoff_max_s: float = 120.0,
        on_report: Callable[[InboxReport], None] | None = None,
    ) -> None:
        self.processor = processor
        self.open_mailbox = open_mailbox
        self.lease = lease
        self.poll_s, self.idle_slice_s, self.standby_s, self.backoff_max_s = (
            poll_s,
            idle_slice_s,
            standby_s,
            backoff_max_s,
        )
        self.on_report = on_report
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mailbox: Mailbox | None = None
        self.leader = False
        self.connected = False
        self.last_error: str | None = None
        self.last_pass: datetime | None = None
        self.passes = 0

    # ------------------------------------------------------------- control

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="inbox-listener", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 8.0) -> bool:
        """Ask the loop to end; True when it did within ``timeout`` seconds."""
        self._stop.set()
        if self._thread is None:
            self.processor.close()
            return True
        self._thread.join(timeout)
        if self._thread.is_alive():
            return False
        self.processor.close()  # its reader processes, once the loop no longer uses them
        return True

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def health(self) -> dict[str, Any]:
        """For /healthz: a replica on standby is healthy; the leader must be connected."""
        return {
            "ok": self.connected or not self.leader,
            "leader": self.leader,
            "connected": self.connected,
            "last_pass": self.last_pass.isoformat() if self.last_pass else None,
            "error": self.last_error,
        }

    # ------------------------------------------------------------- the loop

    def _keep_lease(self, every_s: float) -> None:
        # A long catch-up pass must not let a table lease expire under the leader's feet.
        while not self._stop.wait(every_s):
            if self.leader:
                self.lease.renew()

    def run(self) -> None:
        backoff = 1.0
        heartbeat = getattr(self.lease, "heartbeat_s", None)
        if heartbeat:
            threading.Thread(target=self._keep_lease, args=(heartbeat,), name="inbox-lease", daemon=True).start()
        try:
            while not self._stop.is_set():
                if not self._hold_lease():
                    self._stop.wait(self.standby_s)
                    continue
                try:
                    self._pass_and_wait()
                    backoff = 1.0
                except TemporaryError as exc:
                    self._lost(f"{exc}")
                    metrics.IMAP_RECONNECTS.inc()
                    log.warning("inbox: %s; retrying in %.0f s", exc, backoff)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self.backoff_max_s)
                except ConfigError as exc:
                    self._lost(f"{exc}")
                    log.error("inbox: %s; fix the settings (retrying every %.0f s)", exc, self.backoff_max_s)
                    self._stop.wait(self.backoff_max_s)
                except Exception as exc:  # the listener must outlive any bug in one pass
                    self._lost(f"{type(exc).__name__}: {exc}")
                    log.exception("inbox: unexpected error; retrying in %.0f s", backoff)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self.backoff_max_s)
        finally:
            self._close()
            if self.leader:
                self.lease.release()
            self.leader = False
            metrics.LEADER.set(0)

    def _hold_lease(self) -> bool:
        held = self.lease.renew() if self.leader else self.lease.acquire()
        if held != self.leader:
            log.info("inbox listener %s: %s", self.lease.holder, "now leader" if held else "standby")
        if not held and self.leader:
            self._close()  # someone else reads the inbox now: never two readers at once
        self.leader = held
        metrics.LEADER.set(1 if held else 0)
        return held

    def _pass_and_wait(self) -> None:
        if self._mailbox is None:
            self._mailbox = self.open_mailbox()
        mailbox = self._mailbox
        started = time.monotonic()
        report = self.processor.run_once(mailbox)
        self.connected, self.last_error = True, None
        self.last_pass = datetime.now(UTC)
        self.passes += 1
        seen = report.processed + report.review + report.quarantined
        if seen:
            log.info("inbox: %d message(s) in %.2f s: %s", seen, time.monotonic() - started, report.as_dict())
        metrics.record_inbox(
            dict(report.intents), report.processed, report.review, report.quarantined, report.duplicates
        )
        if self.on_report is not None:
            self.on_report(report)
        if self._stop.is_set():
            return
        if isinstance(mailbox, WaitingMailbox):
            mailbox.wait_for_activity(self.idle_slice_s)
        else:
            self._stop.wait(self.poll_s)

    def _lost(self, error: str) -> None:
        self.connected, self.last_error = False, error[:300]
        self._close()

    def _close(self) -> None:
        mailbox, self._mailbox = self._mailbox, None
        if mailbox is not None:
            try:
                mailbox.close()
            except Exception:  # closing a dead connection is allowed to fail
                log.debug("inbox: error while closing the mailbox", exc_info=True)
        self.connected = False
