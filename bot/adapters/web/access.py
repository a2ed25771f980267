"""The one place that says who may call what: a table of (route path, method) -> access rule.

Every route is looked up here by the guard in :mod:`bot.adapters.web.guard`; a route missing from the table is
refused (fail closed), and ``tests/adapters/web/test_access.py`` walks ``app.routes`` so that a new
route without
an entry fails the build instead of silently being open or closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Auth(StrEnum):
    NONE = "none"  # no login: holds no personal data
    SESSION = "session"  # signed session cookie + CSRF on state changes
    TOKEN = "token"  # API bearer token (no cookie, so no CSRF)


@dataclass(frozen=True)
class Access:
    auth: Auth
    roles: frozenset[str] = frozenset()


ADMIN = "admin"
COLLECTOR = "collector"
AUTHOR = "template_author"
VIEWER = "viewer"

PUBLIC = Access(Auth.NONE)
ANY_USER = Access(Auth.SESSION, frozenset({ADMIN, COLLECTOR, AUTHOR, VIEWER}))
READERS = Access(Auth.SESSION, frozenset({ADMIN, COLLECTOR, VIEWER}))
WORKERS = Access(Auth.SESSION, frozenset({ADMIN, COLLECTOR}))
AUTHORS = Access(Auth.SESSION, frozenset({ADMIN, AUTHOR}))
ADMINS = Access(Auth.SESSION, frozenset({ADMIN}))
API_READ = Access(Auth.TOKEN, frozenset({ADMIN, COLLECTOR, VIEWER}))
API_WRITE = Access(Auth.TOKEN, frozenset({ADMIN}))

GET, POST = "GET", "POST"

ROUTE_ACCESS: dict[tuple[str, str], Access] = {
    # no personal data
    ("/login", GET): PUBLIC,
    ("/login", POST): PUBLIC,  # still CSRF-checked: the login form carries the pre-session token
    ("/healthz", GET): PUBLIC,
    ("/metrics", GET): PUBLIC,
    ("/static", GET): PUBLIC,
    ("/api/v1/openapi.json", GET): PUBLIC,
    # any signed-in user
    ("/", GET): ANY_USER,
    ("/logout", POST): ANY_USER,
    # review queue
    ("/review", GET): READERS,
    ("/review/export.jsonl", GET): WORKERS,
    ("/review/{item_id}/confirm", POST): WORKERS,
    ("/review/{item_id}/correct", POST): WORKERS,
    ("/review/{item_id}/details", POST): WORKERS,
    ("/review/{item_id}/reply", POST): WORKERS,
    ("/review/{item_id}/done", POST): WORKERS,
    # call and letter tasks
    ("/tasks", GET): READERS,
    ("/tasks/{task_id}/outcome", POST): WORKERS,
    # ledger
    ("/clients", GET): READERS,
    ("/priorities", GET): READERS,
    ("/clients/{client_id}", GET): READERS,
    ("/clients/{client_id}/pause", POST): WORKERS,
    ("/clients/{client_id}/resume", POST): WORKERS,
    ("/clients/{client_id}/exclude", POST): WORKERS,
    ("/invoices/{invoice_number}", GET): READERS,
    ("/invoices/{invoice_number}/pause", POST): WORKERS,
    ("/invoices/{invoice_number}/resume", POST): WORKERS,
    ("/dashboard", GET): READERS,
    # templates
    ("/templates", GET): AUTHORS,
    ("/templates/{name}", GET): AUTHORS,
    ("/templates/{name}", POST): AUTHORS,
    ("/templates/{name}/preview", POST): AUTHORS,
    ("/templates/{name}/revert/{version_id}", POST): AUTHORS,
    # profiles
    ("/profiles", GET): ADMINS,
    ("/profiles", POST): ADMINS,
    # users and tokens
    ("/users", GET): ADMINS,
    ("/users", POST): ADMINS,
    ("/users/{user_id}/role", POST): ADMINS,
    ("/users/{user_id}/active", POST): ADMINS,
    ("/users/{user_id}/tokens", POST): ADMINS,
    ("/tokens/{token_id}/revoke", POST): ADMINS,
    # REST API
    ("/api/v1/clients/{client_id}", GET): API_READ,
    ("/api/v1/clients/{client_id}/timeline", GET): API_READ,
    ("/api/v1/review-items", GET): API_READ,
    ("/api/v1/invoices", POST): API_WRITE,
    ("/api/v1/payments", POST): API_WRITE,
}


def access_for(path: str, method: str) -> Access | None:
    """The rule for a route template and method (HEAD is treated as GET); ``None`` means refuse."""
    return ROUTE_ACCESS.get((path, "GET" if method == "HEAD" else method))


def allowed(role: str | None, path: str, method: str = "GET") -> bool:
    """Whether a signed-in user with ``role`` may call the route (used to hide links too)."""
    rule = access_for(path, method)
    if rule is None:
        return False
    return rule.auth is Auth.NONE or (role is not None and role in rule.roles)
