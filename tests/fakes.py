"""Careful fakes of the ports, for fast tests (contract tests run the same checks on the real adapters)."""

from __future__ import annotations

from collections.abc import Iterator

from bot.domain.errors import PermanentError, TemporaryError
from bot.ports import InboundMail, OutgoingMail


class RecordingSender:
    """A MailSender that keeps what it was given; ``fail_with`` makes the next sends raise."""

    def __init__(self, log: list[OutgoingMail] | None = None) -> None:
        self.sent: list[OutgoingMail] = log if log is not None else []
        self.fail_with: list[Exception] = []
        self.closed = False

    async def send(self, mail: OutgoingMail) -> None:
        if self.fail_with:
            error = self.fail_with.pop(0)
            assert isinstance(error, TemporaryError | PermanentError)
            raise error
        self.sent.append(mail)

    async def close(self) -> None:
        self.closed = True


class ListMailbox:
    """A Mailbox over a list of raw messages; UIDs are list positions + 1."""

    def __init__(self, messages: list[bytes], name: str = "fake:INBOX", uidvalidity: int = 1) -> None:
        self.messages = list(messages)
        self._name = name
        self.uidvalidity = uidvalidity
        self.filed: dict[int, str] = {}

    @property
    def name(self) -> str:
        return self._name

    def fetch_new(
        self, after_uid: int, uidvalidity: int | None, batch_size: int = 100
    ) -> Iterator[InboundMail]:
        start = 0 if uidvalidity != self.uidvalidity else after_uid
        for uid, raw in enumerate(self.messages, start=1):
            if uid > start:
                yield InboundMail(self._name, self.uidvalidity, uid, raw)

    def file_message(self, mail: InboundMail, folder: str) -> None:
        self.filed[mail.uid] = folder

    def close(self) -> None:
        pass
