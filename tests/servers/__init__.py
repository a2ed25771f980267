"""Real servers started by the tests themselves (Dovecot, PostgreSQL, Chromium; aiosmtpd in ``smtp_server``).

Each server runs unprivileged on 127.0.0.1 on a free port with its files under a private temporary directory.
When a server cannot start, :func:`unavailable` skips the test on a developer's machine and fails it loudly in
CI (``CI=true``), so a green CI run never hides a server that silently did not run.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import pytest

#: The unprivileged account the servers run as when the tests run as root.
TEST_USER = "relance-test"


def find_program(name: str) -> str | None:
    """``shutil.which`` that also looks in the sbin directories, which a non-login PATH may lack."""
    found = shutil.which(name)
    if found:
        return found
    for directory in ("/usr/sbin", "/sbin", "/usr/bin", "/bin"):
        candidate = Path(directory) / name
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """Skip locally, fail in CI: a required server that cannot start must never pass silently there."""
    if in_ci():
        pytest.fail(f"required test server unavailable in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_account() -> pwd.struct_passwd:
    """The account servers run as: ``relance-test`` (created if missing) under root, else the current user."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                TEST_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(TEST_USER)


def as_server_user(cmd: Sequence[str]) -> list[str]:
    """Prefix ``cmd`` so that it runs as :func:`server_account` (``runuser`` when we are root)."""
    if os.geteuid() != 0:
        return list(cmd)
    return [find_program("runuser") or "runuser", "-u", server_account().pw_name, "--", *cmd]


def private_dir(prefix: str) -> Path:
    """A fresh directory owned by the server account (pytest's tmp dirs are 0700 root, unusable by it)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    account = server_account()
    os.chown(path, account.pw_uid, account.pw_gid)
    return path


def chown_tree(path: Path) -> None:
    account = server_account()
    if os.geteuid() != 0:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, account.pw_uid, account.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), account.pw_uid, account.pw_gid, follow_symlinks=False)


def remove_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
