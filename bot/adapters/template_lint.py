"""``relance templates lint`` and ``relance templates preview``: catch a broken template before it is used.

Checks, per language directory: every part parses; every variable a part uses is in the documented
context (``CONTEXT_VARIABLES``); every template has its three parts; the required templates exist; the
languages hold the same files and each template uses the same variables in every language; and each template
renders against the sample contexts (one and several invoices, each jurisdiction, penalties on and off).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from jinja2 import TemplateSyntaxError, meta

from bot.adapters.render import PARTS, Overrides, TemplateRenderer, TemplateRenderError, template_names
from bot.adapters.render_context import CONTEXT_VARIABLES, build_context, sample_context
from bot.ports import RenderedMail

__all__ = [
    "REQUIRED_TEMPLATES",
    "LintProblem",
    "build_context",
    "format_preview",
    "lint_templates",
    "preview",
]

#: Templates the dunning ladder and the inbox acknowledgements rely on.
REQUIRED_TEMPLATES = (
    "courtesy",
    "reminder_1",
    "reminder_2",
    "formal_notice",
    "final_notice",
    "invoice_copy",
    "promise_ack",
    "payment_claim_ack",
    "payment_thanks",
)
_SAMPLE_VARIANTS = ((1, "fr"), (2, "fr"), (2, "eu"), (2, "uk"), (1, "none"), (3, "none"))


@dataclass(frozen=True)
class LintProblem:
    language: str
    template: str  # a part file name (reminder_1.txt.j2) or a template name (reminder_1)
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.language}/{self.template}" + (f":{self.line}" if self.line else "")
        return f"{where}: {self.message}"


def _line_of(source: str, name: str) -> int | None:
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    for number, text in enumerate(source.splitlines(), start=1):
        if pattern.search(text):
            return number
    return None


def _check_parts(
    renderer: TemplateRenderer, language: str, problems: list[LintProblem]
) -> dict[str, set[str]]:
    """Parse every part of one language; return the variables used by each template (parts together)."""
    env = renderer.environment(language)
    assert env.loader is not None
    files = env.list_templates()
    used: dict[str, set[str]] = {}
    for file_name in files:
        source = env.loader.get_source(env, file_name)[0]
        try:
            ast = env.parse(source, file_name)
        except TemplateSyntaxError as exc:
            problems.append(LintProblem(language, file_name, exc.lineno, f"syntax error: {exc.message}"))
            continue
        variables = meta.find_undeclared_variables(ast)
        for unknown in sorted(variables - CONTEXT_VARIABLES.keys()):
            line = _line_of(source, unknown)
            problems.append(LintProblem(language, file_name, line, f"unknown variable {unknown!r}"))
        used.setdefault(file_name.split(".", 1)[0], set()).update(variables)
    for name in template_names(files):
        for part in PARTS:
            if f"{name}.{part}.j2" not in files:
                problems.append(LintProblem(language, name, None, f"missing part {name}.{part}.j2"))
    for name in REQUIRED_TEMPLATES:
        if name not in used:
            problems.append(LintProblem(language, name, None, "required template is missing"))
    return used


def _check_renders(renderer: TemplateRenderer, language: str, names: Iterable[str]) -> list[LintProblem]:
    problems: list[LintProblem] = []
    for name in names:
        seen: set[str] = set()
        for count, jurisdiction in _SAMPLE_VARIANTS:
            context = sample_context(name, language, jurisdiction=jurisdiction, invoice_count=count)
            try:
                mail = renderer.render(name, language, context)
            except TemplateRenderError as exc:
                if str(exc) not in seen:  # one report per distinct failure, not per sample
                    seen.add(str(exc))
                    problems.append(LintProblem(language, exc.template, exc.line, f"does not render: {exc}"))
                continue
            if not mail.subject:
                problems.append(LintProblem(language, f"{name}.subject.j2", None, "renders an empty subject"))
    return problems


def lint_templates(root: Path, overrides: Overrides | None = None) -> list[LintProblem]:
    """Every problem found in the templates under ``root`` (empty list: all good).

    ``overrides`` is the same hook ``TemplateRenderer`` takes, so the web editor can lint an edit before
    saving it by returning the edited source for that one part.
    """
    renderer = TemplateRenderer(root, overrides)
    problems: list[LintProblem] = []
    languages = renderer.languages()
    if not languages:
        return [LintProblem("-", str(root), None, "no language directory (expected e.g. fr/ and en/)")]
    used: dict[str, dict[str, set[str]]] = {}
    files: dict[str, set[str]] = {}
    for language in languages:
        used[language] = _check_parts(renderer, language, problems)
        files[language] = set(renderer.environment(language).list_templates())
    reference = languages[0]
    for language in languages[1:]:
        for missing in sorted(files[reference] - files[language]):
            problems.append(LintProblem(language, missing, None, f"missing (present in {reference}/)"))
        for extra in sorted(files[language] - files[reference]):
            problems.append(LintProblem(reference, extra, None, f"missing (present in {language}/)"))
        for name in sorted(used[reference].keys() & used[language].keys()):
            if name.startswith("_"):
                continue  # shared pieces may differ; the templates that include them are compared
            only_ref = used[reference][name] - used[language][name]
            only_lang = used[language][name] - used[reference][name]
            if only_ref or only_lang:
                detail = "; ".join(
                    f"only {lang}/ uses {', '.join(sorted(names))}"
                    for lang, names in ((reference, only_ref), (language, only_lang))
                    if names
                )
                problems.append(
                    LintProblem(language, name, None, f"variables differ between languages: {detail}")
                )
    broken = {(p.language, p.template.split(".", 1)[0]) for p in problems}
    for language in languages:
        names = [n for n in renderer.names() if n in used[language] and (language, n) not in broken]
        if not any(lang == language and t.startswith("_") for lang, t in broken):
            problems.extend(_check_renders(renderer, language, names))
    return problems


def preview(
    root: Path, name: str, language: str, context: dict[str, object], overrides: Overrides | None = None
) -> RenderedMail:
    """Render one template for ``relance templates preview`` and the web editor.

    The caller builds ``context`` with ``build_context(...)`` from the invoice it looked up; any template
    problem raises ``TemplateRenderError`` naming the part, language and line.
    """
    return TemplateRenderer(root, overrides).render(name, language, context)


def format_preview(mail: RenderedMail, *, html: bool = False) -> str:
    """The text the CLI prints for a preview: subject, text part, and optionally the HTML part."""
    out = [f"Subject: {mail.subject}", "", mail.text.rstrip("\n")]
    if html:
        out += ["", "----- text/html -----", mail.html.rstrip("\n")]
    return "\n".join(out) + "\n"
