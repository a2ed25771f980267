"""``relance run``: the scheduler, the inbox listener and the web UI in one process.

Start-up: the schema is brought up to date, the web server binds its port (a port in use fails at once),
then the scheduler starts (one dunning cycle and one send straight away: that is the catch-up after downtime)
and the inbox listener waits for the leader lease.

SIGTERM / SIGINT: no new work is taken, the send batch in progress finishes and is recorded, IDLE is closed,
the lease released, the web server stops; the process exits 0, within ``shutdown_timeout`` seconds. Anything
still running after that is abandoned safely: every unit of work is one transaction, rolled back if
unfinished.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any

from bot.app.inbound import InboxReport
from bot.app.inbox import InboxProcessor
from bot.app.lease import make_lease
from bot.app.listener import InboxListener
from bot.app.profiles import current_profiles
from bot.app.runtime import Runtime
from bot.app.scheduler import Jobs, build_scheduler
from bot.app.settings import Settings
from bot.app.wiring import make_renderer, open_mailbox, sender_factory
from bot.domain.errors import ConfigError

if TYPE_CHECKING:
    import uvicorn
    from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)

INBOX_LEASE = "inbox-listener"


def default_holder() -> str:
    """A name for this replica in leases and outbox claims: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def start_web_server(app: Any, host: str, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    """Serve ``app`` with uvicorn in a thread; returns once the port is bound (else ConfigError)."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=3,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    # In a thread uvicorn installs no signal handlers: SIGTERM and SIGINT stay ours.
    thread = threading.Thread(target=server.run, name="web", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ConfigError(f"the web UI cannot listen on {host}:{port} (port in use? set RELANCE_WEB_PORT)")
        time.sleep(0.05)
    return server, thread


def public_settings(settings: Settings) -> dict[str, Any]:
    """``Settings.public()`` with the database password masked too (it may sit in the URL)."""
    from sqlalchemy.engine import make_url

    out = settings.public()
    try:
        out["database_url"] = make_url(settings.database_url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL fails later with a clear message; never log it raw
        out["database_url"] = "***"
    return out


def log_secrets(settings: Settings) -> list[str]:
    """Values the JSON log formatter must never print."""
    from sqlalchemy.engine import make_url

    values = [settings.imap_password, settings.smtp_password, settings.secret_key]
    try:
        values.append(make_url(settings.database_url).password)
    except Exception:  # not a URL we can read: nothing to add
        pass
    return [v for v in values if v]


@dataclass(frozen=True)
class DaemonOptions:
    serve_web: bool = True
    cycle_minutes: float = 15.0
    outbox_seconds: float = 30.0
    poll_seconds: float = 3.0
    lease_ttl_seconds: float = 30.0
    #: A claimed outbox row whose sender went silent this long is sent by another replica ("possibly sent twice").
    claim_seconds: float = 600.0
    shutdown_timeout: float = 8.0
    holder: str = field(default_factory=default_holder)


class Daemon:
    def __init__(self, rt: Runtime, options: DaemonOptions | None = None) -> None:
        self.rt = rt
        self.options = options or DaemonOptions()
        self.stop_event = threading.Event()
        self._scheduler: BackgroundScheduler | None = None
        self._jobs: Jobs | None = None
        self._listener: InboxListener | None = None
        self._processor: InboxProcessor | None = None
        self._server: uvicorn.Server | None = None
        self._web_thread: threading.Thread | None = None

    # ------------------------------------------------------------- health

    def health_checks(self) -> Mapping[str, Any]:
        """Callbacks for /healthz (the web app adds the database ping itself)."""
        return {"scheduler": self._scheduler_health, "imap": self._inbox_health, "smtp": self._smtp_health}

    def _scheduler_health(self) -> dict[str, Any]:
        jobs, scheduler = self._jobs, self._scheduler
        if jobs is None or scheduler is None:
            return {"ok": False, "running": False}
        age = time.monotonic() - jobs.heartbeat
        return {
            "ok": bool(scheduler.running) and age < 30,
            "running": bool(scheduler.running),
            "heartbeat_age_s": round(age, 1),
        }

    def _inbox_health(self) -> dict[str, Any]:
        if self._listener is None:
            return {"ok": False, "error": "not started"}
        return self._listener.health() | {"alive": self._listener.alive}

    def _smtp_health(self) -> dict[str, Any]:
        if self._jobs is None:
            return {"ok": False}
        tracker = self._jobs.tracker
        return {
            "ok": tracker.last_error is None,
            "last_success": tracker.last_success.isoformat() if tracker.last_success else None,
            "last_error": tracker.last_error,
        }

    # ------------------------------------------------------------- life cycle

    def start(self) -> None:
        rt, opts = self.rt, self.options
        settings = rt.settings
        log.info("relance daemon %s starting", opts.holder, extra={"settings": public_settings(settings)})
        factory = rt.sessions  # opens the database and upgrades the schema
        renderer = make_renderer(settings, factory)
        # Before any thread starts: the inbox's reader processes are then forked at once from this process,
        # sharing what it loaded, instead of starting from a fork server (a second of imports and lexicons)
        # when the first backlog waits for them.
        processor = self._processor = InboxProcessor(factory, settings, rt.clock, renderer)
        if opts.serve_web:
            self._start_web()
        with factory() as session:
            config, _calendars = current_profiles(settings, session)
        self._jobs = Jobs(
            factory,
            settings,
            rt.clock,
            renderer,
            sender_factory(settings),
            self.stop_event,
            worker=opts.holder,
            claim_lease=timedelta(seconds=opts.claim_seconds),
        )
        self._scheduler = build_scheduler(
            self._jobs, config, cycle_minutes=opts.cycle_minutes, outbox_seconds=opts.outbox_seconds
        )
        self._scheduler.start()
        lease = make_lease(rt.engine, factory, INBOX_LEASE, opts.holder, ttl=timedelta(seconds=opts.lease_ttl_seconds))
        self._listener = InboxListener(
            processor,
            lambda: open_mailbox(settings),
            lease,
            poll_s=opts.poll_seconds,
            standby_s=min(5.0, opts.lease_ttl_seconds / 3),
            on_report=self._after_inbox,
        )
        self._listener.start()
        log.info(
            "relance daemon %s running (web: %s)",
            opts.holder,
            f"http://{settings.web_host}:{settings.web_port}" if opts.serve_web else "off",
        )

    def _after_inbox(self, report: InboxReport) -> None:
        # Replies may have queued acknowledgements (invoice copy, promise confirmation): send them now.
        if (report.processed or report.review) and self._jobs is not None:
            self._jobs.wake_outbox()

    def _start_web(self) -> None:
        from bot.adapters.web.app import create_app
        from bot.adapters.web.context import WebServices

        settings = self.rt.settings
        app = create_app(
            settings,
            self.rt.engine,
            clock=self.rt.clock,
            services=WebServices(health_checks=self.health_checks()),
        )
        self._server, self._web_thread = start_web_server(app, settings.web_host, settings.web_port)

    def request_stop(self) -> None:
        """Safe from a signal handler or any thread."""
        self.stop_event.set()

    def shutdown(self) -> float:
        """Stop everything, waiting at most ``shutdown_timeout`` seconds; returns the seconds it took."""
        started = time.monotonic()
        deadline = started + self.options.shutdown_timeout
        self.stop_event.set()
        log.info("relance daemon %s stopping", self.options.holder)
        waiters: list[threading.Thread] = []
        if self._scheduler is not None and self._scheduler.running:
            scheduler = self._scheduler
            # shutdown(wait=True) lets a running send batch finish and record its outcome.
            waiters.append(
                threading.Thread(target=lambda: scheduler.shutdown(wait=True), name="stop-scheduler", daemon=True)
            )
        listener = self._listener
        if listener is not None:
            waiters.append(
                threading.Thread(
                    target=listener.stop,
                    args=(self.options.shutdown_timeout,),
                    name="stop-listener",
                    daemon=True,
                )
            )
        elif self._processor is not None:
            self._processor.close()  # a start that failed before the listener: its reader processes
        if self._server is not None:
            self._server.should_exit = True
            if self._web_thread is not None:
                waiters.append(self._web_thread)
        for thread in waiters:
            if thread.name.startswith("stop-"):
                thread.start()
        unfinished = []
        for thread in waiters:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                unfinished.append(thread.name)
        if unfinished:
            log.warning(
                "stopped without waiting for %s (over %.0f s); their open transactions roll back",
                ", ".join(unfinished),
                self.options.shutdown_timeout,
            )
        if "engine" in vars(self.rt):  # only if it was opened (cached_property)
            self.rt.engine.dispose()
        took = time.monotonic() - started
        log.info("relance daemon %s stopped in %.2f s", self.options.holder, took)
        return took

    def run(self) -> int:
        """Run until SIGTERM or SIGINT; returns the exit code (0 after a clean stop)."""

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s", signal.Signals(signum).name)
            self.request_stop()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            try:
                self.start()
            except BaseException:
                self.shutdown()
                raise
            # Everything loaded so far lives as long as the process: keeping it out of the collector's
            # generations shortens GC pauses while running and the final collection at exit (seconds on a
            # busy machine), which counts against the 10 s allowed after SIGTERM.
            gc.freeze()
            while not self.stop_event.wait(1.0):
                if self._web_thread is not None and not self._web_thread.is_alive():
                    log.error("the web server stopped unexpectedly; shutting down")
                    self.shutdown()
                    return 1
            self.shutdown()
            return 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
