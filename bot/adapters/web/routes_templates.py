"""Template editor: French and English side by side, preview, lint before save, history, revert."""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db.models import Client, Invoice, TemplateVersion
from bot.adapters.render import PARTS
from bot.adapters.web.context import WebContext, db, web
from bot.adapters.web.guard import require_user
from bot.adapters.web.pages import flash, redirect, render
from bot.adapters.web.template_store import (
    current_source,
    db_overrides,
    draft_overrides,
    edited_templates,
    history,
    lint_one,
    make_renderer,
    version_name,
)
from bot.domain.errors import RelanceError

log = logging.getLogger(__name__)
router = APIRouter()
Db = Annotated[Session, Depends(db)]
LANGUAGES = ("fr", "en")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,60}$")
MAX_SOURCE = 50_000


def _check_name(ctx: WebContext, name: str) -> str:
    if not _NAME.match(name) or name not in make_renderer(ctx.templates_root, ctx.sessions).names():
        raise HTTPException(404, "no such template")
    return name


def _sources(ctx: WebContext, session: Session, name: str) -> dict[str, dict[str, str]]:
    return {
        lang: {part: current_source(ctx.templates_root, session, name, part, lang) for part in PARTS}
        for lang in LANGUAGES
    }


async def _drafts(request: Request) -> dict[str, dict[str, str]]:
    form = await request.form()
    out: dict[str, dict[str, str]] = {}
    for lang in LANGUAGES:
        for part in PARTS:
            value = form.get(f"{lang}__{part}")
            if isinstance(value, str):
                if len(value) > MAX_SOURCE:
                    raise HTTPException(422, f"{lang} {part}: longer than {MAX_SOURCE} characters")
                out.setdefault(lang, {})[part] = value.replace("\r\n", "\n")
    return out


def _draft_map(name: str, drafts: dict[str, dict[str, str]]) -> dict[tuple[str, str], str]:
    return {
        (version_name(name, part), lang): src for lang, parts in drafts.items() for part, src in parts.items()
    }


def _lint(ctx: WebContext, name: str, drafts: dict[str, dict[str, str]]) -> list[str]:
    """Problems of this template with the drafts in place (other templates' problems do not block a save)."""
    hook = draft_overrides(_draft_map(name, drafts), db_overrides(ctx.sessions))
    return lint_one(ctx.templates_root, name, LANGUAGES, hook)


def _invoices_for_preview(session: Session) -> list[Invoice]:
    return list(
        session.scalars(
            select(Invoice)
            .where(Invoice.state.not_in(["paid", "cancelled"]))
            .order_by(Invoice.due_date)
            .limit(200)
        )
    )


def _preview(
    ctx: WebContext, session: Session, name: str, drafts: dict[str, dict[str, str]], invoice_number: str
) -> dict[str, Any]:
    """Render both languages on the chosen invoice (or the documented sample) with the drafts in place."""
    from bot.adapters.render_context import sample_context
    from bot.app.compose import Composer
    from bot.app.profiles import profile_for

    renderer = make_renderer(ctx.templates_root, ctx.sessions, _draft_map(name, drafts))
    invoice = session.get(Invoice, invoice_number) if invoice_number else None
    client = session.get(Client, invoice.client_id) if invoice else None
    out: dict[str, Any] = {}
    for lang in LANGUAGES:
        try:
            if invoice is not None and client is not None:
                profile = profile_for(client.profile, ctx.settings, session)
                composer = Composer(ctx.settings, renderer, profile.legal_rates)
                context = composer.context(
                    client,
                    [invoice],
                    step=name,
                    today=ctx.clock.now().date(),
                    jurisdiction=profile.jurisdiction,
                )
                context["language"] = lang  # preview both languages whatever the client's
            else:
                context = sample_context(name, lang)
            out[lang] = {"ok": True, "mail": renderer.render(name, lang, context)}
        except (RelanceError, ValueError) as exc:
            out[lang] = {"ok": False, "error": str(exc)}
    return out


def _editor(
    request: Request,
    session: Session,
    name: str,
    sources: dict[str, dict[str, str]],
    *,
    problems: list[str] | None = None,
    preview: dict[str, Any] | None = None,
    invoice: str = "",
    status_code: int = 200,
) -> Response:
    from bot.adapters.render_context import CONTEXT_VARIABLES

    return render(
        request,
        "template_edit.html",
        {
            "name": name,
            "sources": sources,
            "languages": LANGUAGES,
            "parts": PARTS,
            "problems": problems or [],
            "preview": preview,
            "invoice": invoice,
            "invoices": _invoices_for_preview(session),
            "history": history(session, name),
            "variables": CONTEXT_VARIABLES,
        },
        status_code=status_code,
    )


def _differs(edited: str, saved: str) -> bool:
    # Browsers drop the trailing newline of an <input> (the subject files end with one): not an edit.
    return edited.rstrip() != saved.rstrip()


@router.get("/templates")
def templates_page(request: Request, session: Db) -> Response:
    ctx = web(request)
    names = list(make_renderer(ctx.templates_root, ctx.sessions).names())
    return render(request, "templates.html", {"names": names, "edited": edited_templates(session)})


@router.get("/templates/{name}")
def edit_page(request: Request, name: str, session: Db) -> Response:
    ctx = web(request)
    _check_name(ctx, name)
    return _editor(request, session, name, _sources(ctx, session, name))


@router.post("/templates/{name}/preview")
async def preview_page(
    request: Request, name: str, session: Db, invoice: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    ctx = web(request)
    _check_name(ctx, name)
    drafts = await _drafts(request)
    sources = _sources(ctx, session, name)
    for lang, parts in drafts.items():
        sources[lang].update(parts)
    return _editor(
        request,
        session,
        name,
        sources,
        preview=_preview(ctx, session, name, drafts, invoice),
        problems=_lint(ctx, name, drafts),
        invoice=invoice,
    )


@router.post("/templates/{name}")
async def save(request: Request, name: str, session: Db) -> Response:
    ctx = web(request)
    _check_name(ctx, name)
    user = require_user(request)
    drafts = await _drafts(request)
    current = _sources(ctx, session, name)
    changed = {
        lang: {p: src for p, src in parts.items() if _differs(src, current[lang][p])}
        for lang, parts in drafts.items()
    }
    changed = {lang: parts for lang, parts in changed.items() if parts}
    if not changed:
        flash(request, "info", "No change to save.")
        return redirect(f"/templates/{name}")
    problems = _lint(ctx, name, drafts)
    if problems:
        for lang, parts in drafts.items():
            current[lang].update(parts)
        return _editor(request, session, name, current, problems=problems, status_code=422)
    now = ctx.clock.now()
    for lang, parts in changed.items():
        for part, src in parts.items():
            session.add(
                TemplateVersion(
                    name=version_name(name, part),
                    language=lang,
                    source=src,
                    author=user.username,
                    created_at=now,
                )
            )
    session.commit()
    saved = ", ".join(f"{lang}/{part}" for lang, parts in changed.items() for part in parts)
    log.info("template %s saved by %s: %s", name, user.username, saved)
    flash(request, "ok", f"Saved {name}: {saved}. Reminders use it from now on.")
    return redirect(f"/templates/{name}")


@router.post("/templates/{name}/revert/{version_id}")
def revert(request: Request, name: str, version_id: int, session: Db) -> Response:
    ctx = web(request)
    _check_name(ctx, name)
    user = require_user(request)
    version = session.get(TemplateVersion, version_id)
    if version is None or version.name.rsplit(".", 1)[0] != name:
        raise HTTPException(404, "no such version of this template")
    part = version.name.rsplit(".", 1)[1]
    problems = _lint(ctx, name, {version.language: {part: version.source}})
    if problems:
        flash(request, "error", "That version no longer passes lint: " + "; ".join(problems)[:300])
        return redirect(f"/templates/{name}")
    session.add(
        TemplateVersion(
            name=version.name,
            language=version.language,
            source=version.source,
            author=user.username,
            created_at=ctx.clock.now(),
        )
    )
    session.commit()
    flash(request, "ok", f"{version.language}/{version.name} reverted to version {version.id}")
    return redirect(f"/templates/{name}")
