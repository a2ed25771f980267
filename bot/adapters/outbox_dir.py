"""The MailSender port as a local folder: each message becomes ``<message-id>.eml`` (demo, tests, dry runs).

Writes are atomic (temporary file in the same folder, fsync, then a hard link to the final name) so a crash
never leaves half a message, and idempotent by Message-ID: sending the same message again leaves the
existing file untouched, even when two workers race.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path

from bot.domain.errors import TemporaryError
from bot.ports import OutgoingMail

__all__ = ["DirectorySender", "eml_name"]

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


def eml_name(message_id: str) -> str:
    """A file name for a Message-ID: the id itself when it is safe, else a cleaned form plus a short hash."""
    bare = message_id.strip().removeprefix("<").removesuffix(">")
    cleaned = _UNSAFE.sub("_", bare)[:150].lstrip(".")
    if cleaned != bare or not cleaned:
        # Two different ids must never clean up to the same name.
        cleaned = f"{cleaned}.{hashlib.sha256(message_id.encode('utf-8')).hexdigest()[:12]}"
    return f"{cleaned}.eml"


class DirectorySender:
    """Saves each message as ``<path>/<message-id>.eml``; the folder is created when missing."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"DirectorySender({str(self.path)!r})"

    def path_for(self, message_id: str) -> Path:
        return self.path / eml_name(message_id)

    async def send(self, mail: OutgoingMail) -> None:
        try:
            await asyncio.to_thread(self._write, mail)
        except OSError as exc:  # a full disk or a permissions problem may clear; the outbox retries
            raise TemporaryError(f"cannot write {mail.message_id} to {self.path}: {exc}") from exc

    async def close(self) -> None:
        return None

    def _write(self, mail: OutgoingMail) -> bool:
        target = self.path_for(mail.message_id)
        if target.exists():
            log.debug("outbox folder already holds %s", target.name)
            return False
        self.path.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".eml", dir=self.path)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(mail.data)
                handle.flush()
                os.fsync(handle.fileno())
            # link() fails if the name exists, so two writers racing on one Message-ID keep exactly one file.
            try:
                os.link(tmp_name, target)
            except FileExistsError:
                return False
            except OSError:  # a filesystem without hard links: rename, after the existence check above
                os.replace(tmp_name, target)
                return True
            return True
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
