"""A real aiosmtpd server for the tests, with faults injected per test.

Runs in a thread (aiosmtpd's ``Controller``) on 127.0.0.1 and a free port; records what it accepted (one entry
per accepted message, with its Message-ID); optional STARTTLS or implicit TLS with a self-signed certificate
made by the test (``cryptography``), optional AUTH. Faults, each for the next N messages or for N seconds:

- ``fail(code, stage="DATA")``: reply ``code`` at MAIL, RCPT or DATA (421 also closes the connection)
- ``disconnect_in_data()``: drop the connection after the data arrived, before replying
- ``slow(seconds)``: wait before replying to DATA (a client with a shorter timeout gives up)
- ``refuse_recipient(address, code)``: always refuse one recipient

Use the ``smtp_server`` fixture (register ``tests.servers.smtp_server`` in ``pytest_plugins``) or the class.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.servers import free_port


@dataclass
class Accepted:
    message_id: str
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class _Fault:
    kind: str  # "reply", "disconnect", "slow"
    stage: str  # "MAIL", "RCPT", "DATA"
    code: int = 0
    seconds: float = 0.0
    remaining: int | None = 1  # None: until ``until``
    until: float | None = None

    def applies(self, stage: str) -> bool:
        if stage != self.stage:
            return False
        if self.until is not None:
            return time.monotonic() < self.until
        return self.remaining is not None and self.remaining > 0

    def consume(self) -> None:
        if self.remaining is not None and self.until is None:
            self.remaining -= 1


@dataclass
class _State:
    accepted: list[Accepted] = field(default_factory=list)
    faults: list[_Fault] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)
    peers: set[tuple[str, int]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, stage: str) -> _Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.applies(stage):
                    fault.consume()
                    return fault
        return None


_TEXTS = {
    421: "4.3.2 Service shutting down",
    451: "4.3.0 Try again later",
    452: "4.3.1 Insufficient storage",
    550: "5.1.1 Mailbox unavailable",
    552: "5.3.4 Message too big",
    554: "5.7.1 Rejected",
}


class _Handler:
    def __init__(self, state: _State) -> None:
        self.state = state

    async def _fault(self, server: Any, stage: str) -> str | None:
        fault = self.state.take(stage)
        if fault is None:
            return None
        if fault.kind == "slow":
            await asyncio.sleep(fault.seconds)
            return None
        if fault.kind == "disconnect":
            server.transport.abort()
            return "421 4.3.2 gone"  # never reaches the client: the connection is already closed
        if fault.code == 421:  # reply first, then hang up, as a server shutting down does
            asyncio.get_running_loop().call_later(0.02, server.transport.close)
        return f"{fault.code} {_TEXTS.get(fault.code, 'Injected failure')}"

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        with self.state.lock:
            self.state.peers.add(tuple(session.peer[:2]))
        reply = await self._fault(server, "MAIL")
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        code = self.state.refused.get(address.lower())
        if code:
            return f"{code} {_TEXTS.get(code, 'Refused')}"
        reply = await self._fault(server, "RCPT")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await self._fault(server, "DATA")
        if reply:
            return reply
        data = envelope.original_content or envelope.content
        parsed = email.message_from_bytes(data, policy=policy.compat32)
        message_id = str(parsed.get("Message-ID", "")).strip()
        with self.state.lock:
            self.state.accepted.append(
                Accepted(message_id, envelope.mail_from, list(envelope.rcpt_tos), data)
            )
        return "250 2.0.0 Queued"


def make_certificate(directory: Path, host: str = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` and 127.0.0.1: (cert.pem, key.pem)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(host), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class SmtpTestServer:
    """``tls``: "none", "starttls" (required before MAIL) or "ssl" (implicit TLS); ``auth``: (user, pw)."""

    def __init__(
        self, cert_dir: Path | None = None, *, tls: str = "none", auth: tuple[str, str] | None = None
    ):
        self.host = "127.0.0.1"
        self.port = free_port()
        self.tls = tls
        self.auth = auth
        self.state = _State()
        self.cert_path: Path | None = None
        kwargs: dict[str, Any] = {}
        if tls != "none":
            if cert_dir is None:
                raise ValueError("TLS needs a directory for the self-signed certificate")
            self.cert_path, key_path = make_certificate(cert_dir)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert_path, key_path)
            if tls == "ssl":
                kwargs["ssl_context"] = context
            else:
                kwargs["tls_context"] = context
                kwargs["require_starttls"] = True
        if auth is not None:
            kwargs["authenticator"] = self._authenticate
            # aiosmtpd only knows about TLS it negotiated itself (STARTTLS), so with implicit TLS it must not
            # insist on it; and it warns when AUTH is required without TLS, so only STARTTLS requires AUTH.
            kwargs["auth_require_tls"] = tls == "starttls"
            kwargs["auth_required"] = tls == "starttls"
        self._controller = Controller(_Handler(self.state), hostname=self.host, port=self.port, **kwargs)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == self.auth
        return AuthResult(success=ok, handled=False)  # handled=True would leave the client unanswered

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting this server's self-signed certificate."""
        assert self.cert_path is not None
        return ssl.create_default_context(cafile=str(self.cert_path))

    def start(self) -> SmtpTestServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what happened -------------------------------------------------------------------------------------
    @property
    def accepted(self) -> list[Accepted]:
        with self.state.lock:
            return list(self.state.accepted)

    def accepted_ids(self) -> list[str]:
        return [a.message_id for a in self.accepted]

    @property
    def connections(self) -> int:
        """Distinct client connections that got as far as MAIL FROM."""
        with self.state.lock:
            return len(self.state.peers)

    # -- faults --------------------------------------------------------------------------------------------
    def _add(self, fault: _Fault, seconds: float | None) -> None:
        if seconds is not None:
            fault.remaining, fault.until = None, time.monotonic() + seconds
        with self.state.lock:
            self.state.faults.append(fault)

    def fail(self, code: int, *, count: int = 1, seconds: float | None = None, stage: str = "DATA") -> None:
        self._add(_Fault("reply", stage.upper(), code=code, remaining=count), seconds)

    def disconnect_in_data(self, *, count: int = 1, seconds: float | None = None) -> None:
        self._add(_Fault("disconnect", "DATA", remaining=count), seconds)

    def slow(
        self, delay: float, *, count: int = 1, seconds: float | None = None, stage: str = "DATA"
    ) -> None:
        self._add(_Fault("slow", stage.upper(), seconds=delay, remaining=count), seconds)

    def refuse_recipient(self, address: str, code: int = 550) -> None:
        with self.state.lock:
            self.state.refused[address.lower()] = code

    def clear_faults(self) -> None:
        with self.state.lock:
            self.state.faults.clear()
            self.state.refused.clear()


@pytest.fixture()
def smtp_server() -> Iterator[SmtpTestServer]:
    """A plain (no TLS) aiosmtpd server on 127.0.0.1 for one test."""
    with SmtpTestServer() as server:
        yield server
