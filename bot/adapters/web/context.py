"""What every route needs, built once by :func:`bot.adapters.web.app.create_app` and kept on ``app.state``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.web.security import LoginThrottle, SessionCodec
from bot.app.settings import Settings
from bot.domain.intent import Intent
from bot.ports import Clock

log = logging.getLogger(__name__)

#: A health callback returns True/False, or a dict with at least ``ok``.
HealthCheck = Callable[[], bool | Mapping[str, Any]]


@dataclass
class WebServices:
    """Hooks the daemon passes to the web UI; all optional: tests and the demo need none."""

    health_checks: Mapping[str, HealthCheck] = field(default_factory=dict)
    templates_root: Path | None = None
    profiles_path: Path | None = None
    secure_cookies: bool = False


@dataclass
class WebContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    services: WebServices
    codec: SessionCodec
    throttle: LoginThrottle
    templates_root: Path


def web(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.web
    return ctx


def db(request: Request) -> Iterator[Session]:
    """One database session per request; routes commit explicitly when they change something."""
    with web(request).sessions() as session:
        yield session


def apply_as_user(
    request: Request,
    session: Session,
    intent: Intent,
    *,
    client_id: str | None,
    numbers: list[str],
    promised: date | None,
    paid: date | None,
    amount: Decimal | None,
    reason: str,
    inbound_id: int | None,
) -> list[str]:
    """A collector's decision, carried out by the same code the inbox uses and signed with their name."""
    from bot.adapters.web.guard import require_user
    from bot.adapters.web.template_store import make_renderer
    from bot.app.reply_actions import apply_decision

    ctx = web(request)
    user = require_user(request)
    return apply_decision(
        session,
        settings=ctx.settings,
        clock=ctx.clock,
        renderer=make_renderer(ctx.templates_root, ctx.sessions),
        client_id=client_id,
        invoice_numbers=numbers,
        intent=intent,
        promised_date=promised,
        paid_date=paid,
        amount=amount,
        actor=f"user:{user.username}",
        inbound_id=inbound_id,
        reason=reason,
    )
