"""One IMAP session (imapclient): login, SELECT, the filing folders, SEARCH, FETCH, MOVE and IDLE.

Not thread-safe: ``ImapMailbox`` runs every method of it on its I/O thread (``imap_io``), one at a time.

Every library, socket and TLS exception is translated here, once, into ``TemporaryError`` (worth retrying: the
connection dropped, the server is restarting) or ``ConfigError`` (retrying cannot help: bad password, a
certificate that does not validate, a server without the TLS we were told to use). TLS failures never fall
back to plaintext.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import ssl
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

# A batch's FETCH brings at most this many octets of each message; one that fills them is then fetched whole,
# alone: a batch of 20 MB messages must not hold gigabytes.
LARGE_MESSAGE = 1024 * 1024


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


class ImapSession:
    """The connection and what the server told us about it; reconnects only when asked (``connect``)."""

    def __init__(self, config: ImapConfig) -> None:
        if config.tls not in ("ssl", "starttls", "none"):
            raise ConfigError(f"RELANCE_IMAP_TLS must be ssl, starttls or none, not {config.tls!r}")
        if config.tls == "none" and not _is_loopback(config.host):
            raise ConfigError(f"RELANCE_IMAP_TLS=none is only allowed for 127.0.0.1, not {config.host!r}")
        self.config = config
        self.port = config.port or (993 if config.tls == "ssl" else 143)
        self.name = f"imap://{config.user}@{config.host}:{self.port}/{config.folder}"
        self.client: Any = None
        self.uidvalidity = 0
        self.can_move = False
        self._has_uidplus = False
        self._writable = False  # the folder selected read-write (see ``_open``)
        self._folders: dict[str, str] = {}

    # -- connection --------------------------------------------------------------------------------
    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except RelanceError:
            raise
        except LoginError as exc:
            self.drop()
            raise ConfigError(f"IMAP login refused for {self.name}: check user and password") from exc
        except ssl.SSLCertVerificationError as exc:
            self.drop()
            raise ConfigError(f"IMAP server {self.config.host} failed TLS verification: {exc}") from exc
        except (IMAPClientError, OSError, EOFError) as exc:  # ssl.SSLError and socket timeouts are OSErrors
            self.drop()
            raise TemporaryError(f"IMAP {action} failed on {self.name}: {exc}") from exc

    def connect(self) -> None:
        """Connect, log in, select the folder and create the filing folders; a no-op when connected."""
        if self.client is not None:
            return
        cfg = self.config
        context = cfg.ssl_context or ssl.create_default_context()
        with self.errors("connect"):
            client = IMAPClient(cfg.host, self.port, ssl=cfg.tls == "ssl", ssl_context=context, timeout=cfg.timeout_s)
            self.client = client
            try:
                self._open(client)
            except BaseException:
                self.drop()  # never keep a half-open session (e.g. connected but not upgraded to TLS)
                raise
        log.debug("IMAP connected to %s (uidvalidity %d, move=%s)", self.name, self.uidvalidity, self.can_move)

    def _open(self, client: Any) -> None:
        cfg = self.config
        if cfg.tls == "starttls":
            try:
                client.starttls(cfg.ssl_context or ssl.create_default_context())
            except CapabilityError as exc:
                raise ConfigError(f"IMAP server {cfg.host} does not offer STARTTLS; refusing plaintext") from exc
        client.login(cfg.user, cfg.password)
        caps = set(client.capabilities())
        self.can_move = b"MOVE" in caps
        self._has_uidplus = b"UIDPLUS" in caps
        try:
            # Read-only (EXAMINE) until something is filed: selecting a folder read-write makes Dovecot move
            # every message still in the Maildir's new/ to cur/ first (0.2 s for a backlog of 10,000), which
            # then happens with the first filing, in the background, instead of before the first FETCH.
            selected = client.select_folder(cfg.folder, readonly=True)
        except IMAPClientError as exc:
            raise ConfigError(f"IMAP folder {cfg.folder!r} cannot be selected on {cfg.host}: {exc}") from exc
        self.uidvalidity = int(selected[b"UIDVALIDITY"])
        self._writable = False
        self._ensure_folders(client)

    def _select_writable(self, client: Any) -> None:
        """Select the folder read-write (filing needs it), once per session."""
        if not self._writable:
            selected = client.select_folder(self.config.folder)
            self.uidvalidity = int(selected[b"UIDVALIDITY"])
            self._writable = True

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

    def drop(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.shutdown()
        except (IMAPClientError, OSError):
            pass  # the connection is already gone; nothing left to release

    def logout(self) -> None:
        client = self.client
        if client is None:
            return
        try:
            client.logout()
        except (IMAPClientError, OSError):
            pass
        self.client = None

    # -- commands ----------------------------------------------------------------------------------
    def search_new(self, after_uid: int, uidvalidity: int | None) -> tuple[int, list[int]]:
        """UIDVALIDITY and the UIDs newer than the checkpoint (all of them if UIDVALIDITY changed)."""
        if self.client is None:
            self.connect()  # SELECT shows the mailbox as it is now
        else:
            with self.errors("noop"):
                # A session sees new mail only at a sync point; without one SEARCH answers from the old view.
                self.client.noop()
        current = self.uidvalidity
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
        with self.errors("search"):
            # "n:*" always matches the highest UID, even one below n: filter.
            uids = sorted(uid for uid in self.client.search(["UID", f"{start}:*"]) if uid >= start)
        return current, uids

    def left_behind(self, upto_uid: int, uidvalidity: int) -> list[int]:
        """UIDs up to ``upto_uid`` (the checkpoint) still in the folder under ``uidvalidity``, oldest first.

        Every message up to the checkpoint was recorded and filed away: one still here is one whose filing
        failed (the connection dropped before the MOVE, the server refused it) or was never asked.
        """
        self.connect()
        if upto_uid < 1 or self.uidvalidity != uidvalidity:
            return []
        with self.errors("search"):
            return sorted(uid for uid in self.client.search(["UID", f"1:{upto_uid}"]) if uid <= upto_uid)

    def fetch(self, uids: list[int], uidvalidity: int, limit: int | None = LARGE_MESSAGE) -> dict[int, bytes]:
        """The messages of ``uids`` that still exist, by UID: their first ``limit`` octets, or whole (None).

        A message of ``limit`` octets or more may have been cut: the caller fetches it again, whole. This
        costs the server less than asking for the sizes first (a SEARCH LARGER reads every message).
        """
        if self.client is None:
            # A failed filing dropped the connection between two batches: go on in a new session.
            self.connect()
        if self.uidvalidity != uidvalidity:
            # UIDs mean the same messages only under the same UIDVALIDITY (a new session, or the read-write
            # SELECT of the first filing, may see another).
            raise TemporaryError(f"IMAP {self.name}: UIDVALIDITY changed during a fetch")
        section = "BODY.PEEK[]" if limit is None else f"BODY.PEEK[]<0.{limit}>"
        with self.errors("fetch"):
            plain = _plain_fetch(self.client, uids, section)
            if plain is not None:
                return plain
            data = self.client.fetch(uids, [section.encode("ascii")])
        key = b"BODY[]" if limit is None else b"BODY[]<0>"
        # A message expunged meanwhile may still be answered, its body NIL (Dovecot) or left out: it is left out
        # here too, where reading it as an empty message would quarantine it. An empty message is b"".
        return {uid: body for uid, item in data.items() if (body := item.get(key)) is not None}

    def file(self, mails: Sequence[InboundMail], leaf: str, known_uidvalidity: int) -> None:
        """File messages with one command (MOVE, or COPY + \\Deleted + UID EXPUNGE without MOVE).

        Messages from another UIDVALIDITY than this session's and the caller's (``known_uidvalidity``, 0 when
        it had none) are left where they are: their UIDs may now name other messages.
        """
        self.connect()
        with self.errors("select"):
            self._select_writable(self.client)
        current = self.uidvalidity
        fresh = known_uidvalidity in (0, current)
        uids = [m.uid for m in mails if fresh and m.uidvalidity == current]
        if len(uids) < len(mails):
            log.warning("IMAP %s: %d message(s) from an old UIDVALIDITY not filed", self.name, len(mails) - len(uids))
        if not uids:
            return
        target = self._folders[leaf]
        with self.errors("filing"):
            if self.can_move:
                self.client.move(uids, target)
            else:
                self.client.copy(uids, target)
                self.client.add_flags(uids, [DELETED], silent=True)
                if self._has_uidplus:
                    self.client.uid_expunge(uids)
                else:
                    self.client.expunge()

    # -- waiting for mail --------------------------------------------------------------------------
    def wait_for_activity(self, timeout_s: float, last_uid: int | None) -> bool:
        """Block until new mail may be there (True) or ``timeout_s`` passed (False), using IDLE."""
        self.connect()
        deadline = time.monotonic() + timeout_s
        with self.errors("idle"):
            if self._newer_exists(last_uid):
                return True
            while (remaining := deadline - time.monotonic()) > 0:
                if self._idle_once(min(remaining, self.config.idle_reissue_s)):
                    return True
        return False

    def _newer_exists(self, last_uid: int | None) -> bool:
        # Mail that arrived between the last FETCH and IDLE would otherwise wait for the next notification.
        if last_uid is None:
            return False
        self.client.noop()
        found = self.client.search(["UID", f"{last_uid + 1}:*"])
        return any(uid > last_uid for uid in found)

    def _idle_once(self, seconds: float) -> bool:
        client = self.client
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


#: A message of a ``UID FETCH ... (BODY.PEEK[])`` response as servers write it: "n (UID u BODY[] {size}",
#: with the origin after a partial fetch's ``BODY.PEEK[]<0.limit>``: "n (UID u BODY[]<0> {size}".
_FETCHED = re.compile(rb"\d+ \(UID (\d+) BODY\[\](?:<0>)? \{\d+\}")


def _plain_fetch(client: Any, uids: list[int], section: str = "BODY.PEEK[]") -> dict[int, bytes] | None:
    """The messages of ``uids`` by UID, read with imaplib's own parsing; None when the response has another
    shape (the caller then asks imapclient, whose general parser takes any).

    imapclient tokenises every response in Python, which cost three times what the FETCH itself costs the
    inbox's process; the literals are read the same way by both.
    """
    imap = getattr(client, "_imap", None)
    if imap is None:
        return None
    kind, data = imap.uid("FETCH", ",".join(map(str, uids)), f"({section})")
    if kind != "OK":
        return None
    found: dict[int, bytes] = {}
    closing = False
    for part in data:
        if isinstance(part, tuple):
            head = _FETCHED.fullmatch(part[0])
            if head is None or closing:
                return None
            found[int(head.group(1))] = part[1]
            closing = True
        elif part == b")" and closing:
            closing = False
        elif part is not None:
            return None  # anything else (flags, another item): let imapclient read it
    return None if closing else found
