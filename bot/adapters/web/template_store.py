"""Templates edited in the web UI: versions in ``template_versions``, read back through the renderer's hook.

One row per edited part: ``name`` is ``<template>.<part>`` (``reminder_1.txt``) and ``language`` its language;
the newest row of a (name, language) wins over the file on disk. Reverting saves an old source as a new
version, so history only ever grows.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.db.models import TemplateVersion
from bot.adapters.render import PARTS, Overrides, TemplateRenderer


def version_name(template: str, part: str) -> str:
    return f"{template}.{part}"


def newest(session: Session, template: str, part: str, language: str) -> TemplateVersion | None:
    return session.scalars(
        select(TemplateVersion)
        .where(TemplateVersion.name == version_name(template, part), TemplateVersion.language == language)
        .order_by(TemplateVersion.id.desc()).limit(1)
    ).first()


def db_overrides(sessions: sessionmaker[Session]) -> Overrides:
    """The renderer's override hook: the newest saved version of a part file, or None to use the file."""

    def lookup(part_file: str, language: str) -> str | None:
        name = part_file.removesuffix(".j2")
        with sessions() as session:
            return session.scalars(
                select(TemplateVersion.source)
                .where(TemplateVersion.name == name, TemplateVersion.language == language)
                .order_by(TemplateVersion.id.desc()).limit(1)
            ).first()

    return lookup


def draft_overrides(drafts: dict[tuple[str, str], str], fallback: Overrides) -> Overrides:
    """Unsaved edits first (for preview and lint before save), then the saved versions."""

    def lookup(part_file: str, language: str) -> str | None:
        draft = drafts.get((part_file.removesuffix(".j2"), language))
        return draft if draft is not None else fallback(part_file, language)

    return lookup


def make_renderer(root: Path, sessions: sessionmaker[Session],
                  drafts: dict[tuple[str, str], str] | None = None) -> TemplateRenderer:
    """A renderer reading the newest saved versions now (built per request, so edits apply at once)."""
    hook = db_overrides(sessions)
    return TemplateRenderer(root, overrides=draft_overrides(drafts, hook) if drafts else hook)


def current_source(root: Path, session: Session, template: str, part: str, language: str) -> str:
    row = newest(session, template, part, language)
    if row is not None:
        return row.source
    path = root / language / f"{template}.{part}.j2"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def history(session: Session, template: str, limit: int = 50) -> list[TemplateVersion]:
    names = [version_name(template, p) for p in PARTS]
    return list(session.scalars(select(TemplateVersion).where(TemplateVersion.name.in_(names))
                                .order_by(TemplateVersion.id.desc()).limit(limit)))


def edited_templates(session: Session) -> dict[str, int]:
    """Template name -> number of saved versions (for the list page)."""
    rows = session.execute(select(TemplateVersion.name, func.count()).group_by(TemplateVersion.name))
    out: dict[str, int] = {}
    for name, count in rows:
        template = name.rsplit(".", 1)[0]
        out[template] = out.get(template, 0) + int(count)
    return out
