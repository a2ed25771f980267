"""A private Dovecot IMAP server for the tests: 127.0.0.1, a free port, Maildir storage, static users.

The whole server runs as one unprivileged account (``relance-test`` under root), which Dovecot allows when
``default_internal_user`` and ``default_login_user`` are that account and nothing is chrooted. Any user name
logs in with :data:`PASSWORD`, so one server serves every test with a fresh mailbox each. Messages are
delivered the way a local MTA does it: written to ``tmp/`` and renamed into ``new/``, which also works while
the server is down.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import (
    as_server_user,
    chown_tree,
    find_program,
    free_port,
    private_dir,
    remove_dir,
    server_account,
    unavailable,
)

# What Dovecot 2.3 announces after login, minus MOVE: used to exercise the COPY + \Deleted + EXPUNGE fallback.
CAPABILITY_WITHOUT_MOVE = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS "
    "THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS "
    "LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH "
    "LIST-STATUS BINARY SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE"
)

_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = {uid}
last_valid_uid = {uid}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{root}/mail/%n
mail_fsync = never
{ssl}
# A static passdb accepts any user name with the one test password: each test gets a fresh user without a
# passwd-file reload (which Dovecot notices only at a one-second granularity).
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%n
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
  # No penalty for failed logins: it would delay the next tests' logins from 127.0.0.1 by seconds.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
protocol imap {{
  imap_idle_notify_interval = 2 mins
  {capability}
}}
"""

_user_numbers = itertools.count(1)
PASSWORD = "secret-pw"


@dataclass(frozen=True)
class ImapUser:
    name: str
    password: str
    maildir: Path


class Dovecot:
    """One private Dovecot instance. ``start()``/``stop()`` may be called repeatedly (restart tests)."""

    def __init__(self, *, move: bool = True, tls: bool = False) -> None:
        self.root = private_dir("relance-dovecot-")
        self.host = "127.0.0.1"
        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        self.move = move
        self.tls = tls
        self.cert_path = self.root / "cert.pem"
        self.config = self.root / "dovecot.conf"
        self._write_config()

    # -- lifecycle ---------------------------------------------------------------------------------
    def _write_config(self) -> None:
        account = server_account()
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(exist_ok=True)
        ssl = "ssl = no"
        if self.tls:
            self._make_certificate()
            ssl = f"ssl = yes\nssl_cert = <{self.cert_path}\nssl_key = <{self.root / 'key.pem'}"
        capability = "" if self.move else f"imap_capability = {CAPABILITY_WITHOUT_MOVE}"
        self.config.write_text(
            _CONFIG.format(
                root=self.root,
                user=account.pw_name,
                group=_group_name(account.pw_gid),
                uid=account.pw_uid,
                gid=account.pw_gid,
                password=PASSWORD,
                ssl=ssl,
                port=self.port,
                tls_port=self.tls_port,
                capability=capability,
            )
        )
        chown_tree(self.root)

    def _make_certificate(self) -> None:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout",
                str(self.root / "key.pem"),
                "-out",
                str(self.cert_path),
            ],
            check=True,
            capture_output=True,
        )

    def start(self, timeout_s: float = 10.0) -> None:
        dovecot = find_program("dovecot")
        if dovecot is None:
            unavailable("dovecot is not installed (apt-get install dovecot-imapd)")
        # The master daemonizes and would keep captured pipes open forever: send its output to a file.
        with open(self.root / "start.err", "w+") as err:
            code = subprocess.call(
                as_server_user([dovecot, "-c", str(self.config)]),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                timeout=timeout_s,
            )
            err.seek(0)
            if code != 0:
                unavailable(f"dovecot did not start: {err.read().strip()} {self.log_tail()}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        unavailable(f"dovecot did not answer on port {self.port}: {self.log_tail()}")

    def pid(self) -> int | None:
        try:
            return int((self.root / "run" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout_s: float = 1.0) -> None:
        """Stop the server by PID: its whole process group, since imap processes outlive a stopped master.

        Clients get Dovecot's own BYE; whatever is left after ``timeout_s`` (the master lingers for a
        second or two) is killed, which only costs a test server its shutdown niceties.
        """
        pid = self.pid()
        if pid is None:
            return
        try:
            # The daemonized master leads its own process group, which every Dovecot process inherits.
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while group_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if group_alive(pid):
            os.killpg(pid, signal.SIGKILL)
            while group_alive(pid) and time.monotonic() < deadline + 5:
                time.sleep(0.02)
        (self.root / "run" / "master.pid").unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        self.stop()
        remove_dir(self.root)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.root / "dovecot.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- users and mail ----------------------------------------------------------------------------
    def add_user(self, name: str | None = None) -> ImapUser:
        """A user with an empty INBOX (every user shares :data:`PASSWORD`)."""
        name = name or f"user{next(_user_numbers)}"
        maildir = self.root / "mail" / name
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        chown_tree(maildir)
        return ImapUser(name, PASSWORD, maildir)

    def deliver(self, user: ImapUser, raw: bytes, folder: str = "") -> Path:
        """Deliver one message into INBOX (or Maildir++ ``folder`` like ``relance.review``) as an MTA does."""
        box = user.maildir / f".{folder}" if folder else user.maildir
        name = f"{time.time_ns()}.R{os.getpid()}_{next(_user_numbers)}.relance-test"
        tmp = box / "tmp" / name
        tmp.write_bytes(raw)
        account = server_account()
        if os.geteuid() == 0:
            os.chown(tmp, account.pw_uid, account.pw_gid)
        final = box / "new" / name
        os.rename(tmp, final)
        return final

    def doveadm(self, *args: str) -> str:
        proc = subprocess.run(
            as_server_user([find_program("doveadm") or "doveadm", "-c", str(self.config), *args]),
            capture_output=True,
            text=True,
            timeout=30,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def set_uidvalidity(self, user: ImapUser, value: int, mailbox: str = "INBOX") -> None:
        """Change a mailbox's UIDVALIDITY as a server migration does (clients must refetch everything)."""
        self.doveadm("mailbox", "update", "-u", user.name, "--uid-validity", str(value), mailbox)


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs; zombies (the master is reparented to PID 1) don't count."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name


def simple_message(subject: str, body: str = "Hello.\r\n", size: int = 0, msgid: str | None = None) -> bytes:
    """A small RFC 5322 message; ``size`` pads the body to about that many bytes."""
    msgid = msgid or f"<{time.time_ns()}.{next(_user_numbers)}@test.invalid>"
    text = body
    if size:
        line = "x" * 76 + "\r\n"
        text = body + line * max(0, size // len(line))
    head = (
        f"From: Client <client@example.com>\r\nTo: relance@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: {msgid}\r\nDate: Mon, 02 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    return head.encode() + text.encode()


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    """A shared Dovecot (MOVE announced); give each test its own user with ``dovecot_user``."""
    server = Dovecot()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def dovecot_server_without_move() -> Iterator[Dovecot]:
    server = Dovecot(move=False)
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def dovecot_user(dovecot_server: Dovecot) -> ImapUser:
    """A fresh user with an empty INBOX on the shared server."""
    return dovecot_server.add_user()


@pytest.fixture
def make_dovecot() -> Iterator[type[Dovecot]]:
    """Private servers for tests that restart or reconfigure them; all are stopped and removed afterwards."""
    made: list[Dovecot] = []

    class _Tracked(Dovecot):
        def __init__(self, *, move: bool = True, tls: bool = False) -> None:
            super().__init__(move=move, tls=tls)
            made.append(self)

    try:
        yield _Tracked
    finally:
        for server in made:
            server.destroy()
