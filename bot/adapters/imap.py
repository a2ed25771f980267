"""The IMAP mailbox (imapclient): catch-up in batches, IDLE, filing into ``relance/*`` folders, reconnects.

Every library, socket and TLS exception is translated here, once, into ``TemporaryError`` (worth retrying: the
connection dropped, the server is restarting) or ``ConfigError`` (retrying cannot help: bad password, a
certificate that does not validate, a server without the TLS we were told to use). TLS failures never fall
back to plaintext.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from imapclient import DELETED, IMAPClient
from imapclient.exceptions import CapabilityError, IMAPClientError, LoginError

from bot.domain.errors import ConfigError, RelanceError, TemporaryError
from bot.ports import InboundMail

log = logging.getLogger(__name__)

TlsMode = Literal["ssl", "starttls", "none"]

#: The folders processed messages are filed into, by short name.
FILING_FOLDERS = ("processed", "review", "quarantine")

# Messages above this size are fetched one per FETCH: a batch of 20 MB messages must not hold gigabytes.
_LARGE_MESSAGE = 1024 * 1024


@dataclass(frozen=True)
class ImapConfig:
    host: str
    user: str
    password: str
    port: int | None = None  # 993 for ssl, else 143
    tls: TlsMode = "ssl"
    folder: str = "INBOX"
    timeout_s: float = 60.0
    #: Verification context; None means the system's CAs with hostname checking.
    ssl_context: ssl.SSLContext | None = None
    #: RFC 2177: clients must re-issue IDLE at least every 29 minutes; servers may cut at 30.
    idle_reissue_s: float = 25 * 60
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_folder(folder: str) -> str:
    leaf = folder.removeprefix("relance/")
    if leaf not in FILING_FOLDERS:
        raise ValueError(f"unknown filing folder {folder!r}; expected relance/{{{','.join(FILING_FOLDERS)}}}")
    return leaf


class ImapMailbox:
    """The ``Mailbox`` port over IMAP. Not thread-safe: one connection, used by one listener."""

    def __init__(self, config: ImapConfig) -> None:
        if config.tls not in ("ssl", "starttls", "none"):
            raise ConfigError(f"RELANCE_IMAP_TLS must be ssl, starttls or none, not {config.tls!r}")
        if config.tls == "none" and not _is_loopback(config.host):
            raise ConfigError(f"RELANCE_IMAP_TLS=none is only allowed for 127.0.0.1, not {config.host!r}")
        self.config = config
        self.port = config.port or (993 if config.tls == "ssl" else 143)
        self._client: Any = None
        self._uidvalidity = 0
        self._can_move = False
        self._has_uidplus = False
        self._folders: dict[str, str] = {}
        self._last_uid: int | None = None
        #: Outages seen by :meth:`reconnect` (for the metrics).
        self.outages = 0

    @property
    def name(self) -> str:
        return f"imap://{self.config.user}@{self.config.host}:{self.port}/{self.config.folder}"

    # -- connection --------------------------------------------------------------------------------
    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except RelanceError:
            raise
        except LoginError as exc:
            self._drop()
            raise ConfigError(f"IMAP login refused for {self.name}: check user and password") from exc
        except ssl.SSLCertVerificationError as exc:
            self._drop()
            raise ConfigError(f"IMAP server {self.config.host} failed TLS verification: {exc}") from exc
        except (IMAPClientError, OSError, EOFError) as exc:  # ssl.SSLError and socket timeouts are OSErrors
            self._drop()
            raise TemporaryError(f"IMAP {action} failed on {self.name}: {exc}") from exc

    def connect(self) -> None:
        """Connect, log in, select the folder and create the filing folders; a no-op when connected."""
        if self._client is not None:
            return
        cfg = self.config
        context = cfg.ssl_context or ssl.create_default_context()
        with self._errors("connect"):
            client = IMAPClient(cfg.host, self.port, ssl=cfg.tls == "ssl", ssl_context=context, timeout=cfg.timeout_s)
            self._client = client
            try:
                self._open(client)
            except BaseException:
                self._drop()  # never keep a half-open session (e.g. connected but not upgraded to TLS)
                raise
        log.debug("IMAP connected to %s (uidvalidity %d, move=%s)", self.name, self._uidvalidity, self._can_move)

    def _open(self, client: Any) -> None:
        cfg = self.config
        if cfg.tls == "starttls":
            try:
                client.starttls(cfg.ssl_context or ssl.create_default_context())
            except CapabilityError as exc:
                raise ConfigError(f"IMAP server {cfg.host} does not offer STARTTLS; refusing plaintext") from exc
        client.login(cfg.user, cfg.password)
        caps = set(client.capabilities())
        self._can_move = b"MOVE" in caps
        self._has_uidplus = b"UIDPLUS" in caps
        try:
            selected = client.select_folder(cfg.folder)
        except IMAPClientError as exc:
            raise ConfigError(f"IMAP folder {cfg.folder!r} cannot be selected on {cfg.host}: {exc}") from exc
        self._uidvalidity = int(selected[b"UIDVALIDITY"])
        self._ensure_folders(client)

    def _ensure_folders(self, client: Any) -> None:
        namespace = client.namespace()
        prefix, delimiter = ("", "/")
        if namespace.personal:
            prefix, raw_delimiter = namespace.personal[0]
            delimiter = raw_delimiter or "/"
        existing = {name for _flags, _delim, name in client.list_folders()}
        for leaf in FILING_FOLDERS:
            folder = f"{prefix}relance{delimiter}{leaf}"
            if folder not in existing:
                try:
                    client.create_folder(folder)
                except IMAPClientError as exc:  # created meanwhile by another replica
                    if not client.folder_exists(folder):
                        raise ConfigError(f"cannot create IMAP folder {folder!r}: {exc}") from exc
            self._folders[leaf] = folder

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.shutdown()
        except (IMAPClientError, OSError):
            pass  # the connection is already gone; nothing left to release

    def close(self) -> None:
        client = self._client
        if client is None:
            return
        try:
            client.logout()
        except (IMAPClientError, OSError):
            pass
        self._client = None

    def reconnect(
        self, deadline_s: float | None = None, stop: threading.Event | None = None, reason: object = None
    ) -> bool:
        """Reconnect with exponential backoff and jitter; logs when the outage starts and once at its end.

        Returns False if ``stop`` was set while waiting; raises ``TemporaryError`` after ``deadline_s``
        seconds and ``ConfigError`` at once (a wrong password does not get better with retries).
        """
        self._drop()
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
        return self._uidvalidity

    @property
    def can_move(self) -> bool:
        self.connect()
        return self._can_move

    def fetch_new(self, after_uid: int, uidvalidity: int | None, batch_size: int = 100) -> Iterator[InboundMail]:
        """Yield messages newer than the checkpoint, oldest first; all of them if UIDVALIDITY changed."""
        if self._client is None:
            self.connect()  # SELECT shows the mailbox as it is now
        else:
            with self._errors("noop"):
                # A session sees new mail only at a sync point; without one SEARCH answers from the old view.
                self._client.noop()
        current = self._uidvalidity
        start = after_uid + 1
        if uidvalidity != current:
            if uidvalidity is not None:
                log.warning(
                    "IMAP %s: UIDVALIDITY changed %s -> %s; fetching everything",
                    self.name,
                    uidvalidity,
                    current,
                )
            start = 1
        with self._errors("search"):
            # "n:*" always matches the highest UID, even one below n: filter.
            uids = sorted(uid for uid in self._client.search(["UID", f"{start}:*"]) if uid >= start)
            # Large messages are fetched alone, so a batch never holds gigabytes; one SEARCH finds them all,
            # which costs far less than fetching every message's size.
            large = set(self._client.search(["UID", f"{start}:*", "LARGER", str(_LARGE_MESSAGE)])) if uids else set()
        for batch in _batches(uids, large, batch_size):
            with self._errors("fetch"):
                data = self._client.fetch(batch, [b"BODY.PEEK[]"])
            for uid in batch:
                item = data.get(uid)
                if item is None:
                    continue  # expunged since the search
                self._last_uid = uid
                yield InboundMail(self.name, current, uid, item.get(b"BODY[]") or b"")

    def file_message(self, mail: InboundMail, folder: str) -> None:
        """Move a processed message to ``relance/processed``, ``relance/review`` or ``relance/quarantine``."""
        self.file_messages([mail], folder)

    def file_messages(self, mails: Sequence[InboundMail], folder: str) -> None:
        """File several messages with one command (MOVE, or COPY + \\Deleted + UID EXPUNGE without MOVE).

        Messages from an older UIDVALIDITY are left where they are: their UIDs may now name other messages.
        """
        leaf = _parse_folder(folder)
        self.connect()
        uids = [m.uid for m in mails if m.uidvalidity == self._uidvalidity]
        if len(uids) < len(mails):
            log.warning("IMAP %s: %d message(s) from an old UIDVALIDITY not filed", self.name, len(mails) - len(uids))
        if not uids:
            return
        target = self._folders[leaf]
        with self._errors("filing"):
            if self._can_move:
                self._client.move(uids, target)
            else:
                self._client.copy(uids, target)
                self._client.add_flags(uids, [DELETED], silent=True)
                if self._has_uidplus:
                    self._client.uid_expunge(uids)
                else:
                    self._client.expunge()

    # -- waiting for mail --------------------------------------------------------------------------
    def wait_for_activity(self, timeout_s: float) -> bool:
        """Block until new mail may be there (True) or ``timeout_s`` passed (False), using IDLE.

        IDLE is re-issued every ``idle_reissue_s``; a dropped connection raises ``TemporaryError``.
        """
        self.connect()
        deadline = time.monotonic() + timeout_s
        with self._errors("idle"):
            if self._newer_exists():
                return True
            while (remaining := deadline - time.monotonic()) > 0:
                if self._idle_once(min(remaining, self.config.idle_reissue_s)):
                    return True
        return False

    def _newer_exists(self) -> bool:
        # Mail that arrived between the last FETCH and IDLE would otherwise wait for the next notification.
        if self._last_uid is None:
            return False
        self._client.noop()
        found = self._client.search(["UID", f"{self._last_uid + 1}:*"])
        return any(uid > self._last_uid for uid in found)

    def _idle_once(self, seconds: float) -> bool:
        client = self._client
        client.idle()
        end = time.monotonic() + seconds
        activity = False
        while not activity and (left := end - time.monotonic()) > 0:
            began = time.monotonic()
            responses = client.idle_check(timeout=left)
            activity = _announces_mail(responses)
            if any(isinstance(r, tuple) and r[:1] == (b"BYE",) for r in responses):
                break  # the server is going away: DONE will fail and report it
            if not responses and time.monotonic() - began < left - 0.01:
                # imapclient returns nothing, early, when the server closed the socket: end IDLE to find out.
                break
        _text, responses = client.idle_done()
        return activity or _announces_mail(responses)


def _announces_mail(responses: list[Any]) -> bool:
    return any(isinstance(r, tuple) and len(r) >= 2 and r[1] in (b"EXISTS", b"RECENT") for r in responses)


def _batches(uids: list[int], large: set[int], batch_size: int) -> Iterator[list[int]]:
    batch: list[int] = []
    for uid in uids:
        if uid in large:
            if batch:
                yield batch
                batch = []
            yield [uid]
            continue
        batch.append(uid)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
