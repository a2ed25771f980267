"""The daemon's timed work on an APScheduler 3 ``BackgroundScheduler``.

Jobs: the dunning cycle (every few minutes, at start-up, and at each profile's send-window opening so
reminders leave when the window opens rather than at the next tick), the outbox sender (every ~30 s, and at
once after a cycle or a reply recorded something), a heartbeat for ``/healthz`` and the metrics gauges.

Every job runs with ``coalesce=True, max_instances=1``: if the process was suspended or busy, the missed runs
collapse into one. Downtime is caught up by the start-up cycle, once: the planner only ever plans the latest
step due and the outbox key makes a second recording of the same action impossible.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.app import metrics
from bot.app.dunning import run_cycle
from bot.app.outbox_delivery import deliver_due
from bot.app.pause_checks import check_payment_claims, check_promises
from bot.app.settings import Settings
from bot.domain.errors import PermanentError, TemporaryError
from bot.domain.profile import ProfilesConfig
from bot.ports import Clock, MailSender, OutgoingMail, Renderer

log = logging.getLogger(__name__)

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
JOB_DEFAULTS: dict[str, Any] = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}


class StopFlag(asyncio.Event):
    """An ``asyncio.Event`` view of a ``threading.Event``: ``deliver_due`` checks it between batches."""

    def __init__(self, flag: threading.Event) -> None:
        super().__init__()
        self._flag = flag

    def is_set(self) -> bool:
        return self._flag.is_set()


@dataclass
class SendTracker:
    """Remembers the last accepted message (for /healthz) and counts send errors (for /metrics)."""

    last_success: datetime | None = None
    last_error: str | None = None

    def wrap(self, factory: Callable[[], MailSender]) -> Callable[[], MailSender]:
        return lambda: _TrackedSender(factory(), self)


class _TrackedSender:
    def __init__(self, inner: MailSender, tracker: SendTracker) -> None:
        self.inner, self.tracker = inner, tracker

    async def send(self, mail: OutgoingMail) -> None:
        try:
            await self.inner.send(mail)
        except TemporaryError as exc:
            metrics.SEND_ERRORS.labels(kind="temporary").inc()
            self.tracker.last_error = str(exc)[:300]
            raise
        except PermanentError as exc:
            metrics.SEND_ERRORS.labels(kind="permanent").inc()
            self.tracker.last_error = str(exc)[:300]
            raise
        self.tracker.last_success = datetime.now(UTC)
        self.tracker.last_error = None
        metrics.mark_sent()

    async def close(self) -> None:
        await self.inner.close()


@dataclass
class Jobs:
    """The job bodies; each catches and logs its own errors so one bad run never stops the schedule."""

    factory: sessionmaker[Session]
    settings: Settings
    clock: Clock
    renderer: Renderer
    senders: Callable[[], MailSender]
    stop: threading.Event
    worker: str = "daemon"
    claim_lease: timedelta = timedelta(minutes=10)
    tracker: SendTracker = field(default_factory=SendTracker)
    heartbeat: float = field(default_factory=time.monotonic)
    wake_outbox: Callable[[], None] = lambda: None
    _cycle_lock: threading.Lock = field(default_factory=threading.Lock)

    def dunning(self) -> None:
        if self.stop.is_set():
            return
        # Two triggers (interval and window opening) may fire together: the second waits, then runs.
        with self._cycle_lock:
            try:
                broken = check_promises(self.factory, self.settings, self.clock)
                expired = check_payment_claims(self.factory, self.settings, self.clock)
                report = run_cycle(
                    self.factory, self.settings, self.clock, self.renderer, refuse_when_stale=False
                )
            except IntegrityError:
                # Another replica recorded the same actions at the same moment; its rows stand.
                log.info("dunning cycle: another replica recorded these actions first")
                return
            except Exception:
                metrics.JOB_ERRORS.labels(job="dunning").inc()
                log.exception("dunning cycle failed; it runs again at the next tick")
                return
        metrics.record_cycle(dict(report.recorded), report.tasks, report.escalations)
        stale = report.blocked.get("stale ledger", 0)
        if stale:
            log.warning(
                "the ledger is stale: %d action(s) held back until payments are imported "
                "(relance import payments FILE.csv)",
                stale,
            )
        log.info(
            "dunning cycle: %s, broken promises %d, expired payment claims %d",
            report.as_dict(),
            broken,
            expired,
        )
        if report.recorded:
            self.wake_outbox()

    def outbox(self) -> None:
        if self.stop.is_set():
            return
        try:
            delivery = asyncio.run(
                deliver_due(
                    self.factory,
                    self.tracker.wrap(self.senders),
                    self.clock,
                    envelope_from=self.settings.from_address,
                    worker=self.worker,
                    batch=20,
                    lease=self.claim_lease,
                    stop=StopFlag(self.stop),
                )
            )
        except Exception:
            metrics.JOB_ERRORS.labels(job="outbox").inc()
            log.exception("outbox sender failed; it runs again at the next tick")
            return
        metrics.record_delivery(delivery.sent, delivery.retried, delivery.failed)
        if delivery.sent or delivery.retried or delivery.failed:
            log.info(
                "outbox: sent %d, retrying %d, failed %d", delivery.sent, delivery.retried, delivery.failed
            )

    def beat(self) -> None:
        self.heartbeat = time.monotonic()
        metrics.HEARTBEAT.set(time.time())

    def gauges(self) -> None:
        metrics.refresh_gauges(self.factory)


class _SkippedRunFilter(logging.Filter):
    """Drops APScheduler's warning that a run was skipped because the previous one is still going.

    With ``max_instances=1`` that is the intended behaviour, not a fault: a send batch that outlasts the outbox
    interval would otherwise log one warning per tick, drowning real warnings in the JSON logs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


def _quiet_skipped_runs() -> None:
    apscheduler_log = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _SkippedRunFilter) for f in apscheduler_log.filters):
        apscheduler_log.addFilter(_SkippedRunFilter())


def window_triggers(config: ProfilesConfig) -> dict[str, CronTrigger]:
    """One cron trigger per distinct send-window opening (days, time, timezone) among the profiles."""
    triggers: dict[str, CronTrigger] = {}
    for profile in config.profiles.values():
        window = profile.send_window
        days = ",".join(DAY_NAMES[d] for d in sorted(window.days))
        start = window.start
        key = f"window:{profile.timezone}:{days}:{start.hour:02d}{start.minute:02d}"
        if key not in triggers:
            triggers[key] = CronTrigger(
                day_of_week=days, hour=start.hour, minute=start.minute, second=5, timezone=profile.zone
            )
    return triggers


def build_scheduler(
    jobs: Jobs, config: ProfilesConfig, *, cycle_minutes: float = 15, outbox_seconds: float = 30
) -> BackgroundScheduler:
    """A scheduler with every job added (not started); the first cycle and send run at start-up."""
    _quiet_skipped_runs()
    scheduler = BackgroundScheduler(
        job_defaults=JOB_DEFAULTS,
        timezone=UTC,
        executors={"default": {"type": "threadpool", "max_workers": 4}},
    )
    now = datetime.now(UTC)
    scheduler.add_job(
        jobs.dunning,
        IntervalTrigger(seconds=cycle_minutes * 60),
        id="dunning",
        name="dunning",
        next_run_time=now,
    )
    for key, trigger in window_triggers(config).items():
        scheduler.add_job(jobs.dunning, trigger, id=key, name=key)
    scheduler.add_job(
        jobs.outbox,
        IntervalTrigger(seconds=outbox_seconds),
        id="outbox",
        name="outbox",
        next_run_time=now + timedelta(seconds=1),
    )
    scheduler.add_job(
        jobs.beat, IntervalTrigger(seconds=5), id="heartbeat", name="heartbeat", next_run_time=now
    )
    scheduler.add_job(
        jobs.gauges,
        IntervalTrigger(seconds=60),
        id="gauges",
        name="gauges",
        next_run_time=now + timedelta(seconds=2),
    )

    def wake() -> None:
        # Run the sender now rather than at its next tick; harmless if it is already running.
        if scheduler.running and not jobs.stop.is_set():
            try:
                scheduler.modify_job("outbox", next_run_time=datetime.now(UTC))
            except Exception:  # the scheduler is shutting down
                log.debug("could not wake the outbox job", exc_info=True)

    jobs.wake_outbox = wake
    return scheduler
