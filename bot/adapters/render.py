"""The Renderer port on Jinja2: sandboxed, strict, cached, with Babel filters for money and dates.

Layout on disk (one directory per language, three small files per template so that the web editor shows three
plain text areas)::

    templates/fr/reminder_1.subject.j2   one line; whitespace is collapsed
    templates/fr/reminder_1.txt.j2       the text/plain part (no escaping)
    templates/fr/reminder_1.html.j2      the text/html part (autoescaped), usually extends _layout.html.j2
    templates/fr/_layout.html.j2         shared pieces start with "_" and are not templates of their own

``overrides(part_file_name, language)`` returns an edited source stored elsewhere (the database, via the web
UI) or ``None`` to use the file; call ``invalidate()`` after saving an edit: compiled templates are cached.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from jinja2 import StrictUndefined, TemplateNotFound, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.adapters import render_loader
from bot.adapters.render_context import CONTEXT_VARIABLES
from bot.adapters.render_filters import babel_locale, date_filter, money, percent
from bot.adapters.render_filters import warm_up as warm_up_filters
from bot.adapters.render_loader import COMPILED, PART_NAME, Overrides, PartLoader, template_names
from bot.adapters.render_sandbox import BoundedSandbox
from bot.adapters.render_unit import FlatMail, compile_flat
from bot.domain.errors import TemplateError
from bot.ports import RenderedMail

__all__ = [
    "CONTEXT_VARIABLES",
    "PARTS",
    "Overrides",
    "TemplateRenderError",
    "TemplateRenderer",
    "babel_locale",
    "template_names",
]

log = logging.getLogger(__name__)

#: The three parts of a template, by file suffix.
PARTS = ("subject", "txt", "html")
# Babel locales per language: en_GB writes "15 December 2026" (en_US would write "December 15, 2026").


class TemplateRenderError(TemplateError):
    """A template failed to parse or render; names the template part, the language and the line."""

    def __init__(self, template: str, language: str, line: int | None, message: str) -> None:
        self.template = template
        self.language = language
        self.line = line
        where = f"{language}/{template}" + (f", line {line}" if line else "")
        super().__init__(f"{where}: {message}")


#: What the filters read from the context besides their arguments.
_FILTER_VARIABLES = frozenset({"currency", "language"})

#: How long a template that could not be flattened is rendered the ordinary way before trying again.
FLAT_RETRY_SECONDS = 30.0


class TemplateRenderer:
    """Renders ``templates/<language>/<name>.{subject,txt,html}.j2`` in a Jinja2 sandbox."""

    def __init__(self, root: Path, overrides: Overrides | None = None) -> None:
        self.root = Path(root)
        self._overrides = overrides
        self._envs: dict[str, ImmutableSandboxedEnvironment] = {}
        # (language, name) -> the template's parts flattened (render_flat), or when to try flattening again.
        self._flats: dict[tuple[str, str], FlatMail | float] = {}
        # FlatMail -> what ``variables`` answers for it (asked once per message).
        self._shown: dict[FlatMail, frozenset[str]] = {}

    def languages(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))

    def environment(self, language: str) -> ImmutableSandboxedEnvironment:
        env = self._envs.get(language)
        if env is None:
            env = BoundedSandbox(
                loader=PartLoader(self.root / language, language, self._overrides),
                undefined=StrictUndefined,
                autoescape=lambda name: name is not None and name.endswith(".html.j2"),
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
                cache_size=-1,  # a plain dict: one entry per part file, looked up 9 times per message
                auto_reload=True,
                bytecode_cache=COMPILED,
            )
            env.filters["money"] = money
            env.filters["date"] = date_filter
            env.filters["percent"] = percent
            self._envs[language] = env
        return env

    def names(self) -> Sequence[str]:
        files: list[str] = []
        for language in self.languages():
            files.extend(self.environment(language).list_templates())
        return template_names(files)

    def invalidate(self) -> None:
        """Forget compiled templates (call after an override was saved)."""
        self._envs.clear()
        self._flats.clear()
        self._shown.clear()

    def warm_up(self, names: Sequence[str]) -> None:
        """Compile templates ``names`` for every language now, so that the first message of each does not wait.

        Compiling a template (its parts, layout and pieces) takes tens of milliseconds per language, paid by
        whichever message renders it first: call this when a long-running processor starts. A template that
        is missing in a language or does not compile is logged and left for rendering to report as it would.
        """
        for language in self.languages():
            try:
                warm_up_filters(language)
            except Exception:  # an unknown locale: the first message of that language reports it
                log.warning("could not load the formats of language %s in advance", language, exc_info=True)
            for name in names:
                try:
                    if self._flat(name, language) is None:  # rendered part by part: compile those
                        env = self.environment(language)
                        for part in PARTS:
                            env.get_template(f"{name}.{part}.j2")
                except TemplateNotFound as exc:
                    log.info("template %s/%s not compiled in advance: %s is missing", language, name, exc.name)
                except Exception:  # warming up must never stop the caller; rendering reports the problem
                    log.warning("could not compile template %s/%s in advance", language, name, exc_info=True)

    def render_part(self, name: str, part: str, language: str, context: dict[str, object]) -> str:
        file_name = f"{name}.{part}.j2"
        try:
            template = self.environment(language).get_template(file_name)
            return template.render(context)
        except TemplateSyntaxError as exc:
            where = exc.name or file_name
            raise TemplateRenderError(where, language, exc.lineno, exc.message or str(exc)) from exc
        except TemplateNotFound as exc:
            missing = exc.name or file_name
            raise TemplateRenderError(str(missing), language, None, "template not found") from exc
        except Exception as exc:  # any failure inside a template (undefined, sandbox, filter) is the template's
            where, line = _template_frame(exc.__traceback__, file_name)
            message = f"{type(exc).__name__}: {exc}"
            raise TemplateRenderError(where, language, line, message) from exc

    def render(self, name: str, language: str, context: dict[str, object]) -> RenderedMail:
        flat = self._flat(name, language)
        parts: list[str] | None = None
        if flat is not None:
            try:
                parts = flat.render(context)
            except Exception:  # rendered again below the ordinary way, which names file and line
                parts = None
        if parts is None:
            parts = [self.render_part(name, part, language, context) for part in PARTS]
            if flat is not None:
                log.warning("%s/%s rendered the ordinary way after its flattened form failed", language, name)
        subject, text, html = parts
        # A subject is one header line: newlines in it would be refused by the mail builder anyway.
        return RenderedMail(subject=" ".join(subject.split()), text=text, html=html)

    def variables(self, name: str, language: str) -> frozenset[str] | None:
        """The context variables template ``name`` may read (parts, layout and pieces), or None if unknown.

        Lets a caller skip building what the template never shows (``build_context(with_penalties=False)``).
        ``currency`` and ``language`` are always in: the money, date and percent filters read them.
        """
        flat = self._flat(name, language)
        if flat is None or flat.variables is None:
            return None
        shown = self._shown.get(flat)
        if shown is None:
            if len(self._shown) >= 256:  # entries of templates compiled again after an edit
                self._shown.clear()
            shown = self._shown[flat] = flat.variables | _FILTER_VARIABLES
        return shown

    def _flat(self, name: str, language: str) -> FlatMail | None:
        """The template's parts compiled as single units (render_flat), or None to render them one by one."""
        key = (language, name)
        entry = self._flats.get(key)
        if isinstance(entry, FlatMail):
            if entry.fresh(render_loader.RECHECK_SECONDS):
                return entry
        elif entry is not None and time.monotonic() < entry:
            return None
        file_names = [f"{name}.{part}.j2" for part in PARTS]
        try:
            if not all(PART_NAME.match(f) for f in file_names):
                raise TemplateNotFound(name)
            flat = compile_flat(self.environment(language), file_names)
        except Exception as exc:  # refused shapes and broken templates render the ordinary way
            log.debug("%s/%s is rendered part by part: %s", language, name, exc)
            self._flats[key] = time.monotonic() + FLAT_RETRY_SECONDS
            return None
        self._flats[key] = flat
        return flat


def _template_frame(tb: TracebackType | None, default: str) -> tuple[str, int | None]:
    """The innermost template file and line in a traceback Jinja rewrote to point at templates."""
    where, line = default, None
    while tb is not None:
        frame_globals = tb.tb_frame.f_globals
        if "__jinja_exception__" in frame_globals:
            filename = str(frame_globals.get("__file__", default))
            where = filename.rsplit("/", 1)[-1]
            line = tb.tb_lineno
        tb = tb.tb_next
    return where, line
