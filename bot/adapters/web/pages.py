"""Rendering server-side pages: one autoescaping Jinja2 environment, common context, flashes, redirects."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context

from bot.adapters.web.access import allowed
from bot.adapters.web.guard import current_user, ensure_csrf, mark_session_changed, session_data

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
DEFAULT_ZONE = ZoneInfo("Europe/Paris")

#: Navigation: (path, label); a link shows only when the user's role may open it.
NAV: tuple[tuple[str, str], ...] = (
    ("/review", "Review"),
    ("/tasks", "Tasks"),
    ("/priorities", "Priorities"),
    ("/clients", "Clients"),
    ("/dashboard", "Dashboard"),
    ("/templates", "Templates"),
    ("/profiles", "Profiles"),
    ("/users", "Users"),
)


def money(value: Decimal | int | float | None, currency: str = "") -> str:
    """1234.5 -> '1 234.50 EUR' (thin grouping a collector reads at a glance, whatever the language)."""
    if value is None:
        return "—"
    text = f"{Decimal(value):,.2f}".replace(",", "\u202f")
    return f"{text} {currency}".strip()


@pass_context
def when(ctx: Context, value: datetime | date | None) -> str:
    """Times in the credit-control team's timezone (``RELANCE_DISPLAY_TIMEZONE``), dates as written."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        zone = ctx.get("display_zone") or DEFAULT_ZONE
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def percent(value: Decimal | float | None) -> str:
    return "—" if value is None else f"{Decimal(value) * 100:.1f} %"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    env.filters["when"] = when
    env.filters["percent"] = percent
    return env


ENV = _environment()


def flash(request: Request, kind: str, text: str) -> None:
    """A one-time message shown on the next page (kept in the signed session cookie, so keep it short)."""
    data = session_data(request)
    data.setdefault("f", []).append([kind, text[:400]])
    del data["f"][:-5]
    mark_session_changed(request)


def _take_flashes(request: Request) -> list[list[str]]:
    data = session_data(request)
    flashes = data.pop("f", [])
    if flashes:
        mark_session_changed(request)
    return flashes if isinstance(flashes, list) else []


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    user = current_user(request)
    role = user.role if user else None
    base = {
        "request_path": request.url.path,
        "user": user,
        "csrf": ensure_csrf(request),
        "nav": [(path, label) for path, label in NAV if user is not None and allowed(role, path)],
        "can": lambda path, method="POST": allowed(role, path, method),
        "flashes": _take_flashes(request),
        "display_zone": ZoneInfo(request.app.state.web.settings.display_timezone),
    }
    html = ENV.get_template(template).render(base | (context or {}))
    return HTMLResponse(html, status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    """303 See Other after a POST, so a reload does not post the form again."""
    return RedirectResponse(url, status_code=303)
