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
        .order_by(TemplateVersion.id.desc())
        .limit(1)
    ).first()


def db_overrides(sessions: sessionmaker[Session]) -> Overrides:
    """The renderer's override hook: the newest saved version of a part file, or None to use the file."""

    def lookup(part_file: str, language: str) -> str | None:
        name = part_file.removesuffix(".j2")
        with sessions() as session:
            return session.scalars(
                select(TemplateVersion.source)
                .where(TemplateVersion.name == name, TemplateVersion.language == language)
                .order_by(TemplateVersion.id.desc())
                .limit(1)
            ).first()

    return lookup


def draft_overrides(drafts: dict[tuple[str, str], str], fallback: Overrides) -> Overrides:
    """Unsaved edits first (for preview and lint before save), then the saved versions."""

    def lookup(part_file: str, language: str) -> str | None:
        draft = drafts.get((part_file.removesuffix(".j2"), language))
        return draft if draft is not None else fallback(part_file, language)

    return lookup


def make_renderer(
    root: Path, sessions: sessionmaker[Session], drafts: dict[tuple[str, str], str] | None = None
) -> TemplateRenderer:
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
    return list(
        session.scalars(
            select(TemplateVersion)
            .where(TemplateVersion.name.in_(names))
            .order_by(TemplateVersion.id.desc())
            .limit(limit)
        )
    )


def edited_templates(session: Session) -> dict[str, int]:
    """Template name -> number of saved versions (for the list page)."""
    rows = session.execute(select(TemplateVersion.name, func.count()).group_by(TemplateVersion.name))
    out: dict[str, int] = {}
    for name, count in rows:
        template = name.rsplit(".", 1)[0]
        out[template] = out.get(template, 0) + int(count)
    return out


#: (invoice count, jurisdiction) samples a template must render with before it is saved.
SAMPLES = ((1, "fr"), (2, "fr"), (2, "eu"), (2, "uk"), (1, "none"), (3, "none"))


def lint_one(root: Path, name: str, languages: tuple[str, ...], hook: Overrides) -> list[str]:
    """Problems of one template (all parts, each language): syntax, unknown variables, test renders.

    The same checks as ``relance templates lint`` restricted to one template, so a save answers in
    milliseconds instead of re-rendering every template of the set.
    """
    from jinja2 import TemplateSyntaxError, meta

    from bot.adapters.render import TemplateRenderError
    from bot.adapters.render_context import CONTEXT_VARIABLES, sample_context

    renderer = TemplateRenderer(root, overrides=hook)
    problems: list[str] = []
    for language in languages:
        env = renderer.environment(language)
        assert env.loader is not None
        parsed_ok = True
        for part in PARTS:
            file_name = f"{name}.{part}.j2"
            try:
                source = env.loader.get_source(env, file_name)[0]
                variables = meta.find_undeclared_variables(env.parse(source, file_name))
            except TemplateSyntaxError as exc:
                problems.append(f"{language}/{file_name}:{exc.lineno}: syntax error: {exc.message}")
                parsed_ok = False
                continue
            except Exception as exc:  # missing file and the like: reported, never a crash of the editor
                problems.append(f"{language}/{file_name}: {exc}")
                parsed_ok = False
                continue
            for unknown in sorted(variables - CONTEXT_VARIABLES.keys()):
                problems.append(f"{language}/{file_name}: unknown variable {unknown!r}")
        if not parsed_ok:
            continue
        seen: set[str] = set()
        for count, jurisdiction in SAMPLES:
            context = sample_context(name, language, jurisdiction=jurisdiction, invoice_count=count)
            try:
                mail = renderer.render(name, language, context)
            except TemplateRenderError as exc:
                if str(exc) not in seen:
                    seen.add(str(exc))
                    problems.append(f"does not render: {exc}")
                continue
            if not mail.subject:
                problems.append(f"{language}/{name}.subject.j2: renders an empty subject")
    return problems
