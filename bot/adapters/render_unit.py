"""A template's parts compiled as flattened units (render_flat), cached across renderers, rendered together.

The flattened code of a part is shared by every renderer of the process, keyed by the name and source of every
file flattened into it (an edited piece or override compiles anew), like ``render_loader.CompiledCache`` does for
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
from jinja2.runtime import Context, new_context
from jinja2.utils import missing

from bot.adapters.render_flat import Dependency, Refused, always, flatten

__all__ = ["FlatMail", "compile_flat"]


class FlatMail:
    """The parts of one template, each compiled as one unit, rendered in one pass over a shared context."""

    __slots__ = ("templates", "variables", "_checks", "_checked", "_shapes")

    def __init__(
        self,
        templates: Sequence[Template],
        checks: Sequence[Callable[[], bool]],
        variables: frozenset[str] | None = None,
        *,
        traits: Sequence[PartTraits] = (),
    ) -> None:
        self.templates = tuple(templates)
        #: Every context variable the parts may read, or None when that cannot be told (an include left to
        #: Jinja, whose name or content is only known when rendering).
        self.variables = variables
        self._checks = tuple(checks)
        self._checked = time.monotonic()
        # Per part: what every render's context starts from (see _context_shape), or None for new_context.
        known = tuple(traits) or (UNKNOWN_TRAITS,) * len(self.templates)
        self._shapes = tuple(_context_shape(t, part) for t, part in zip(self.templates, known, strict=True))

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
        parent = _Parent(first.globals)
        parent.update(context)
        out: list[str] = []
        for t, shape in zip(self.templates, self._shapes, strict=True):
            if shape is None:
                ctx = new_context(t.environment, t.name, t.blocks, parent, True, t.globals)
            else:
                fixed, blocks, quiet = shape
                own_blocks: dict[str, list[Any]] = {}
                for block_name, block in blocks:  # a loop, not a comprehension: no frame of its own
                    own_blocks[block_name] = [block]
                ctx = _new(Context)
                ctx.__dict__ = {**fixed, "parent": parent, "vars": {}, "exported_vars": set(), "blocks": own_blocks}
                if quiet:
                    # Context.resolve_or_missing reads ``vars`` first; a part that never assigns one leaves it
                    # empty, so the look-up is the parent's alone, done in C (the compiled code calls it for
                    # every variable a scope reads).
                    ctx.__dict__["resolve_or_missing"] = parent.__getitem__
            out.append("".join(t.root_render_func(ctx)))
        return out


class _Parent(dict[str, Any]):
    """The render's variables; a missing name reads as Jinja's ``missing`` (what ``resolve_or_missing``
    answers), so that ``parent[name]`` is that look-up for a context whose ``vars`` stay empty."""

    __slots__ = ()

    def __missing__(self, key: str) -> Any:
        return missing


#: What compiling a part tells about its code: (it changes its EvalContext, it assigns context variables).
PartTraits = tuple[bool, bool]
#: For parts compiled elsewhere: assume both, i.e. contexts made by ``new_context`` as Jinja makes them.
UNKNOWN_TRAITS: PartTraits = (True, True)

#: Everything ``Context.__init__`` sets (Jinja 3.1); another set of attributes means another Jinja: the
#: contexts are then made by ``new_context`` as before.
_CONTEXT_ATTRIBUTES = frozenset(
    {"parent", "vars", "environment", "eval_ctx", "exported_vars", "name", "globals_keys", "blocks"}
)

_Shape = tuple[dict[str, Any], tuple[tuple[str, Any], ...], bool]
_new = object.__new__


def _context_shape(template: Template, traits: PartTraits) -> _Shape | None:
    """The attributes a part's render context always starts with, taken from one made by ``new_context``.

    Why: ``new_context`` cost more than rendering a subject line (an EvalContext asking the autoescape
    function, a set of the globals' names, the blocks' lists), for values that are the same on every render
    of the part. Each render still gets its own ``parent``, ``vars``, ``exported_vars`` and block lists
    (rendering may change them); the EvalContext (autoescaping on or off) is shared by every render of the
    part, as Jinja's ``Context.derived`` shares it, unless the part changes it (``{% autoescape %}``).
    """
    own_eval_context, assigns = traits
    if own_eval_context or template.environment.context_class is not Context:
        return None
    probe = new_context(template.environment, template.name, template.blocks, {}, True, template.globals)
    if type(probe) is not Context or set(vars(probe)) != _CONTEXT_ATTRIBUTES:
        return None
    fixed = {
        key: value for key, value in vars(probe).items() if key not in ("parent", "vars", "exported_vars", "blocks")
    }
    return fixed, tuple(template.blocks.items()), not assigns


def compile_flat(env: Environment, file_names: Sequence[str]) -> FlatMail:
    """The flattened, compiled ``file_names`` (a template's parts). Raises ``Refused`` or Jinja's errors."""
    templates: list[Template] = []
    checks: list[Callable[[], bool]] = []
    variables: set[str] | None = set()
    traits: list[PartTraits] = []
    for file_name in file_names:
        code, deps, names, part = _flat_code(env, file_name)
        checks.extend(check for _, _, check in deps)
        variables = None if names is None or variables is None else variables | names
        template = Template.from_code(env, code, env.make_globals(None), None)
        if _escape_inner is not None:
            # The compiled code calls ``escape`` only on what an Output node writes (yielded, or buffered and
            # wrapped in Markup before any other use): the same text as a plain string spares a Markup per
            # expression. The module namespace is this template's own.
            template.root_render_func.__globals__["escape"] = _escape_output
        templates.append(template)
        traits.append(part)
    return FlatMail(templates, checks, None if variables is None else frozenset(variables), traits=traits)


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
    probe = '<a href="x">&\'é</a>'
    if not callable(inner) or inner(probe) != str(markupsafe.escape(probe)):
        return None
    return inner  # type: ignore[no-any-return]


_escape_inner = _fast_escape()


#: (name and source of every file flattened in, first the part's own), code, variables it reads (or None),
#: its PartTraits.
_Compiled = tuple[tuple[tuple[str, str], ...], CodeType, frozenset[str] | None, "PartTraits"]


class _CodeMemo:
    """Flattened code shared by every renderer of the process (like render_loader.CompiledCache for plain parts).

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


def _flat_code(
    env: Environment, file_name: str
) -> tuple[CodeType, list[Dependency], frozenset[str] | None, PartTraits]:
    loader = env.loader
    if loader is None:
        raise Refused("no loader")
    source, filename, uptodate = loader.get_source(env, file_name)
    key = (file_name, filename or file_name, source)
    hit = _CODE.get(key)
    if hit is not None:
        sources, code, names, part = hit
        deps: list[Dependency] = [(file_name, source, uptodate or always)]
        for dep_name, dep_source in sources[1:]:
            now_source, _, dep_uptodate = loader.get_source(env, dep_name)
            if now_source != dep_source:
                break
            deps.append((dep_name, now_source, dep_uptodate or always))
        else:
            return code, deps, names, part
    tree, deps = flatten(env, file_name)
    names = _read_variables(tree)
    part = _traits(tree)
    code = env._compile(env._generate(tree, file_name, filename), filename or file_name)
    _CODE.put(key, (tuple((name, text) for name, text, _ in deps), code, names, part))
    return code, deps, names, part


#: Nodes whose code may write the context's ``vars`` (at the top level; anywhere, to be sure).
_ASSIGNING = (nodes.Assign, nodes.AssignBlock, nodes.Macro, nodes.Import, nodes.FromImport)


def _traits(tree: nodes.Template) -> PartTraits:
    # Includes left to Jinja render in contexts of their own: only this unit's code counts.
    changes_eval_context = any(True for _ in tree.find_all(nodes.EvalContextModifier))
    assigns = any(True for _ in tree.find_all(_ASSIGNING))
    return changes_eval_context, assigns


def _read_variables(tree: nodes.Template) -> frozenset[str] | None:
    """Every name ``tree`` reads (a superset of the context variables: locals too), or None if it still loads
    other templates when rendering."""
    if any(True for _ in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends))):
        return None
    return frozenset(name.name for name in tree.find_all(nodes.Name) if name.ctx == "load")
