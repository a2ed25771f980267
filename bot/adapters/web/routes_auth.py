"""Sign in and out, the home redirect, and the two unauthenticated endpoints (/healthz, /metrics)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Gauge, generate_latest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.adapters.db.engine import ping
from bot.adapters.db.models import ReviewItem
from bot.adapters.web.access import allowed
from bot.adapters.web.context import db, web
from bot.adapters.web.guard import current_user, mark_session_changed
from bot.adapters.web.pages import redirect, render
from bot.adapters.web.security import new_csrf_token
from bot.app.users import verify_login

log = logging.getLogger(__name__)
router = APIRouter()

REVIEW_OPEN = Gauge("relance_web_review_open_items", "Open items in the review queue (read at scrape time)")


def _safe_next(target: str | None) -> str:
    # Only local paths: an absolute or protocol-relative URL here would make /login an open redirect.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:  # noqa: A002 - the query parameter's name
    if current_user(request) is not None:
        return redirect(_safe_next(next))
    return render(request, "login.html", {"next": _safe_next(next), "error": None, "username": ""})


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    session: Annotated[Session, Depends(db)],
    next: Annotated[str, Form()] = "/",
) -> Response:  # noqa: A002
    ctx = web(request)
    address = request.client.host if request.client else "?"
    wait = ctx.throttle.locked_for(username, address)
    if wait:
        log.warning("login throttled for %r from %s", username[:120], address)
        return render(
            request,
            "login.html",
            {
                "next": _safe_next(next),
                "username": username,
                "error": f"Too many failed attempts. Try again in {wait} s.",
            },
            status_code=429,
        )
    user = verify_login(session, username, password)
    if user is None:
        ctx.throttle.failed(username, address)
        log.info("failed login for %r from %s", username[:120], address)
        return render(
            request,
            "login.html",
            {"next": _safe_next(next), "username": username, "error": "Unknown user or wrong password."},
            status_code=401,
        )
    session.commit()  # a rehashed password, if argon2's parameters changed
    ctx.throttle.succeeded(username, address)
    # A fresh session (and CSRF token) at sign-in: nothing planted before login survives it.
    request.state.session = {"u": user.id, "c": new_csrf_token()}
    mark_session_changed(request)
    log.info("user %s signed in from %s", user.username, address)
    return redirect(_safe_next(next))


@router.post("/logout")
def logout(request: Request) -> Response:
    request.state.session = None
    mark_session_changed(request)
    return redirect("/login")


@router.get("/")
def home(request: Request) -> Response:
    user = current_user(request)
    role = user.role if user else None
    for path in ("/review", "/templates", "/dashboard"):
        if allowed(role, path):
            return redirect(path)
    return redirect("/login")


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    ctx = web(request)
    checks: dict[str, Any] = {"database": {"ok": ping(ctx.engine)}}
    for name, check in ctx.services.health_checks.items():
        try:
            result = check()
            checks[name] = {"ok": bool(result)} if isinstance(result, bool) else dict(result)
        except Exception as exc:  # a failing probe is a finding, not a crash of the health page
            log.warning("health check %s raised %s", name, type(exc).__name__)
            checks[name] = {"ok": False, "error": type(exc).__name__}
    healthy = all(bool(c.get("ok")) for c in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", "checks": checks}, status_code=200 if healthy else 503
    )


@router.get("/metrics")
def metrics(request: Request) -> Response:
    try:
        with web(request).sessions() as s:
            REVIEW_OPEN.set(
                s.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.status == "open")) or 0
            )
    except Exception:  # metrics must answer even when the database does not
        log.warning("metrics: cannot count review items", exc_info=True)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
