"""Signed session cookies, CSRF tokens, login throttling and the security headers of every response."""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE_NAME = "relance_session"
SESSION_MAX_AGE = 12 * 3600  # a working day; after that the collector signs in again

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        b"form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)


class SessionCodec:
    """Session data as a signed (not encrypted) cookie: it holds only a user id, a CSRF token and flashes."""

    def __init__(self, secret_key: str, *, secure: bool) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="relance-web-session")
        self.secure = secure

    def load(self, cookie: str | None) -> dict[str, Any]:
        if not cookie:
            return {}
        try:
            data = self._serializer.loads(cookie, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return {}
        return data if isinstance(data, dict) else {}

    def dump(self, data: dict[str, Any]) -> str:
        return self._serializer.dumps(data)

    def set_cookie_header(self, data: dict[str, Any] | None) -> bytes:
        """The Set-Cookie value: HttpOnly and SameSite=Lax always, Secure when served over https."""
        if data is None:
            value, max_age = "", 0
        else:
            value, max_age = self.dump(data), SESSION_MAX_AGE
        parts = [f"{COOKIE_NAME}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts).encode("latin-1")


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_matches(expected: object, given: object) -> bool:
    return (
        isinstance(expected, str)
        and isinstance(given, str)
        and bool(expected)
        and hmac.compare_digest(expected.encode(), given.encode())
    )


class LoginThrottle:
    """Refuses logins for a (username, address) pair after too many failures in a row.

    Keyed on the pair so that one attacker cannot lock a colleague out from another machine, and on the
    username so that one address cannot try many passwords. In memory: a restart forgets, which is acceptable
    since argon2 already makes each guess slow.
    """

    def __init__(
        self,
        now: Callable[[], datetime],
        *,
        max_failures: int = 5,
        lock_for: timedelta = timedelta(seconds=60),
    ) -> None:
        self._now = now
        self._max = max_failures
        self._lock_for = lock_for
        self._failures: dict[tuple[str, str], list[datetime]] = {}
        self._mutex = threading.Lock()

    @staticmethod
    def _key(username: str, address: str) -> tuple[str, str]:
        return username.strip().lower()[:120], address

    def locked_for(self, username: str, address: str) -> int:
        """Seconds left before this pair may try again (0: not locked)."""
        with self._mutex:
            times = self._failures.get(self._key(username, address), [])
            if len(times) < self._max:
                return 0
            left = times[-1] + self._lock_for - self._now()
            if left.total_seconds() <= 0:
                # The lock has run out: allow one more try, and lock again straight away if it fails.
                self._failures[self._key(username, address)] = times[-(self._max - 1) :]
                return 0
            return max(1, int(left.total_seconds()))

    def failed(self, username: str, address: str) -> None:
        with self._mutex:
            times = self._failures.setdefault(self._key(username, address), [])
            times.append(self._now())
            del times[: -self._max]
            if len(self._failures) > 10_000:  # bound memory under a spray of usernames
                self._failures.pop(next(iter(self._failures)))

    def succeeded(self, username: str, address: str) -> None:
        with self._mutex:
            self._failures.pop(self._key(username, address), None)


class SecurityHeadersMiddleware:
    """Adds the security headers, and the session cookie when a handler changed the session."""

    def __init__(self, app: ASGIApp, codec: SessionCodec) -> None:
        self.app = app
        self.codec = codec

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                if b"cache-control" not in present and not scope["path"].startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))  # pages hold personal data
                state = scope.get("state") or {}
                if state.get("session_changed"):
                    headers.append((b"set-cookie", self.codec.set_cookie_header(state.get("session"))))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper)
