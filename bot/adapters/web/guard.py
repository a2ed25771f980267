"""The guard every API route passes through: session or token, CSRF, then the role table."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import HTTPException, Request
from fastapi.routing import APIRoute

from bot.adapters.db.models import User
from bot.adapters.web.access import Auth, access_for
from bot.adapters.web.context import web
from bot.adapters.web.security import COOKIE_NAME, csrf_matches, new_csrf_token
from bot.app.users import check_token

log = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class LoginRequiredError(Exception):
    """Raised for a page that needs a session when there is none: answered with a redirect to /login."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


def session_data(request: Request) -> dict[str, Any]:
    data: dict[str, Any] = request.state.session
    return data


def mark_session_changed(request: Request) -> None:
    request.state.session_changed = True


def ensure_csrf(request: Request) -> str:
    """The session's CSRF token, creating the (anonymous) session if needed."""
    data = session_data(request)
    token = data.get("c")
    if not isinstance(token, str) or not token:
        token = new_csrf_token()
        data["c"] = token
        mark_session_changed(request)
    return token


def current_user(request: Request) -> User | None:
    user: User | None = getattr(request.state, "user", None)
    return user


def require_user(request: Request) -> User:
    user = current_user(request)
    if user is None:
        raise HTTPException(401, "sign in first")
    return user


async def guard(request: Request) -> None:
    """FastAPI dependency applied to every API route (see ``create_app``)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        raise HTTPException(403, "forbidden")
    rule = access_for(route.path, request.method)
    if rule is None:
        log.error("route %s %s has no entry in ROUTE_ACCESS: refused", request.method, route.path)
        raise HTTPException(403, "forbidden")
    ctx = web(request)
    request.state.session = {}
    request.state.user = None
    if rule.auth is Auth.TOKEN:
        await _token_auth(request, rule.roles)
        return
    request.state.session = ctx.codec.load(request.cookies.get(COOKIE_NAME))
    user_id = request.state.session.get("u")
    if isinstance(user_id, int):
        with ctx.sessions() as s:
            user = s.get(User, user_id)
            if user is not None and user.active:
                s.expunge(user)
                request.state.user = user
    if request.method in UNSAFE_METHODS:
        form = await request.form()
        given = form.get("csrf_token") or request.headers.get("x-csrf-token")
        if not csrf_matches(request.state.session.get("c"), given):
            log.warning("CSRF token missing or wrong on %s %s", request.method, request.url.path)
            raise HTTPException(
                403, "the form expired or did not come from this site; reload the page and retry"
            )
    if rule.auth is Auth.NONE:
        return
    user = request.state.user
    if user is None:
        if request.method == "GET":
            raise LoginRequiredError(request.url.path)
        raise HTTPException(401, "sign in first")
    if user.role not in rule.roles:
        raise HTTPException(403, "your role does not give access to this page")


async def _token_auth(request: Request, roles: frozenset[str]) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    ctx = web(request)
    with ctx.sessions() as s:
        user = check_token(s, token.strip(), now=ctx.clock.now())
        if user is not None:
            s.expunge(user)
    if user is None:
        raise HTTPException(
            401,
            "invalid, expired or revoked token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    request.state.user = user
    if user.role not in roles:
        raise HTTPException(403, "this token's user may not do that")
