"""The web UI and REST API application: ``create_app(settings, engine)``.

Every API route depends on :func:`bot.adapters.web.guard.guard`, which applies the table in
:mod:`bot.adapters.web.access`; the only other routes (static files, the OpenAPI schema) are public by design,
and a test checks both facts for every route.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException

from bot.adapters.db.engine import session_factory
from bot.adapters.web import (
    api,
    routes_auth,
    routes_dashboard,
    routes_ledger,
    routes_profiles,
    routes_review,
    routes_tasks,
    routes_templates,
    routes_users,
)
from bot.adapters.web.context import WebContext, WebServices
from bot.adapters.web.guard import LoginRequiredError, guard
from bot.adapters.web.pages import STATIC, render
from bot.adapters.web.security import COOKIE_NAME, LoginThrottle, SecurityHeadersMiddleware, SessionCodec
from bot.app.clock import SystemClock
from bot.app.runtime import resolve_resource
from bot.app.settings import Settings
from bot.ports import Clock

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, engine: Engine, *, clock: Clock | None = None, services: WebServices | None = None
) -> FastAPI:
    """Build the FastAPI application (pages, REST API, health and metrics) on an open database."""
    services = services or WebServices()
    clock = clock or SystemClock()
    secret = settings.secret_key
    if not secret:
        # Sessions then last only as long as the process; fine for the demo, say so for real deployments.
        log.warning("RELANCE_SECRET_KEY is not set: using a random key, sessions end when relance restarts")
        secret = secrets.token_urlsafe(48)
    codec = SessionCodec(secret, secure=services.secure_cookies or settings.web_secure_cookies)
    app = FastAPI(
        title="relance",
        version="1",
        docs_url=None,  # the Swagger page loads scripts from a CDN; the schema itself is enough offline
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
        dependencies=[Depends(guard)],
    )
    app.state.web = WebContext(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        clock=clock,
        services=services,
        codec=codec,
        throttle=LoginThrottle(clock.now),
        templates_root=services.templates_root or resolve_resource(settings.templates_dir, "templates"),
    )
    for module in (
        routes_auth,
        routes_review,
        routes_tasks,
        routes_ledger,
        routes_dashboard,
        routes_templates,
        routes_profiles,
        routes_users,
        api,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _install_error_pages(app)
    app.add_middleware(SecurityHeadersMiddleware, codec=codec)
    return app


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path in ("/healthz", "/metrics")


def _install_error_pages(app: FastAPI) -> None:
    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequiredError)
        return RedirectResponse(f"/login?next={quote(exc.next_path)}", status_code=303)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if _wants_json(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        _ensure_state(request)
        return render(
            request,
            "error.html",
            {"status": exc.status_code, "message": str(exc.detail)},
            status_code=exc.status_code,
        )

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()
        ]
        if _wants_json(request):
            return JSONResponse({"detail": problems}, status_code=422)
        _ensure_state(request)
        text = "; ".join(f"{'.'.join(p['loc'][1:]) or 'form'}: {p['msg']}" for p in problems)
        return render(
            request, "error.html", {"status": 422, "message": f"Invalid form: {text}"}, status_code=422
        )

    async def crash(request: Request, exc: Exception) -> Response:
        # The reference ties what the user sees to the log line; the traceback stays in the log only.
        ref = uuid.uuid4().hex[:12]
        log.error("unhandled error %s on %s %s", ref, request.method, request.url.path, exc_info=exc)
        message = f"Something went wrong on our side (reference {ref}). Nothing secret is shown here."
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=500)
        return Response(
            f"<!doctype html><title>Error</title><h1>Error</h1><p>{message}</p>",
            status_code=500,
            media_type="text/html",
        )

    app.add_exception_handler(LoginRequiredError, login_required)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, crash)


def _ensure_state(request: Request) -> None:
    """Error pages may be rendered before the guard ran (404): give them an anonymous state."""
    if not hasattr(request.state, "session") or request.state.session is None:
        web_ctx: WebContext = request.app.state.web
        request.state.session = web_ctx.codec.load(request.cookies.get(COOKIE_NAME))
    if not hasattr(request.state, "user"):
        request.state.user = None
