"""The MailSender port on aiosmtplib: one persistent SMTP session, errors translated once.

Translation (the outbox retries ``TemporaryError`` and gives up on ``PermanentError``):

- 4xx replies, lost connections, timeouts                      -> ``TemporaryError(smtp_code=...)``
- 5xx replies, every recipient refused, sender refused (5xx)   -> ``PermanentError(smtp_code=...)``
- some recipients refused, others accepted                     -> ``RecipientsRefusedError`` (a
  ``PermanentError``): the message WAS delivered to ``accepted``; ``refused`` says who bounced
- TLS handshake or certificate failure, STARTTLS not offered,
  authentication refused (5xx), 530/534/538 replies             -> ``ConfigError``: nothing about the
  message is wrong, and sending in plaintext instead is never an option

The password never appears in logs, messages or ``repr``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Literal

import aiosmtplib

from bot.domain.errors import ConfigError, PermanentError, TemporaryError
from bot.ports import OutgoingMail

__all__ = ["LOCAL_HOSTS", "RecipientsRefusedError", "SmtpSender", "TlsMode"]

log = logging.getLogger(__name__)

TlsMode = Literal["ssl", "starttls", "none"]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# A connection idle longer than this gets a NOOP before reuse: servers drop idle sessions (often after 60 s
# to 5 min) and finding out at MAIL FROM would cost the message an attempt.
IDLE_CHECK_SECONDS = 20.0
# 530 "must issue STARTTLS" / "authentication required", 534/538 "stronger mechanism or encryption needed":
# our settings are wrong, not the message or the recipient, so the contact must not be marked as bouncing.
_CONFIG_CODES = frozenset({530, 534, 538})


class RecipientsRefusedError(PermanentError):
    """Some recipients were refused. ``accepted`` is empty when none got the message."""

    code = "recipients_refused"

    def __init__(self, refused: dict[str, tuple[int, str]], accepted: tuple[str, ...]) -> None:
        self.refused = refused
        self.accepted = accepted
        first_code = next(iter(refused.values()))[0] if refused else None
        shown = ", ".join(f"{addr} ({code} {text})" for addr, (code, text) in refused.items())
        note = f"; delivered to {', '.join(accepted)}" if accepted else ""
        super().__init__(f"recipients refused: {shown}{note}", smtp_code=first_code)


class SmtpSender:
    """Sends serialised messages over one reused SMTP connection (reconnects when it was dropped).

    One instance is one session; the outbox opens several instances to send in parallel. Calls to
    ``send`` on one instance are serialised by a lock.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: TlsMode = "starttls",
        timeout: float = 30,
        validate_certs: bool = True,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if tls not in ("ssl", "starttls", "none"):
            raise ConfigError(f"SMTP TLS mode must be ssl, starttls or none, not {tls!r}")
        if tls == "none" and host not in LOCAL_HOSTS:
            raise ConfigError(f"SMTP without TLS is only allowed to 127.0.0.1/localhost, not {host!r}")
        if (username is None) != (password is None):
            raise ConfigError("SMTP username and password go together")
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.tls: TlsMode = tls
        self.timeout = timeout
        self.validate_certs = validate_certs
        self._tls_context = tls_context
        self._client: aiosmtplib.SMTP | None = None
        self._last_used = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"SmtpSender({user}{self.host}:{self.port}, tls={self.tls})"

    async def send(self, mail: OutgoingMail) -> None:
        async with self._lock:
            client = await self._connection()
            try:
                errors, _ = await client.sendmail(mail.sender, list(mail.recipients), mail.data)
            except Exception as exc:
                await self._after_failure(exc)
                raise self._translate(exc, mail) from exc
            self._last_used = time.monotonic()
            if errors:
                refused = {addr: (resp.code, resp.message) for addr, resp in errors.items()}
                accepted = tuple(r for r in mail.recipients if r not in refused)
                log.warning("SMTP %s: %s partly refused: %s", self, mail.message_id, refused)
                raise RecipientsRefusedError(refused, accepted)
            log.debug("SMTP %s accepted %s", self, mail.message_id)

    async def close(self) -> None:
        async with self._lock:
            await self._drop(polite=True)

    async def _connection(self) -> aiosmtplib.SMTP:
        client = self._client
        if client is not None and client.is_connected:
            if time.monotonic() - self._last_used < IDLE_CHECK_SECONDS:
                return client
            try:
                await client.noop()
                return client
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                log.info("SMTP %s: idle connection was dropped, reconnecting", self)
        await self._drop(polite=False)
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout,
            use_tls=self.tls == "ssl",
            start_tls=True if self.tls == "starttls" else False,
            validate_certs=self.validate_certs,
            tls_context=self._tls_context,
            username=self.username,
            password=self._password,
        )
        try:
            await client.connect()
        except Exception as exc:
            raise self._translate_connect(exc) from exc
        self._client = client
        self._last_used = time.monotonic()
        return client

    async def _after_failure(self, exc: BaseException) -> None:
        """Keep the session only if the server answered cleanly (then RSET so the next MAIL starts fresh)."""
        client = self._client
        if (
            client is not None
            and client.is_connected
            and isinstance(exc, aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientsRefused)
            and getattr(exc, "code", 0) != 421
        ):
            try:
                await client.rset()
                return
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                pass
        await self._drop(polite=False)

    async def _drop(self, *, polite: bool) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        if polite and client.is_connected:
            try:
                await client.quit()
                return
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                pass
        client.close()

    def _translate_connect(self, exc: Exception) -> Exception:
        where = f"SMTP {self.host}:{self.port}"
        if _is_tls_failure(exc):
            return ConfigError(f"{where}: TLS failed ({_root(exc)}); not falling back to plaintext")
        if isinstance(exc, aiosmtplib.SMTPNotSupported) or (
            isinstance(exc, aiosmtplib.SMTPException) and "STARTTLS" in str(exc).upper()
        ):
            return ConfigError(f"{where}: {exc}; not falling back to plaintext")
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError) and exc.code >= 500:
            return ConfigError(f"{where}: authentication refused for {self.username!r} ({exc.code})")
        return self._translate(exc, None)

    def _translate(self, exc: Exception, mail: OutgoingMail | None) -> Exception:
        where = f"SMTP {self.host}:{self.port}" + (f" sending {mail.message_id}" if mail else "")
        if isinstance(exc, ConfigError | TemporaryError | PermanentError):
            return exc
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            refused = {r.recipient: (r.code, r.message) for r in exc.recipients}
            if refused and all(400 <= code < 500 for code, _ in refused.values()):
                first = next(iter(refused.values()))[0]
                return TemporaryError(f"{where}: recipients deferred: {refused}", smtp_code=first)
            return RecipientsRefusedError(refused, ())
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            text = f"{where}: {exc.code} {exc.message}"
            if exc.code in _CONFIG_CODES:
                return ConfigError(
                    f"{text} (the server wants TLS or authentication; check the SMTP settings)"
                )
            if 400 <= exc.code < 500:
                return TemporaryError(text, smtp_code=exc.code)
            if exc.code >= 500:
                return PermanentError(text, smtp_code=exc.code)
            return TemporaryError(text, smtp_code=exc.code)
        if _is_tls_failure(exc):
            return ConfigError(f"{where}: TLS failed ({_root(exc)}); not falling back to plaintext")
        if isinstance(exc, aiosmtplib.SMTPException | OSError | TimeoutError):
            return TemporaryError(f"{where}: {type(exc).__name__}: {exc}")
        return exc


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _is_tls_failure(exc: BaseException) -> bool:
    return any(isinstance(e, ssl.SSLError | ssl.CertificateError) for e in _chain(exc))


def _root(exc: BaseException) -> str:
    return str(_chain(exc)[-1])
