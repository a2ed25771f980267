"""A local Maildir as the inbox (the demo, and users whose MTA delivers to disk), with IMAP-like stable UIDs.

Maildir has no UIDs, so ``.relance-uids`` (beside ``cur/``, ``new/``, ``tmp/``) maps each message's
unique key to a UID that only ever grows, under a UIDVALIDITY chosen when the file is created: deleting the
file is the Maildir equivalent of an IMAP UIDVALIDITY change (everything is fetched again, and the inbound
ledger de-duplicates). The file is append-only (``uid key`` lines; ``-uid key`` when a message leaves the
inbox), so filing a message costs one short write, not a rewrite. Filing folders are Maildir++ subfolders:
``.relance.processed``, ``.relance.review``, ``.relance.quarantine``.
"""

from __future__ import annotations

import fcntl
import logging
import mailbox
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from bot.ports import InboundMail

log = logging.getLogger(__name__)

FILING_FOLDERS = ("processed", "review", "quarantine")
UIDS_FILE = ".relance-uids"


def _key_of(filename: str) -> str:
    # Maildir file names are "<unique key>:2,<flags>" once a reader has seen them, bare keys while in new/.
    return filename.split(":", 1)[0]


class MaildirMailbox:
    """The ``Mailbox`` port over a Maildir directory. One process at a time (the uids file is locked)."""

    def __init__(self, path: str | os.PathLike[str], poll_interval_s: float = 0.2) -> None:
        self.path = Path(path).resolve()
        self.poll_interval_s = poll_interval_s
        # mailbox.Maildir(create=True) leaves an existing empty directory without cur/, new/ and tmp/.
        for sub in ("cur", "new", "tmp"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        self._maildir = mailbox.Maildir(self.path, factory=None, create=False)
        existing = set(self._maildir.list_folders())
        for leaf in FILING_FOLDERS:
            if f"relance.{leaf}" not in existing:
                self._maildir.add_folder(f"relance.{leaf}")
        self._uids_path = self.path / UIDS_FILE
        self._uidvalidity = 0
        self._key_uid: dict[str, int] = {}
        self._uid_key: dict[int, str] = {}
        self._locations: dict[str, str] = {}  # key -> "new/<name>" or "cur/<name>"
        self._sync()

    @property
    def name(self) -> str:
        return f"maildir:{self.path}"

    @property
    def uidvalidity(self) -> int:
        return self._uidvalidity

    # -- UIDs --------------------------------------------------------------------------------------
    def _scan(self) -> dict[str, str]:
        found: dict[str, tuple[int, str]] = {}
        for sub in ("new", "cur"):
            with os.scandir(self.path / sub) as entries:
                for entry in entries:
                    if entry.name.startswith(".") or not entry.is_file():
                        continue
                    try:
                        mtime = entry.stat().st_mtime_ns
                    except FileNotFoundError:
                        continue  # moved from new/ to cur/ by a mail reader while we looked
                    found[_key_of(entry.name)] = (mtime, f"{sub}/{entry.name}")
        # Oldest first, so UIDs follow delivery order as an IMAP server's do.
        ordered = sorted(found.items(), key=lambda item: (item[1][0], item[0]))
        return {key: where for key, (_mtime, where) in ordered}

    def _sync(self) -> None:
        """Scan the Maildir and give new messages UIDs under the lock; reloads what others appended."""
        locations = self._scan()
        with open(self._uids_path, "a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            lines = handle.read().splitlines()
            if not lines:
                # A new UIDVALIDITY must differ from any earlier one of this path: the clock does that.
                self._uidvalidity = int(time.time())
                handle.write(f"uidvalidity {self._uidvalidity}\n")
            else:
                self._uidvalidity = int(lines[0].split()[1])
            key_uid: dict[str, int] = {}
            top = 0
            for line in lines[1:]:
                number, _, key = line.partition(" ")
                uid = int(number)
                top = max(top, abs(uid))
                if uid > 0:
                    key_uid[key] = uid
                else:
                    key_uid.pop(key, None)
            appended = []
            for key in locations:
                if key not in key_uid:
                    top += 1
                    key_uid[key] = top
                    appended.append(f"{top} {key}\n")
            if appended:
                handle.write("".join(appended))
                handle.flush()
                os.fsync(handle.fileno())
        self._key_uid = key_uid
        self._uid_key = {uid: key for key, uid in key_uid.items()}
        self._locations = locations

    # -- the Mailbox port --------------------------------------------------------------------------
    def fetch_new(
        self, after_uid: int, uidvalidity: int | None, batch_size: int = 100
    ) -> Iterator[InboundMail]:
        """Yield messages newer than the checkpoint, oldest first; all of them if UIDVALIDITY changed."""
        self._sync()
        start = after_uid + 1 if uidvalidity == self._uidvalidity else 1
        wanted = sorted(uid for key, uid in self._key_uid.items() if uid >= start and key in self._locations)
        for uid in wanted:
            key = self._uid_key[uid]
            raw = self._read(key)
            if raw is not None:
                yield InboundMail(self.name, self._uidvalidity, uid, raw)

    def _read(self, key: str) -> bytes | None:
        for _attempt in range(2):
            where = self._locations.get(key)
            if where is None:
                return None
            try:
                return (self.path / where).read_bytes()
            except FileNotFoundError:
                self._locations = self._scan()  # a reader moved it from new/ to cur/; look again
        return None

    def file_message(self, mail: InboundMail, folder: str) -> None:
        """Move a processed message to ``relance/processed``, ``relance/review`` or ``relance/quarantine``."""
        self.file_messages([mail], folder)

    def file_messages(self, mails: Sequence[InboundMail], folder: str) -> None:
        leaf = folder.removeprefix("relance/")
        if leaf not in FILING_FOLDERS:
            raise ValueError(f"unknown filing folder {folder!r}")
        target = self.path / f".relance.{leaf}" / "cur"
        tombstones = []
        for mail in mails:
            if mail.uidvalidity != self._uidvalidity:
                log.warning(
                    "maildir %s: message uid %d from an old UIDVALIDITY not filed", self.path, mail.uid
                )
                continue
            key = self._uid_key.get(mail.uid)
            if key is None:
                continue  # already filed
            where = self._locations.get(key)
            name = where.split("/", 1)[1] if where else key
            if ":" not in name:
                name += ":2,"  # leaving new/ means it has been seen
            for _attempt in range(2):
                try:
                    if where is not None:
                        os.rename(self.path / where, target / name)
                    break
                except FileNotFoundError:
                    self._locations = self._scan()
                    where = self._locations.get(key)
            tombstones.append(f"-{mail.uid} {key}\n")
            self._key_uid.pop(key, None)
            self._uid_key.pop(mail.uid, None)
            self._locations.pop(key, None)
        if tombstones:
            with open(self._uids_path, "a", encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                handle.write("".join(tombstones))

    def wait_for_activity(self, timeout_s: float) -> bool:
        """Poll ``new/`` and ``cur/`` until a message without a UID shows up (True) or the timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            if any(key not in self._key_uid for key in self._scan()):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self.poll_interval_s, left))

    def close(self) -> None:
        self._maildir.close()

    def folder_path(self, folder: str) -> Path:
        """Where a filing folder lives on disk (for the web UI and tests)."""
        return self.path / f".relance.{folder.removeprefix('relance/')}"
