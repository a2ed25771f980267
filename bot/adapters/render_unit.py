"""A template's parts compiled as flattened units (render_flat), cached across renderers, rendered together.

The flattened code of a part is shared by every renderer of the process, keyed by the name and source of every
file flattened into it (an edited piece or override compiles anew), like ``render._CompiledCache`` does for
plain parts. Rendering builds one context per part over one shared mapping of the variables.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from types import CodeType
from typing import Any

import markupsafe
from jinja2 import Environment, Template, nodes
from jinja2.runtime import new_context

from bot.adapters.render_flat import Dependency, Refused, always, flatten

__all__ = ["FlatMail", "compile_flat"]


class FlatMail:
    """The parts of one template, each compiled as one unit, rendered in one pass over a shared context."""

    __slots__ = ("templates", "variables", "_checks", "_checked")

    def __init__(
        self,
        templates: Sequence[Template],
        checks: Sequence[Callable[[], bool]],
        variables: frozenset[str] | None = None,
    ) -> None:
        self.templates = tuple(templates)
        #: Every context variable the parts may read, or None when that cannot be told (an include left to
        #: Jinja, whose name or content is only known when rendering).
        self.variables = variables
        self._checks = tuple(checks)
        self._checked = time.monotonic()

    def fresh(self, recheck_seconds: float) -> bool:
        """False once a file it was compiled from changed (asked at most once per ``recheck_seconds``)."""
        now = time.monotonic()
        if now - self._checked < recheck_seconds:
            return True
        if all(check() for check in self._checks):
            self._checked = now
            return True
        return False

    def render(self, context: Mapping[str, Any]) -> list[str]:
        """Every part rendered with ``context``; Jinja's own exceptions propagate (no traceback rewriting)."""
        first = self.templates[0]
        # What Template.render does, once for all parts: the globals under the caller's variables. Contexts
        # only read ``parent`` (a template's assignments go to its own context's ``vars``).
        parent = {**first.globals, **context}
        return [
            "".join(t.root_render_func(new_context(t.environment, t.name, t.blocks, parent, True, t.globals)))
            for t in self.templates
        ]


def compile_flat(env: Environment, file_names: Sequence[str]) -> FlatMail:
    """The flattened, compiled ``file_names`` (a template's parts). Raises ``Refused`` or Jinja's errors."""
    templates: list[Template] = []
    checks: list[Callable[[], bool]] = []
    variables: set[str] | None = set()
    for file_name in file_names:
        code, deps, names = _flat_code(env, file_name)
        checks.extend(check for _, _, check in deps)
        variables = None if names is None or variables is None else variables | names
        template = Template.from_code(env, code, env.make_globals(None), None)
        if _escape_inner is not None:
            # The compiled code calls ``escape`` only on what an Output node writes (yielded, or buffered and
            # wrapped in Markup before any other use): the same text as a plain string spares a Markup per
            # expression. The module namespace is this template's own.
            template.root_render_func.__globals__["escape"] = _escape_output
        templates.append(template)
    return FlatMail(templates, checks, None if variables is None else frozenset(variables))


def _escape_output(value: Any) -> str:
    """``str(markupsafe.escape(value))`` without building the Markup."""
    if type(value) is str:
        return _escape_inner(value)  # type: ignore[misc]
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return _escape_inner(str(value))  # type: ignore[misc]


def _fast_escape() -> Callable[[str], str] | None:
    """markupsafe's C escaping function, if this markupsafe has it and it agrees with ``escape``."""
    inner = getattr(markupsafe, "_escape_inner", None)
    probe = "<a href=\"x\">&'é</a>"
    if not callable(inner) or inner(probe) != str(markupsafe.escape(probe)):
        return None
    return inner  # type: ignore[no-any-return]


_escape_inner = _fast_escape()


#: (name and source of every file flattened in, first the part's own), code, variables it reads (or None).
_Compiled = tuple[tuple[tuple[str, str], ...], CodeType, frozenset[str] | None]


class _CodeMemo:
    """Flattened code shared by every renderer of the process (like render._CompiledCache for plain parts).

    Keyed by the part's name, file and source; an entry also records the name and source of every file that
    was flattened into it, and is used only while each of them still reads the same.
    """

    def __init__(self, size: int = 1000) -> None:
        self._entries: OrderedDict[tuple[str, str, str], _Compiled] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> _Compiled | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: tuple[str, str, str], compiled: _Compiled) -> None:
        with self._lock:
            self._entries[key] = compiled
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


_CODE = _CodeMemo()


def _flat_code(env: Environment, file_name: str) -> tuple[CodeType, list[Dependency], frozenset[str] | None]:
    loader = env.loader
    if loader is None:
        raise Refused("no loader")
    source, filename, uptodate = loader.get_source(env, file_name)
    key = (file_name, filename or file_name, source)
    hit = _CODE.get(key)
    if hit is not None:
        sources, code, names = hit
        deps: list[Dependency] = [(file_name, source, uptodate or always)]
        for dep_name, dep_source in sources[1:]:
            now_source, _, dep_uptodate = loader.get_source(env, dep_name)
            if now_source != dep_source:
                break
            deps.append((dep_name, now_source, dep_uptodate or always))
        else:
            return code, deps, names
    tree, deps = flatten(env, file_name)
    names = _read_variables(tree)
    code = env._compile(env._generate(tree, file_name, filename), filename or file_name)
    _CODE.put(key, (tuple((name, text) for name, text, _ in deps), code, names))
    return code, deps, names


def _read_variables(tree: nodes.Template) -> frozenset[str] | None:
    """Every name ``tree`` reads (a superset of the context variables: locals too), or None if it still loads
    other templates when rendering."""
    if any(True for _ in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends))):
        return None
    return frozenset(name.name for name in tree.find_all(nodes.Name) if name.ctx == "load")
