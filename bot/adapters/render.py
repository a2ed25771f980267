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
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, MutableMapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from types import CodeType, TracebackType
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_percent
from jinja2 import (
    BaseLoader,
    BytecodeCache,
    Environment,
    StrictUndefined,
    TemplateNotFound,
    TemplateSyntaxError,
    pass_context,
)
from jinja2.bccache import Bucket
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.adapters.render_context import CONTEXT_VARIABLES
from bot.domain.errors import TemplateError
from bot.ports import RenderedMail

__all__ = ["CONTEXT_VARIABLES", "PARTS", "TemplateRenderError", "TemplateRenderer", "babel_locale"]

log = logging.getLogger(__name__)

Overrides = Callable[[str, str], str | None]

#: The three parts of a template, by file suffix.
PARTS = ("subject", "txt", "html")
_PART_NAME = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*\.j2$")
# Babel locales per language: en_GB writes "15 December 2026" (en_US would write "December 15, 2026").
_LOCALES = {"fr": "fr_FR", "en": "en_GB"}


class TemplateRenderError(TemplateError):
    """A template failed to parse or render; names the template part, the language and the line."""

    def __init__(self, template: str, language: str, line: int | None, message: str) -> None:
        self.template = template
        self.language = language
        self.line = line
        where = f"{language}/{template}" + (f", line {line}" if line else "")
        super().__init__(f"{where}: {message}")


#: Largest string or sequence a template expression may build, and largest power it may raise to: a reminder
#: is a few kilobytes; a template author's ``{{ 'x' * 10**10 }}`` must fail, not exhaust the daemon's memory.
MAX_BUILT_SIZE = 100_000
MAX_EXPONENT = 100


_DICT_ATTRIBUTES = frozenset(dir(dict))


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus bounds on ``*`` and ``**`` (the sandbox bounds ``range`` but not these)."""

    intercepted_binops = frozenset(["*", "**"])

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        # A plain dict instead of Jinja's ChainMap(d, environment.globals): every render and include iterates
        # the globals (set(globals), dict(globals)), and a ChainMap rebuilds a dict to be iterated. Nothing here
        # changes environment.globals after templates are loaded, so a flat copy answers the same.
        return {**self.globals, **(d or {})}

    def getattr(self, obj: Any, attribute: str) -> Any:
        # ``inv.number`` on the context's plain dicts: the sandbox first tries getattr(), which raises
        # AttributeError (costly), then falls back to the key. Same answer without the exception when the
        # name is no attribute of dict (``items``, ``get``... still go the sandbox's way).
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponent {right} is too large for a template")
            return left**right
        sized = left if isinstance(left, str | list | tuple) else right
        times = right if sized is left else left
        if isinstance(sized, str | list | tuple) and isinstance(times, int) and len(sized) * times > MAX_BUILT_SIZE:
            raise SecurityError(f"a template may not build more than {MAX_BUILT_SIZE:,} items with '*'")
        return left * right


def babel_locale(language: str) -> str:
    return _LOCALES.get(language, language)


# Babel takes ~40 us per call and the same amounts and dates recur in the subject, text and HTML of a
# message (and dates across messages): a bounded memo makes rendering about three times faster.
@lru_cache(maxsize=8192)
def _format_money(amount: Decimal | int | float, currency: str, locale: str) -> str:
    shape = _money_shape(currency, locale)
    if (
        shape is not None
        and type(amount) is Decimal
        and amount.is_finite()
        and not amount.is_signed()
        # Babel normalises (rounds to the context's 28 digits) before quantising; below that both agree.
        and len(amount.as_tuple().digits) <= 20
        and amount.adjusted() < 18
    ):
        return shape.apply(amount)
    return _babel_money(amount, currency, locale)


def _babel_money(amount: Decimal | int | float, currency: str, locale: str) -> str:
    # The locale's currency pattern applied directly: what format_currency does, without re-resolving the
    # locale and the pattern on every call (3x faster than format_currency).
    loc = _locale(locale)
    return str(loc.currency_formats["standard"].apply(amount, loc, currency=currency))


class _MoneyShape:
    """Babel's currency pattern for one (currency, locale), reduced to string pieces.

    Each reminder formats fresh amounts, and Babel's ``apply`` (normalise, quantise, group, substitute the
    symbol, strip quotes) cost ~0.1 ms per amount. For the common shape (two decimals, groups of three, no
    sign) the result is ``head + grouped integer + decimal symbol + cents + tail``; the pieces are read from
    Babel's own output for a probe amount and the shape is used only if it reproduces Babel on every probe.
    """

    __slots__ = ("head", "tail", "group", "decimal")

    def __init__(self, head: str, tail: str, group: str, decimal: str) -> None:
        self.head, self.tail, self.group, self.decimal = head, tail, group, decimal

    def apply(self, amount: Decimal) -> str:
        # quantize() under the current context, exactly as Babel's _quantize_value does.
        whole, _, cents = f"{amount.quantize(_CENT):f}".partition(".")
        if len(whole) > 3:
            first = len(whole) % 3 or 3
            whole = whole[:first] + "".join(self.group + whole[i : i + 3] for i in range(first, len(whole), 3))
        return f"{self.head}{whole}{self.decimal}{cents}{self.tail}"


_CENT = Decimal("0.01")
_PROBES = ("0", "0.5", "7.05", "12.345", "999.995", "1000", "1234.56", "100000.5", "1234567.89")


@lru_cache(maxsize=256)
def _money_shape(currency: str, locale: str) -> _MoneyShape | None:
    """The fast shape for ``(currency, locale)``, or None when Babel's output does not follow it."""
    from babel.numbers import get_currency_precision

    loc = _locale(locale)
    pattern = loc.currency_formats["standard"]
    if get_currency_precision(currency) != 2 or tuple(pattern.grouping) != (3, 3) or pattern.scale != 0:
        return None
    group, decimal = loc.number_symbols["latn"]["group"], loc.number_symbols["latn"]["decimal"]
    probe = _babel_money(Decimal("1234567.89"), currency, locale)
    number = f"1{group}234{group}567{decimal}89"
    at = probe.find(number)
    if at < 0:
        return None
    shape = _MoneyShape(probe[:at], probe[at + len(number) :], group, decimal)
    for text in _PROBES:
        if shape.apply(Decimal(text)) != _babel_money(Decimal(text), currency, locale):
            return None
    return shape


@lru_cache(maxsize=64)
def _locale(locale: str) -> Locale:
    return Locale.parse(locale)


@lru_cache(maxsize=4096)
def _format_date(value: date, locale: str) -> str:
    text = str(format_date(value, "long", locale=locale))
    # French writes the first day of a month as an ordinal: "1er décembre 2026"; Babel does not.
    if value.day == 1 and locale.startswith("fr") and text.startswith("1 "):
        text = "1er" + text[1:]
    return text


@pass_context
def _money(
    ctx: Context, amount: Decimal | int | float | None, currency: str | None = None, lang: str | None = None
) -> str:
    if amount is None:
        raise ValueError("money: amount is null")
    code = currency or str(ctx.resolve("currency"))
    return _format_money(amount, code, babel_locale(lang or str(ctx.resolve("language"))))


@pass_context
def _date(ctx: Context, value: date | datetime | None, lang: str | None = None) -> str:
    if value is None:
        raise ValueError("date: value is null")
    return _format_date(value, babel_locale(lang or str(ctx.resolve("language"))))


@pass_context
def _percent(ctx: Context, points: Decimal | int | float, lang: str | None = None) -> str:
    """A rate in points (12.15) as a percentage in the language ("12,15 %" / "12.15%")."""
    fraction = Decimal(str(points)) / 100
    loc = babel_locale(lang or str(ctx.resolve("language")))
    return str(format_percent(fraction, locale=loc, decimal_quantization=False))


#: How long a file's "unchanged" answer is trusted. Jinja asks on every get_template, includes and layouts
#: too: nine stat() calls per message were a tenth of rendering; an edit on disk still shows within this delay.
RECHECK_SECONDS = 1.0


class _FileCheck:
    """Jinja's ``uptodate`` callback for one template file, stat-ing it at most once per RECHECK_SECONDS."""

    __slots__ = ("_path", "_mtime", "_checked")

    def __init__(self, path: Path, mtime: int) -> None:
        self._path = path
        self._mtime = mtime
        self._checked = time.monotonic()

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self._checked < RECHECK_SECONDS:
            return True
        try:
            same = self._path.stat().st_mtime_ns == self._mtime
        except OSError:
            return False
        if same:
            self._checked = now
        return same


class _PartLoader(BaseLoader):
    """Loads one language's parts: the override hook first, then the file."""

    def __init__(self, directory: Path, language: str, overrides: Overrides | None) -> None:
        self._dir = directory
        self._language = language
        self._overrides = overrides

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        if not _PART_NAME.match(template):  # also keeps "../" out
            raise TemplateNotFound(template)
        if self._overrides is not None:
            edited = self._overrides(template, self._language)
            if edited is not None:
                # Overrides stay cached until TemplateRenderer.invalidate(): a database read per render
                # would cost more than the render itself.
                return edited, f"override:{self._language}/{template}", lambda: True
        path = self._dir / template
        try:
            mtime = path.stat().st_mtime_ns
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TemplateNotFound(template) from exc
        return source, str(path), _FileCheck(path, mtime)

    def list_templates(self) -> list[str]:
        if not self._dir.is_dir():
            return []
        return sorted(p.name for p in self._dir.iterdir() if p.is_file() and _PART_NAME.match(p.name))


def template_names(files: Sequence[str]) -> list[str]:
    """Template names (``reminder_1``) among part file names, shared pieces (``_layout``) excluded."""
    return sorted({f.split(".", 1)[0] for f in files if not f.startswith("_") and f.endswith(".j2")})


class _CompiledCache(BytecodeCache):
    """Compiled templates shared by every renderer of the process, keyed by file name and source checksum.

    A renderer is made per send cycle and per web request; each compiled its templates again (~10 ms per
    template). The checksum of the source is part of the key, so an edited file or override compiles anew.
    Every renderer builds the same environment (BoundedSandbox, same options), so the code is the same too.
    """

    def __init__(self, size: int = 2000) -> None:
        self._codes: OrderedDict[tuple[str, str], CodeType] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: Bucket) -> None:
        with self._lock:
            code = self._codes.get((bucket.key, bucket.checksum))
        if code is not None:
            bucket.code = code

    def dump_bytecode(self, bucket: Bucket) -> None:
        if bucket.code is None:
            return
        with self._lock:
            self._codes[(bucket.key, bucket.checksum)] = bucket.code
            while len(self._codes) > self._size:
                self._codes.popitem(last=False)


_COMPILED = _CompiledCache()


class TemplateRenderer:
    """Renders ``templates/<language>/<name>.{subject,txt,html}.j2`` in a Jinja2 sandbox."""

    def __init__(self, root: Path, overrides: Overrides | None = None) -> None:
        self.root = Path(root)
        self._overrides = overrides
        self._envs: dict[str, ImmutableSandboxedEnvironment] = {}

    def languages(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))

    def environment(self, language: str) -> ImmutableSandboxedEnvironment:
        env = self._envs.get(language)
        if env is None:
            env = BoundedSandbox(
                loader=_PartLoader(self.root / language, language, self._overrides),
                undefined=StrictUndefined,
                autoescape=lambda name: name is not None and name.endswith(".html.j2"),
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
                cache_size=-1,  # a plain dict: one entry per part file, looked up 9 times per message
                auto_reload=True,
                bytecode_cache=_COMPILED,
            )
            env.filters["money"] = _money
            env.filters["date"] = _date
            env.filters["percent"] = _percent
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
        except (
            Exception
        ) as exc:  # any failure inside a template (undefined, sandbox, filter) is the template's
            where, line = _template_frame(exc.__traceback__, file_name)
            message = f"{type(exc).__name__}: {exc}"
            raise TemplateRenderError(where, language, line, message) from exc

    def render(self, name: str, language: str, context: dict[str, object]) -> RenderedMail:
        subject = self.render_part(name, "subject", language, context)
        text = self.render_part(name, "txt", language, context)
        html = self.render_part(name, "html", language, context)
        # A subject is one header line: newlines in it would be refused by the mail builder anyway.
        return RenderedMail(subject=" ".join(subject.split()), text=text, html=html)


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
