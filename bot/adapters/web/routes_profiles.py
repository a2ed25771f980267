"""Profiles editor (admin): the YAML validated with line numbers, history, day-by-day simulation."""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db.models import ProfileVersion
from bot.adapters.web.context import WebContext, db, web
from bot.adapters.web.guard import require_user
from bot.adapters.web.pages import flash, redirect, render
from bot.adapters.web.simulation import simulate
from bot.app.runtime import resolve_resource
from bot.domain.errors import ConfigError

log = logging.getLogger(__name__)
router = APIRouter()
Db = Annotated[Session, Depends(db)]
MAX_YAML = 200_000


def _current_text(ctx: WebContext, session: Session) -> tuple[str, ProfileVersion | None]:
    newest = session.scalars(select(ProfileVersion).order_by(ProfileVersion.id.desc()).limit(1)).first()
    if newest is not None:
        return newest.source, newest
    path = ctx.services.profiles_path or resolve_resource(ctx.settings.profiles_path, "config/profiles.yaml")
    try:
        return path.read_text(encoding="utf-8"), None
    except OSError:
        return "", None


def _page(
    request: Request,
    session: Session,
    text: str,
    *,
    problems: list[str],
    profile: str,
    due: str,
    status_code: int = 200,
) -> Response:
    from bot.adapters.profiles_yaml import parse_profiles

    ctx = web(request)
    versions = list(session.scalars(select(ProfileVersion).order_by(ProfileVersion.id.desc()).limit(30)))
    names: list[str] = []
    steps = []
    sim_error = None
    due_date = ctx.clock.now().date()
    try:
        config = parse_profiles(text, "profiles.yaml")
        names = sorted(config.profiles)
        chosen = profile if profile in config.profiles else config.default_profile
        if due:
            due_date = date.fromisoformat(due)
        steps = simulate(config, chosen, due_date)
        profile = chosen
    except (ConfigError, ValueError) as exc:
        sim_error = str(exc)
    return render(
        request,
        "profiles.html",
        {
            "text": text,
            "problems": problems,
            "versions": versions,
            "names": names,
            "profile": profile,
            "due": due_date.isoformat(),
            "steps": steps,
            "sim_error": sim_error,
        },
        status_code=status_code,
    )


@router.get("/profiles")
def profiles_page(request: Request, session: Db, profile: str = "", due: str = "") -> Response:
    text, _ = _current_text(web(request), session)
    return _page(request, session, text, problems=[], profile=profile[:64], due=due[:10])


@router.post("/profiles")
def save_profiles(request: Request, session: Db, text: Annotated[str, Form(max_length=MAX_YAML)]) -> Response:
    from bot.adapters.profiles_yaml import parse_profiles

    ctx = web(request)
    user = require_user(request)
    text = text.replace("\r\n", "\n")
    try:
        parse_profiles(text, "profiles.yaml (draft)")
    except ConfigError as exc:
        problems = str(exc).splitlines()[1:] or [str(exc)]
        return _page(request, session, text, problems=problems, profile="", due="", status_code=422)
    current, _ = _current_text(ctx, session)
    if text == current:
        flash(request, "info", "No change to save.")
        return redirect("/profiles")
    session.add(ProfileVersion(source=text, author=user.username, created_at=ctx.clock.now()))
    session.commit()
    log.info("profiles saved by %s", user.username)
    flash(request, "ok", "Profiles saved; the next dunning cycle uses them.")
    return redirect("/profiles")
