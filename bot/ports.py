"""The interfaces the application needs from the outside world, all in one place.

Each has a fake for fast tests (``tests/fakes.py``) and a real adapter in ``bot/adapters``; contract tests run
the same assertions against both.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """The one source of "now": timezone-aware UTC."""

    def now(self) -> datetime: ...


@dataclass(frozen=True)
class OutgoingMail:
    """A message ready to go: headers already built and serialised by the ``email`` package."""

    message_id: str
    sender: str
    recipients: tuple[str, ...]
    data: bytes


class MailSender(Protocol):
    """Delivers one serialised message. Raises ``TemporaryError`` or ``PermanentError`` on failure.

    Asynchronous so that the outbox can keep several SMTP sessions busy at once.
    """

    async def send(self, mail: OutgoingMail) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class InboundMail:
    """A raw message as the mailbox hands it over, with the coordinates that make it unique."""

    mailbox: str  # e.g. "imap://user@host/INBOX" or "maildir:/path"
    uidvalidity: int
    uid: int
    raw: bytes


class Mailbox(Protocol):
    """Where replies arrive (IMAP or Maildir)."""

    @property
    def name(self) -> str: ...

    def fetch_new(
        self, after_uid: int, uidvalidity: int | None, batch_size: int = 100
    ) -> Iterator[InboundMail]:
        """Yield messages newer than the checkpoint, oldest first; all of them if UIDVALIDITY changed."""
        ...

    def file_message(self, mail: InboundMail, folder: str) -> None:
        """Move a processed message to ``relance/processed``, ``relance/review`` or ``relance/quarantine``."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


class Renderer(Protocol):
    """Renders a named template in a language with a context (sandboxed, strict undefined)."""

    def render(self, name: str, language: str, context: dict[str, object]) -> RenderedMail: ...

    def names(self) -> Sequence[str]: ...

    def variables(self, name: str, language: str) -> frozenset[str] | None:
        """Context variables the template may read (a superset), or None when that cannot be told."""
        ...
