"""The one thread an IMAP connection is used from: commands run one at a time, in the order they were given.

The caller hands work over and either waits for its result (``run``: the exception, with its type and message,
is raised in the caller), keeps the future for later (``submit``: a FETCH prefetched while the previous batch is
recorded) or lets it run in the background (``background``: filing, whose failures the job logs itself;
``drain`` waits for those). Being a single FIFO worker, anything submitted after a background job runs after it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# Which IoThread, if any, the current thread works for (see ``IoThread.run``).
_current = threading.local()


def _mark(token: object) -> None:
    # The worker keeps only the token: holding the IoThread would keep it, and so the thread, alive forever.
    _current.token = token


class IoThread:
    """A lazily started single worker thread; ``shutdown`` ends it, and the next call starts a new one."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._token = object()
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._background: list[Future[None]] = []

    @property
    def started(self) -> bool:
        return self._executor is not None

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        with self._lock:
            if self._executor is None:
                # A dropped executor (the mailbox forgotten without close) ends its thread: it holds no cycle.
                self._executor = ThreadPoolExecutor(1, self._name, initializer=_mark, initargs=(self._token,))
            return self._executor.submit(fn, *args, **kwargs)

    def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` on the thread after everything submitted before, and return its result (or raise)."""
        if getattr(_current, "token", None) is self._token:
            return fn(*args, **kwargs)  # already on the thread: waiting for ourselves would never end
        return self.submit(fn, *args, **kwargs).result()

    def background(self, fn: Callable[P, None], /, *args: P.args, **kwargs: P.kwargs) -> None:
        """Submit a job that handles its own failures; ``drain`` waits for it."""
        future = self.submit(fn, *args, **kwargs)
        self._background = [f for f in self._background if not f.done()]
        self._background.append(future)

    def drain(self) -> None:
        """Wait until every background job submitted so far has finished."""
        pending, self._background = self._background, []
        wait(pending)

    def shutdown(self) -> None:
        """Finish the queued work and end the thread."""
        with self._lock:
            executor, self._executor = self._executor, None
        self._background = []
        if executor is not None:
            executor.shutdown(wait=True)
